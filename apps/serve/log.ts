/**
 * The service's one log format, through Effect's `Logger` on stderr: JSON lines (one object per
 * line, no ANSI colours) when stderr is not a terminal, Effect's pretty format in a terminal.
 * Start-up and shutdown messages, the access log (one line per request, `accessLog`) and
 * failures all go through it.
 *
 * The JSON lines are written together (`LineBuffer`): one write to stderr per turn of the event
 * loop instead of one a line. At 64 connections a batch answers ~20 requests in one turn, and a
 * `console.error` per access line (a `write` system call each) was a measured part of a request's
 * CPU (`docs/serve.md`). Nothing is lost: the lines are written, in order, before the next turn,
 * when they pass 64 KiB, when the service has drained (`flushServiceLog`) and when the process
 * exits (Deno's `unload` event, which `Deno.exit` dispatches too).
 *
 * @module
 */
import { Effect, type Layer, Logger, LogLevel as EffectLogLevel, References } from "effect";
import { groodLogger } from "../../mod.ts";

/** Lines waiting beyond this many characters are written at once. */
const FLUSH_CHARACTERS = 64 * 1024;

const encoder = new TextEncoder();

/**
 * Text lines for one output, written together: each `add` is kept until the end of the current
 * turn of the event loop (a 0 ms timer that does not keep the process alive), then all are
 * written as one block, each ending with a newline.
 */
export class LineBuffer {
  private pending: Array<string> = [];
  private characters = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  /** `write` is called with whole blocks of lines; it may throw (a closed output: dropped). */
  constructor(private readonly write: (bytes: Uint8Array) => void) {}

  /** Keep `line` (without its newline) for the next write. */
  add(line: string): void {
    this.pending.push(line);
    this.characters += line.length + 1;
    if (this.characters >= FLUSH_CHARACTERS) return this.flush();
    if (this.timer === undefined) {
      const timer = setTimeout(() => this.flush(), 0);
      Deno.unrefTimer(timer);
      this.timer = timer;
    }
  }

  /** Write every line kept, now. */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const text = this.pending.join("\n") + "\n";
    this.pending = [];
    this.characters = 0;
    try {
      this.write(encoder.encode(text));
    } catch {
      // a closed stderr: nobody reads the log any more
    }
  }
}

/** Every byte of `bytes` to stderr (a pipe may take a large block in several writes). */
function writeStderr(bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length;) at += Deno.stderr.writeSync(bytes.subarray(at));
}

let stderrLines: LineBuffer | undefined;

/** The process's one buffer of JSON log lines for stderr, flushed when the process exits. */
function stderrBuffer(): LineBuffer {
  if (stderrLines === undefined) {
    const buffer = new LineBuffer(writeStderr);
    globalThis.addEventListener("unload", () => buffer.flush());
    stderrLines = buffer;
  }
  return stderrLines;
}

/** Write the service's JSON log lines still kept (the drain's end calls it). */
export function flushServiceLog(): void {
  stderrLines?.flush();
}

/** The service's JSON logger (one for the process, so `logLine` knows it when it is the only one). */
let jsonLogger: Logger.Logger<unknown, void> | undefined;

/**
 * The logger layer of the service: the library's one format (`groodLogger`), JSON when `json`
 * (default: stderr is not a terminal), else pretty; both on stderr. The JSON lines are Effect's
 * `Logger.formatJson`, as `groodLogger(true)` writes them, through the process's `LineBuffer`.
 */
export function serviceLogger(json: boolean = !Deno.stderr.isTerminal()): Layer.Layer<never> {
  if (!json) return groodLogger(false);
  if (jsonLogger === undefined) {
    const buffer = stderrBuffer();
    jsonLogger = Logger.map(Logger.formatJson, (line) => buffer.add(line));
  }
  return Logger.layer([jsonLogger]);
}

/** A log line's level. */
export type LogLevel = "Info" | "Warn" | "Error";

/** Log synchronously from outside a fiber, through the loggers of the context it was made in. */
export type LogLine = (
  level: LogLevel,
  message: string,
  fields?: Readonly<Record<string, unknown>>,
) => void;

/** Effect's level names in its JSON lines. */
const LEVEL_NAMES: Readonly<Record<LogLevel, string>> = {
  Info: "INFO",
  Warn: "WARN",
  Error: "ERROR",
};

/** Values a JSON line holds as they are (what Effect's `formatJson` writes unchanged). */
const plain = (fields: Readonly<Record<string, unknown>>): boolean => {
  for (const key in fields) {
    const value = fields[key];
    const kind = typeof value;
    if (value !== null && kind !== "string" && kind !== "number" && kind !== "boolean") {
      return false;
    }
  }
  return true;
};

/**
 * A `LogLine` on the current context's loggers (capture it once, call it anywhere); where the
 * context has only Effect's default logger, on `serviceLogger()`.
 *
 * Each call runs `Effect.log*` with the fields as annotations. Where the service's JSON logger is
 * the only logger (as `grood serve` runs), a line of plain fields (strings, numbers, booleans,
 * null) is written directly: the line Effect's `formatJson` writes (`tests/serve_log_test.ts`
 * compares them), its `fiberId` the fiber that captured the `LogLine`, without running an Effect
 * per line, which was a measured part of a request's CPU at 64 connections.
 */
export const logLine: Effect.Effect<LogLine> = Effect.gen(function* () {
  const loggers = yield* Logger.CurrentLoggers;
  const onlyDefault = loggers.has(Logger.defaultLogger) &&
    [...loggers].every((l) => l === Logger.defaultLogger || l === Logger.tracerLogger);
  const context = onlyDefault
    ? yield* Effect.provide(Effect.context<never>(), serviceLogger())
    : yield* Effect.context<never>();
  const run = Effect.runSyncWith(context);
  const viaEffect: LogLine = (level, message, fields = {}) => {
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
  const direct = run(Effect.withFiber((fiber) => {
    const only = fiber.getRef(Logger.CurrentLoggers);
    const annotations = fiber.getRef(References.CurrentLogAnnotations);
    const minimum = fiber.getRef(References.MinimumLogLevel);
    return Effect.succeed(
      jsonLogger !== undefined && only.size === 1 && only.has(jsonLogger) &&
        fiber.getRef(References.CurrentLogSpans).length === 0 && plain(annotations) &&
        !EffectLogLevel.isGreaterThan(minimum, "Info")
        ? { fiberId: `#${fiber.id}`, annotations }
        : undefined,
    );
  }));
  if (direct === undefined) return viaEffect;
  const buffer = stderrBuffer();
  const line: LogLine = (level, message, fields = {}) => {
    if (!plain(fields)) return viaEffect(level, message, fields);
    buffer.add(JSON.stringify({
      message,
      level: LEVEL_NAMES[level],
      timestamp: new Date().toISOString(),
      annotations: { ...direct.annotations, ...fields },
      spans: {},
      fiberId: direct.fiberId,
    }));
  };
  return line;
});
