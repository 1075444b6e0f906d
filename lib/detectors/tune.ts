/**
 * Hyper-parameter choice on validation data only (so never on test OOD): each grid value's scorer
 * is scored on validation ID and every validation-OOD set, and the highest mean AUROC wins, first
 * grid value on ties. A value whose scores tie across ID and OOD on more than `TIE_REPORT_LIMIT`
 * (1%) is passed over while another stays within it: AUROC counts tied pairs as ½, so a tie block
 * (underflow, lost resolution) could lift a value without any ranking behind it.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { currentProgress } from "../progress.ts";
import { evaluateOodWithTies, type ScoreError, TIE_REPORT_LIMIT } from "../stages/evaluate.ts";
import type { ExtractedSet, TunedParameter, ValidationData } from "./detector.ts";

/** The scorer for one grid value (and what to free when it is done). */
export interface TuningCandidate<E> {
  readonly score: (set: ExtractedSet) => Effect.Effect<Float64Array, E>;
  readonly dispose?: () => void;
}

/** What {@link tuneParameter} needs: names for errors and progress, grid and validation data. */
export interface TuneOptions<E> {
  readonly detector: string;
  readonly parameter: string;
  readonly grid: ReadonlyArray<number>;
  readonly validation: ValidationData;
  /** Fit (if anything depends on the value) and return the scorer for one grid value. */
  readonly candidate: (value: number) => Effect.Effect<TuningCandidate<E>, E>;
}

/** The grid is empty or holds a non-finite value. */
export class InvalidGrid extends Data.TaggedError("InvalidGrid")<{
  readonly detector: string;
  readonly parameter: string;
  readonly grid: ReadonlyArray<number>;
}> {
  /** Names the parameter, the detector and the grid. */
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
  /** Names the parameter, the detector and the validation ID set. */
  override get message(): string {
    return `Cannot tune ${this.parameter} of ${this.detector}: no validation-OOD set was given (validation ID is "${this.validationId}")`;
  }
}

/** Errors of {@link tuneParameter} besides the candidate's own. */
export type TuneError = InvalidGrid | NoValidationOod | ScoreError;

/** Mean validation AUROC and mean share of scores tied across ID and OOD of one scorer. */
const validationSummary = <E>(
  score: (set: ExtractedSet) => Effect.Effect<Float64Array, E>,
  validation: ValidationData,
): Effect.Effect<{ readonly auroc: number; readonly tiedAcross: number }, E | ScoreError> =>
  Effect.gen(function* () {
    const idScores = yield* score(validation.id);
    let aurocSum = 0;
    let tiedSum = 0;
    for (const ood of validation.ood) {
      const pair = {
        id: idScores,
        ood: yield* score(ood),
        names: { id: validation.id.features.name, ood: ood.features.name },
      };
      const evaluated = yield* evaluateOodWithTies(pair);
      aurocSum += evaluated.auroc;
      tiedSum += evaluated.tiedAcross;
    }
    const sets = validation.ood.length;
    return { auroc: aurocSum / sets, tiedAcross: tiedSum / sets };
  });

/**
 * The grid index to choose: the highest AUROC among the values within the tie limit (all when
 * none is), fewer ties breaking equal AUROCs, then grid order.
 *
 * @example
 * ```ts
 * import { chooseByValidation } from "./tune.ts";
 * // The second value's higher AUROC comes with 30% tied scores: the first is chosen.
 * if (chooseByValidation([0.8, 0.9], [0, 0.3]) !== 0) throw new Error("chose the tie block");
 * if (chooseByValidation([0.8, 0.8], [0.005, 0]) !== 1) throw new Error("more ties won");
 * ```
 */
export function chooseByValidation(
  aurocs: ReadonlyArray<number>,
  tiedAcross: ReadonlyArray<number>,
): number {
  const within = aurocs.map((_, i) => tiedAcross[i]! <= TIE_REPORT_LIMIT);
  const eligible = within.some((ok) => ok) ? within : within.map(() => true);
  let best = -1;
  for (let i = 0; i < aurocs.length; i++) {
    if (!eligible[i]) continue;
    if (
      best < 0 || aurocs[i]! > aurocs[best]! ||
      (aurocs[i] === aurocs[best] && tiedAcross[i]! < tiedAcross[best]!)
    ) best = i;
  }
  return best;
}

/**
 * Choose `parameter` from `grid` on validation data (see the module doc), reporting each grid
 * value done to the context's `Progress`.
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
 *     score: (s) => Effect.succeed(new Float64Array(s.features.count).fill(s === validation.id ? 0 : v)),
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
    const report = yield* currentProgress;
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
    const validationTiedAcross: Array<number> = [];
    for (const [i, value] of grid.entries()) {
      const summary = yield* Effect.acquireUseRelease(
        options.candidate(value),
        (candidate) => validationSummary(candidate.score, validation),
        (candidate) => Effect.sync(() => candidate.dispose?.()),
      );
      validationAuroc.push(summary.auroc);
      validationTiedAcross.push(summary.tiedAcross);
      report(`${detector}: tuning ${parameter}`, i + 1, grid.length);
      yield* Effect.yieldNow;
    }
    return {
      name: parameter,
      grid: [...grid],
      chosen: grid[chooseByValidation(validationAuroc, validationTiedAcross)]!,
      validationAuroc,
      validationTiedAcross,
    } satisfies TunedParameter;
  });

/** `fixed` when given (nothing tuned), else the value {@link tuneParameter} chooses. */
export const tuneUnlessFixed = <E>(
  fixed: number | undefined,
  options: TuneOptions<E>,
): Effect.Effect<
  { readonly chosen: number; readonly tuned: ReadonlyArray<TunedParameter> },
  E | TuneError
> =>
  fixed !== undefined
    ? Effect.succeed({ chosen: fixed, tuned: [] })
    : Effect.map(tuneParameter(options), (tuned) => ({ chosen: tuned.chosen, tuned: [tuned] }));
