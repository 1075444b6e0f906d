/**
 * Hyper-parameter choice on validation data only: for each grid value, build the detector's
 * scorer for that value, score the validation ID set and every validation-OOD set, and take the
 * mean AUROC over the OOD sets (each against validation ID). The value with the highest mean
 * wins; ties go to the first grid value (so listing the paper default first makes it win ties).
 *
 * Only {@link ValidationData} enters here, so a tuned value can never depend on test OOD data.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { auroc, type ScoreError } from "../stages/evaluate.ts";
import type { ExtractedSet, TunedParameter, ValidationData } from "./detector.ts";

/** The scorer for one grid value (and what to free when it is done). */
export interface TuningCandidate<E> {
  readonly score: (set: ExtractedSet) => Effect.Effect<Float32Array, E>;
  readonly dispose?: () => void;
}

/** What {@link tuneParameter} needs. */
export interface TuneOptions<E> {
  /** Detector name, for errors and progress. */
  readonly detector: string;
  /** Parameter name, as reported. */
  readonly parameter: string;
  readonly grid: ReadonlyArray<number>;
  readonly validation: ValidationData;
  /** Fit (if anything depends on the value) and return the scorer for one grid value. */
  readonly candidate: (value: number) => Effect.Effect<TuningCandidate<E>, E>;
  readonly progress?: (stage: string, done: number, total: number) => void;
}

/** The grid is empty or holds a non-finite value. */
export class InvalidGrid extends Data.TaggedError("InvalidGrid")<{
  readonly detector: string;
  readonly parameter: string;
  readonly grid: ReadonlyArray<number>;
}> {
  override get message(): string {
    return `Cannot tune ${this.parameter} of ${this.detector}: the grid [${
      this.grid.join(", ")
    }] must hold at least one finite value`;
  }
}

/** There is no validation-OOD set to tune on. */
export class NoValidationOod extends Data.TaggedError("NoValidationOod")<{
  readonly detector: string;
  readonly parameter: string;
  readonly validationId: string;
}> {
  override get message(): string {
    return `Cannot tune ${this.parameter} of ${this.detector}: no validation-OOD set was given (validation ID is "${this.validationId}")`;
  }
}

/** Errors of {@link tuneParameter} besides the candidate's own. */
export type TuneError = InvalidGrid | NoValidationOod | ScoreError;

/**
 * Mean validation AUROC (OOD sets vs validation ID) of one scorer.
 */
export const meanValidationAuroc = <E>(
  score: (set: ExtractedSet) => Effect.Effect<Float32Array, E>,
  validation: ValidationData,
): Effect.Effect<number, E | ScoreError> =>
  Effect.gen(function* () {
    const idScores = yield* score(validation.id);
    let sum = 0;
    for (const ood of validation.ood) {
      const oodScores = yield* score(ood);
      sum += yield* auroc(idScores, oodScores, {
        id: validation.id.features.name,
        ood: ood.features.name,
      });
    }
    return sum / validation.ood.length;
  });

/**
 * Choose `parameter` from `grid` by mean validation AUROC (max; ties → first grid value).
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { tuneParameter } from "./tune.ts";
 * import { matrix } from "../matrix.ts";
 * const set = (name: string, count: number) => ({
 *   images: { name, count, pixels: new Uint8Array(count * 784) },
 *   features: { name, count, penultimate: matrix(count, 0), logits: matrix(count, 0) },
 * });
 * const validation = { id: set("val-id", 2), ood: [set("val-ood", 2)] };
 * // Value 1 puts OOD above ID, value 0 ties everything.
 * const tuned = Effect.runSync(tuneParameter({
 *   detector: "toy", parameter: "v", grid: [0, 1], validation,
 *   candidate: (v) => Effect.succeed({
 *     score: (s) => Effect.succeed(new Float32Array(s.features.count).fill(s === validation.id ? 0 : v)),
 *   }),
 * }));
 * if (tuned.chosen !== 1) throw new Error("should pick 1");
 * ```
 */
export const tuneParameter = <E>(
  options: TuneOptions<E>,
): Effect.Effect<TunedParameter, E | TuneError> =>
  Effect.gen(function* () {
    const { detector, parameter, grid, validation } = options;
    if (grid.length === 0 || grid.some((value) => !Number.isFinite(value))) {
      return yield* new InvalidGrid({ detector, parameter, grid });
    }
    if (validation.ood.length === 0) {
      return yield* new NoValidationOod({
        detector,
        parameter,
        validationId: validation.id.features.name,
      });
    }
    const validationAuroc: Array<number> = [];
    let best = 0;
    for (const [i, value] of grid.entries()) {
      const mean = yield* Effect.acquireUseRelease(
        options.candidate(value),
        (candidate) => meanValidationAuroc(candidate.score, validation),
        (candidate) => Effect.sync(() => candidate.dispose?.()),
      );
      validationAuroc.push(mean);
      // Strictly greater: a tie keeps the earlier grid value.
      if (mean > validationAuroc[best]!) best = i;
      options.progress?.(`${detector}: tuning ${parameter}`, i + 1, grid.length);
      yield* Effect.yieldNow;
    }
    const tuned: TunedParameter = {
      name: parameter,
      grid: [...grid],
      chosen: grid[best]!,
      validationAuroc,
    };
    return tuned;
  });
