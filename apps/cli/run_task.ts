/**
 * What every task shares once its command line is decoded: `runTask` runs its Effect program
 * with the compute layer and grood's logger (stderr: pretty on a terminal, JSON lines when
 * piped) and prints a failure as one readable line (its tagged error's message,
 * no stack trace), exit code 1; `invocationPath` resolves a path the user typed from where it was
 * typed; `formatSeconds` formats a duration.
 *
 * @module
 */
import { resolve } from "node:path";
import { Cause, Effect, Exit, type Layer } from "effect";
import { type BackendName, Compute, groodLogger, Models, parseBackend } from "../../mod.ts";
import { type IoError, type OutputFolderRefused, prepareOutputFile } from "../../lib/io/mod.ts";

/**
 * Run a task's program; on failure print the error's message and exit with code 1. Its log
 * lines (`Effect.log*`, the library's too) go to stderr through `groodLogger`, so stdout holds
 * only what the task prints as its output.
 */
export async function runTask<A, E>(
  program: Effect.Effect<A, E, Compute>,
  backend?: string,
  options: {
    /** The task's loggers (instead of `groodLogger`); a failure is logged through them too. */
    readonly logger?: Layer.Layer<never>;
    /** onnxruntime threads per model session (`--threads`; default: `Models.OnnxThreads`). */
    readonly threads?: number;
  } = {},
): Promise<A> {
  const parsed = parseBackend(backend);
  const layer: Layer.Layer<Compute, unknown> = Compute.layer(
    parsed === undefined ? (backend as BackendName) : parsed,
  );
  const threaded = options.threads === undefined
    ? program
    : Effect.provideService(program, Models.OnnxThreads, options.threads);
  const provided = Effect.provide(threaded, layer);
  const exit = await Effect.runPromiseExit(
    Effect.provide(provided, options.logger ?? groodLogger()),
  );
  if (Exit.isSuccess(exit)) return exit.value;
  const text = failureText(exit.cause);
  if (options.logger !== undefined) {
    await Effect.runPromise(Effect.logError(`error: ${text}`).pipe(Effect.provide(options.logger)));
  } else console.error(`error: ${text}`);
  Deno.exit(1);
}

/**
 * `program` with its failure printed as `runTask` prints one (`error: <message>` on stderr, no
 * stack trace), for the tasks that run under `runMain` (for its signal handling) with
 * `{ disableErrorReporting: true }`: runMain's own report is a log line with the error's stack,
 * on standard output, where `grood cluster score` writes its rows. An interruption (SIGTERM,
 * Ctrl-C) prints nothing; a defect prints its cause.
 */
export const reportFailure = <A, E, R>(program: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.tapCause(program, (cause) =>
    Effect.sync(() => {
      if (!Cause.hasFails(cause) && !Cause.hasDies(cause)) return;
      console.error(`error: ${failureText(cause)}`);
    }));

/** A failure as one line: its error's message (a tagged error names what failed), or the cause. */
const failureText = (cause: Cause.Cause<unknown>): string => {
  const error = cause.reasons.find(Cause.isFailReason)?.error;
  return error instanceof Error ? error.message : Cause.pretty(cause);
};

/** Format seconds as `1m 23s` / `4.2s`. */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  return `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`;
}

/**
 * A path the user typed, made absolute. `deno task` runs tasks in the checkout's folder and
 * records where it was typed in `INIT_CWD`; relative paths are taken from there.
 */
export function invocationPath(path: string): string {
  return resolve(Deno.env.get("INIT_CWD") ?? Deno.cwd(), path);
}

/**
 * The results file of a measurement task (`engines`, `bench`, `bench serve`, `bench cluster`),
 * checked by `prepareOutputFile` before anything runs (the folders missing on the way made as
 * folders of outputs): a path the user gave (`given`) is taken from where it was typed, and an
 * existing file there is replaced only with `--overwrite` (grood cannot tell its own earlier
 * results from a user's file of that name); the default, the checkout's own file (`fallback`,
 * relative to the checkout), is replaced by every run.
 */
export const resultsFile = (
  given: string | undefined,
  fallback: string,
  options: { readonly overwrite: boolean; readonly inputs?: ReadonlyArray<string> },
): Effect.Effect<string, OutputFolderRefused | IoError> => {
  const path = given === undefined ? resolve(fallback) : invocationPath(given);
  return Effect.as(
    prepareOutputFile(path, {
      inputs: options.inputs ?? [],
      overwrite: options.overwrite || given === undefined,
    }),
    path,
  );
};
