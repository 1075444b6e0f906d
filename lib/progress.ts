/**
 * Progress of long stages: a stage reports `done` of `total` to the context's `Progress`, whose
 * default says nothing (a library user, a notebook or a test runs quietly); the command line
 * provides a bar on a terminal (`apps/cli/progress.ts`).
 *
 * @example Collecting a stage's progress
 * ```ts
 * import { Effect } from "effect";
 * import { Progress, reportProgress } from "./progress.ts";
 *
 * const seen: Array<string> = [];
 * const stage = Effect.forEach([1, 2], (done) => reportProgress("my stage", done, 2));
 * Effect.runSync(
 *   stage.pipe(Effect.provideService(Progress, {
 *     report: (name, done, total) => seen.push(`${name} ${done}/${total}`),
 *   })),
 * );
 * if (seen.join() !== "my stage 1/2,my stage 2/2") throw new Error("reports were not received");
 * ```
 *
 * @module
 */
import { Context, Effect, Layer } from "effect";

/** Reports `done` of `total` for a named stage. */
export type ProgressReporter = (stage: string, done: number, total: number) => void;

/** What a `Progress` does with a stage's report. */
export interface ProgressShape {
  /** Called with a stage's name, how much of it is done and its total. */
  readonly report: ProgressReporter;
}

/** A reporter that says nothing: `Progress`'s default. */
export const quietProgress: ProgressReporter = () => {};

/** Where long stages report, a `Context.Reference` (quiet by default: no requirement grows). */
export const Progress: Context.Reference<ProgressShape> = Context.Reference<ProgressShape>(
  "grood/Progress",
  { defaultValue: () => ({ report: quietProgress }) },
);

/** A layer providing `Progress` with `report`. */
export const progressLayer = (report: ProgressReporter): Layer.Layer<never> =>
  Layer.succeed(Progress, { report });

/** Report `done` of `total` for `stage` to the context's `Progress`. */
export const reportProgress = (stage: string, done: number, total: number): Effect.Effect<void> =>
  Progress.useSync((progress) => progress.report(stage, done, total));

/** The context's reporter, to hand to code that reports outside an Effect (a batch callback). */
export const currentProgress: Effect.Effect<ProgressReporter> = Progress.useSync(
  (progress) => progress.report,
);
