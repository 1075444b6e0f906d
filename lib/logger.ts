/**
 * grood's one log format, through Effect's `Logger` on stderr: pretty on a terminal, JSON lines
 * otherwise (for CI logs and collectors). The library logs through `Effect.log*` only; a program
 * provides this layer (the command line does) or keeps Effect's default logger.
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

/** The logger layer on stderr (stdout stays the output): JSON lines when `json`, else pretty. */
export function groodLogger(json: boolean = !Deno.stderr.isTerminal()): Layer.Layer<never> {
  return json ? Logger.layer([Logger.withConsoleError(Logger.formatJson)]) : Layer.merge(
    Logger.layer([Logger.consolePretty()]),
    Layer.succeed(Logger.LogToStderr, true),
  );
}

/** Logs `line` at Info through the loggers of the context it was made in. */
export type LogLine = (line: string) => void;

/** The context's loggers as a plain function, for code outside an Effect (a batch callback). */
export const lineLogger: Effect.Effect<LogLine> = Effect.map(
  Effect.context<never>(),
  (context) => {
    const run = Effect.runSyncWith(context);
    return (line: string) => run(Effect.logInfo(line));
  },
);
