/**
 * grood's one log format, through Effect's `Logger` on stderr: Effect's pretty format when stderr
 * is a terminal, JSON lines otherwise (one object per line, no ANSI colours: a CI log or a log
 * collector parses them). The library logs through `Effect.log*` only; a program chooses the
 * format by providing this layer (the command line does), or keeps Effect's default logger.
 *
 * @example A JSON log line
 * ```ts
 * import { Effect } from "effect";
 * import { groodLogger } from "./logger.ts";
 *
 * // {"message":["features mnist-test: 10000 images from cache (0.1s)"],"logLevel":"INFO",…}
 * Effect.runSync(
 *   Effect.logInfo("features mnist-test: 10000 images from cache (0.1s)").pipe(
 *     Effect.provide(groodLogger(true)),
 *   ),
 * );
 * ```
 *
 * @module
 */
import { Effect, Layer, Logger } from "effect";

/**
 * The logger layer: JSON lines when `json` (default: stderr is not a terminal), else Effect's
 * pretty format; both on stderr, so a command's stdout stays its output.
 */
export function groodLogger(json: boolean = !Deno.stderr.isTerminal()): Layer.Layer<never> {
  return json ? Logger.layer([Logger.withConsoleError(Logger.formatJson)]) : Layer.merge(
    Logger.layer([Logger.consolePretty()]),
    Layer.succeed(Logger.LogToStderr, true),
  );
}

/** Logs `line` at Info through the loggers of the context it was made in. */
export type LogLine = (line: string) => void;

/**
 * The current context's loggers as a plain function, for code that logs from outside an Effect
 * (a promise's body, a per-batch callback): each call is an `Effect.logInfo` run there.
 */
export const lineLogger: Effect.Effect<LogLine> = Effect.map(
  Effect.context<never>(),
  (context) => {
    const run = Effect.runSyncWith(context);
    return (line: string) => run(Effect.logInfo(line));
  },
);
