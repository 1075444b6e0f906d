/**
 * OOD detection metrics: AUROC (ties count ½), AUPR-Out and AUPR-In (scikit-learn's step-wise
 * average precision over the distinct thresholds, OOD resp. ID positive), and FPR@95 in both
 * conventions, `fpr95IdKept` and `fpr95OpenOod` (OpenOOD v1.5): definitions and tie rules in
 * [docs/method.md](../../docs/method.md#metrics-and-the-two-fpr95-conventions). Scores are higher
 * for "more OOD"; a NaN or infinite score fails with {@link NonFiniteScore} rather than sorting
 * somewhere.
 *
 * @module
 */
import { Data, Effect } from "effect";
import {
  aurocSorted,
  averagePrecisionSorted,
  count95,
  fpr95IdKeptSorted,
  fpr95OpenOodSorted,
  metricsSorted,
  negatedAscending,
} from "./sorted_metrics.ts";

/** The OOD metrics reported per (ID set, OOD set) pair; all in [0, 1]. */
export interface OodMetrics {
  /** Area under the ROC curve, OOD as the positive class (tied scores count ½). */
  readonly auroc: number;
  /** Average precision (AUPR) with ID as the positive class, on the negated scores. */
  readonly auprIn: number;
  /** Average precision (AUPR) with OOD as the positive class. */
  readonly auprOut: number;
  /** Share of OOD accepted when 95% of ID is kept (see the module doc). */
  readonly fpr95IdKept: number;
  /** Share of ID flagged when 95% of OOD is caught, as OpenOOD v1.5 (see the module doc). */
  readonly fpr95OpenOod: number;
}

/** The names of the {@link OodMetrics}, in the order the tables show them. */
export const OOD_METRICS = [
  "auroc",
  "auprIn",
  "auprOut",
  "fpr95IdKept",
  "fpr95OpenOod",
] as const satisfies ReadonlyArray<keyof OodMetrics>;

/** A score is NaN or infinite: names the set and the index of the first bad value. */
export class NonFiniteScore extends Data.TaggedError("NonFiniteScore")<{
  readonly set: string;
  readonly index: number;
  readonly value: number;
}> {
  /** The set, the index and the bad value, in one sentence. */
  override get message(): string {
    return `Cannot evaluate scores of "${this.set}": score at index ${this.index} is ${this.value} (scores must be finite)`;
  }
}

/** A score set has no values, so no metric is defined. */
export class EmptyScores extends Data.TaggedError("EmptyScores")<{ readonly set: string }> {
  /** Names the empty set. */
  override get message(): string {
    return `Cannot evaluate scores of "${this.set}": the set is empty`;
  }
}

/** Predictions and labels have different lengths. */
export class LengthMismatch extends Data.TaggedError("LengthMismatch")<{
  readonly predictions: number;
  readonly labels: number;
}> {
  /** Both lengths, in one sentence. */
  override get message(): string {
    return `Cannot compute accuracy: ${this.predictions} predictions but ${this.labels} labels`;
  }
}

/** Errors any score metric can fail with. */
export type ScoreError = NonFiniteScore | EmptyScores;

/** Names for the two score sets, used in error messages. */
export interface SetNames {
  /** Name of the ID set (default `"id"`). */
  readonly id: string;
  /** Name of the OOD set (default `"ood"`). */
  readonly ood: string;
}

/** One ID/OOD pair of score sets, optionally named for errors. */
export interface ScoreSets {
  /** The ID scores. */
  readonly id: ArrayLike<number>;
  /** The OOD scores. */
  readonly ood: ArrayLike<number>;
  /** Their names in errors (default `id`, `ood`). */
  readonly names?: SetNames;
}

const DEFAULT_NAMES: SetNames = { id: "id", ood: "ood" };

/** Check scores (finite, non-empty) and return them sorted ascending as float64. */
const sortedScores = (
  scores: ArrayLike<number>,
  set: string,
): Effect.Effect<Float64Array, ScoreError> =>
  Effect.suspend((): Effect.Effect<Float64Array, ScoreError> => {
    if (scores.length === 0) return Effect.fail(new EmptyScores({ set }));
    const out = new Float64Array(scores.length);
    for (let i = 0; i < scores.length; i++) {
      const value = scores[i]!;
      if (!Number.isFinite(value)) return Effect.fail(new NonFiniteScore({ set, index: i, value }));
      out[i] = value;
    }
    return Effect.succeed(out.sort());
  });

const bothSorted = ({ id, ood, names = DEFAULT_NAMES }: ScoreSets) =>
  Effect.all([sortedScores(id, names.id), sortedScores(ood, names.ood)]);

