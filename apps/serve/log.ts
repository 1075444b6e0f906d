/**
 * The service's one log format, through Effect's `Logger` on stderr: JSON lines (one object per
 * line, no ANSI colours) when stderr is not a terminal, Effect's pretty format in a terminal.
 * Start-up and shutdown messages, the access log (one line per request, `accessLog`) and
 * failures all go through it.
 *
 * @module
 */
import { Effect, type Layer, Logger } from "effect";
import { groodLogger } from "../../mod.ts";

/**
 * The logger layer of the service: the library's one format (`groodLogger`), JSON when `json`
 * (default: stderr is not a terminal), else pretty; both on stderr.
 */
export function serviceLogger(json: boolean = !Deno.stderr.isTerminal()): Layer.Layer<never> {
  return groodLogger(json);
}

/** A log line's level. */
export type LogLevel = "Info" | "Warn" | "Error";

/** Log synchronously from outside a fiber, through the loggers of the context it was made in. */
export type LogLine = (
  level: LogLevel,
  message: string,
  fields?: Readonly<Record<string, unknown>>,
) => void;

/**
 * A `LogLine` on the current context's loggers (capture it once, call it anywhere); where the
 * context has only Effect's default logger, on `serviceLogger()`.
 */
export const logLine: Effect.Effect<LogLine> = Effect.gen(function* () {
  const loggers = yield* Logger.CurrentLoggers;
  const onlyDefault = loggers.has(Logger.defaultLogger) &&
    [...loggers].every((l) => l === Logger.defaultLogger || l === Logger.tracerLogger);
  return onlyDefault
    ? yield* Effect.provide(Effect.context<never>(), serviceLogger())
    : yield* Effect.context<never>();
}).pipe(Effect.map((context) => {
  const run = Effect.runSyncWith(context);
  return (level, message, fields = {}) => {
    const log = level === "Error"
      ? Effect.logError(message)
      : level === "Warn"
      ? Effect.logWarning(message)
      : Effect.logInfo(message);
    try {
      run(Effect.annotateLogs(log, fields));
    } catch {
      // a closed stderr: nobody reads the log any more
    }
  };
}));