/**
 * The threshold t* of `fpr95IdKept`: the smallest score with #(ID ≤ t*) ≥ 95% of the ID set
 * (scores above it are called OOD).
 *
 * @example
 * ```ts
 * import { idKeptThreshold } from "./evaluate.ts";
 * import { Effect } from "effect";
 * const id = Array.from({ length: 20 }, (_, i) => i); // 19 of 20 are ≤ 18
 * if (Effect.runSync(idKeptThreshold(id)) !== 18) throw new Error("wrong threshold");
 * ```
 */
export const idKeptThreshold = (
  id: ArrayLike<number>,
  set = "id",
): Effect.Effect<number, ScoreError> =>
  Effect.map(sortedScores(id, set), (sorted) => sorted[count95(sorted.length) - 1]!);

/**
 * AUROC with OOD as positive (ties count ½). 1 = every OOD scores above every ID.
 *
 * @example
 * ```ts
 * import { auroc } from "./evaluate.ts";
 * import { Effect } from "effect";
 * // OOD 0.5 beats ID 0.1 and ties ID 0.5: (1 + 0.5) / 2 = 0.75.
 * if (Effect.runSync(auroc([0.1, 0.5], [0.5])) !== 0.75) throw new Error("wrong AUROC");
 * ```
 */
export const auroc = (
  id: ArrayLike<number>,
  ood: ArrayLike<number>,
  names: SetNames = DEFAULT_NAMES,
): Effect.Effect<number, ScoreError> =>
  Effect.map(bothSorted({ id, ood, names }), ([i, o]) => aurocSorted(i, o));

/** Average precision with OOD as the positive class (higher score = OOD). */
export const auprOut = (
  id: ArrayLike<number>,
  ood: ArrayLike<number>,
  names: SetNames = DEFAULT_NAMES,
): Effect.Effect<number, ScoreError> =>
  Effect.map(bothSorted({ id, ood, names }), ([i, o]) => averagePrecisionSorted(o, i));

/** Average precision with ID as the positive class, ranking by −score. */
export const auprIn = (
  id: ArrayLike<number>,
  ood: ArrayLike<number>,
  names: SetNames = DEFAULT_NAMES,
): Effect.Effect<number, ScoreError> =>
  Effect.map(
    bothSorted({ id, ood, names }),
    ([i, o]) => averagePrecisionSorted(negatedAscending(i), negatedAscending(o)),
  );

/**
 * Fraction of OOD accepted as ID at the threshold keeping 95% of ID (see module doc for ties).
 *
 * @example
 * ```ts
 * import { fpr95IdKept } from "./evaluate.ts";
 * import { Effect } from "effect";
 * const id = Array.from({ length: 20 }, (_, i) => i); // t* = 18 (19 of 20 ID are ≤ 18)
 * if (Effect.runSync(fpr95IdKept(id, [18, 18.5, 30, 40])) !== 0.25) throw new Error("wrong");
 * ```
 */
export const fpr95IdKept = (
  id: ArrayLike<number>,
  ood: ArrayLike<number>,
  names: SetNames = DEFAULT_NAMES,
): Effect.Effect<number, ScoreError> =>
  Effect.map(bothSorted({ id, ood, names }), ([i, o]) => fpr95IdKeptSorted(i, o));

/**
 * Fraction of ID flagged as OOD at the threshold catching 95% of OOD, as OpenOOD v1.5 (ties:
 * module doc).
 *
 * @example
 * ```ts
 * import { fpr95OpenOod } from "./evaluate.ts";
 * import { Effect } from "effect";
 * const ood = Array.from({ length: 20 }, (_, i) => 10 + i); // t° = 11 (19 of 20 OOD ≥ 11)
 * if (Effect.runSync(fpr95OpenOod([0, 11, 12, 10.5], ood)) !== 0.5) throw new Error("wrong");
 * ```
 */
export const fpr95OpenOod = (
  id: ArrayLike<number>,
  ood: ArrayLike<number>,
  names: SetNames = DEFAULT_NAMES,
): Effect.Effect<number, ScoreError> =>
  Effect.map(bothSorted({ id, ood, names }), ([i, o]) => fpr95OpenOodSorted(i, o));

/**
 * Every metric for one ID/OOD pair (each set is checked and sorted once).
 *
 * @example
 * ```ts
 * import { evaluateOod } from "./evaluate.ts";
 * import { Effect } from "effect";
 * const m = Effect.runSync(evaluateOod({ id: [0, 1, 2], ood: [5, 6] }));
 * if (m.auroc !== 1 || m.fpr95IdKept !== 0 || m.fpr95OpenOod !== 0) throw new Error("perfect");
 * ```
 */
export const evaluateOod: (input: ScoreSets) => Effect.Effect<OodMetrics, ScoreError> = Effect.fn(
  "evaluateOod",
)(function* (input) {
  const [id, ood] = yield* bothSorted(input);
  return metricsSorted(id, ood);
});

/**
 * How many scores are tied, as shares in [0, 1]. Only ties across the sets enter the metrics, so
 * a `tiedAcross` above {@link TIE_REPORT_LIMIT} means they depend on how ties are counted: a sign
 * of scores that lost their resolution (float32 storage, underflow).
 */
export interface TieShares {
  /** Share of the ID scores equal to some other score (of either set), in [0, 1]. */
  readonly tiedId: number;
  /** Share of the OOD scores equal to some other score (of either set), in [0, 1]. */
  readonly tiedOod: number;
  /** Share of all ID and OOD scores equal to a score of the other set, in [0, 1]. */
  readonly tiedAcross: number;
}

/** Above this share of tied scores across ID and OOD, reports flag a result as tie-dependent. */
export const TIE_REPORT_LIMIT = 0.01;

/** Tie shares from ascending arrays, by one merge pass over the distinct values. */
function tieSharesSorted(id: Float64Array, ood: Float64Array): TieShares {
  let i = 0;
  let j = 0;
  let tiedId = 0;
  let tiedOod = 0;
  let tiedAcross = 0;
  while (i < id.length || j < ood.length) {
    const v = j >= ood.length || (i < id.length && id[i]! <= ood[j]!) ? id[i]! : ood[j]!;
    let a = 0;
    let b = 0;
    while (i < id.length && id[i] === v) {
      i++;
      a++;
    }
    while (j < ood.length && ood[j] === v) {
      j++;
      b++;
    }
    if (a + b >= 2) {
      tiedId += a;
      tiedOod += b;
    }
    if (a > 0 && b > 0) tiedAcross += a + b;
  }
  return {
    tiedId: tiedId / id.length,
    tiedOod: tiedOod / ood.length,
    tiedAcross: tiedAcross / (id.length + ood.length),
  };
}

/**
 * The tie report of one ID/OOD pair ({@link TieShares}).
 *
 * @example
 * ```ts
 * import { scoreTies } from "./evaluate.ts";
 * import { Effect } from "effect";
 * // 0.5 stands in both sets: 2 of the 5 scores are tied across.
 * const t = Effect.runSync(scoreTies({ id: [0.1, 0.5, 0.7], ood: [0.5, 0.9] }));
 * if (t.tiedAcross !== 0.4 || t.tiedId !== 1 / 3 || t.tiedOod !== 0.5) throw new Error("wrong");
 * ```
 */
export const scoreTies = (input: ScoreSets): Effect.Effect<TieShares, ScoreError> =>
  Effect.map(bothSorted(input), ([id, ood]) => tieSharesSorted(id, ood));

/**
 * {@link evaluateOod} and {@link scoreTies} together, each set checked and sorted once.
 *
 * @example
 * ```ts
 * import { evaluateOodWithTies } from "./evaluate.ts";
 * import { Effect } from "effect";
 * const r = Effect.runSync(evaluateOodWithTies({ id: [0.1, 0.5], ood: [0.5] }));
 * if (r.auroc !== 0.75 || r.tiedAcross !== 2 / 3) throw new Error("wrong");
 * ```
 */
export const evaluateOodWithTies = (
  input: ScoreSets,
): Effect.Effect<OodMetrics & TieShares, ScoreError> =>
  Effect.map(bothSorted(input), ([id, ood]) => ({
    ...metricsSorted(id, ood),
    ...tieSharesSorted(id, ood),
  }));

/**
 * The share of `scores` equal to at least one other of them (0 for fewer than two scores).
 *
 * @example
 * ```ts
 * import { tiedShare } from "./evaluate.ts";
 * if (tiedShare([1, 2, 2, 3]) !== 0.5) throw new Error("wrong");
 * ```
 */
export function tiedShare(scores: ArrayLike<number>): number {
  if (scores.length < 2) return 0;
  const sorted = Float64Array.from(scores).sort();
  let tied = 0;
  for (let k = 0; k < sorted.length; k++) {
    if (sorted[k] === sorted[k - 1] || sorted[k] === sorted[k + 1]) tied++;
  }
  return tied / sorted.length;
}

/**
 * Fraction of predictions equal to their labels.
 *
 * @example
 * ```ts
 * import { accuracy } from "./evaluate.ts";
 * import { Effect } from "effect";
 * if (Effect.runSync(accuracy([1, 2, 3, 4], [1, 2, 0, 4])) !== 0.75) throw new Error("wrong");
 * ```
 */
export const accuracy = (
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
): Effect.Effect<number, LengthMismatch | EmptyScores> =>
  Effect.suspend((): Effect.Effect<number, LengthMismatch | EmptyScores> => {
    if (predictions.length !== labels.length) {
      return Effect.fail(
        new LengthMismatch({ predictions: predictions.length, labels: labels.length }),
      );
    }
    if (predictions.length === 0) return Effect.fail(new EmptyScores({ set: "predictions" }));
    let correct = 0;
    for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct++;
    return Effect.succeed(correct / labels.length);
  });
