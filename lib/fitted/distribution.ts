/**
 * The score distributions `detector.json` records: histograms over one grid for the ID
 * validation and every validation-OOD set, and quantiles, so a UI can draw them.
 *
 * @module
 */
import { Effect } from "effect";
import { DegenerateScores } from "./errors.ts";
import type { ScoreDistribution } from "./manifest.ts";

/** Fail when every ID validation score is the same: a threshold over them decides nothing. */
export const refuseDegenerate = (
  scores: Float64Array,
  detector: string,
  source: string,
): Effect.Effect<void, DegenerateScores> =>
  scores.length > 1 && scores.every((s) => s === scores[0])
    ? Effect.fail(
      new DegenerateScores({ detector, source, count: scores.length, score: scores[0]! }),
    )
    : Effect.void;

/** Bins of the score histograms. */
const HISTOGRAM_BINS = 40;

/** Histogram counts of `scores` over `edges` (values outside fall in the end bins). */
export const histogram = (scores: ArrayLike<number>, edges: ReadonlyArray<number>) => {
  const bins = edges.length - 1;
  const counts = new Array<number>(bins).fill(0);
  const lo = edges[0]!;
  const width = (edges[bins]! - lo) / bins;
  for (let i = 0; i < scores.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor((scores[i]! - lo) / width)));
    counts[b]! += 1;
  }
  return counts;
};

/** One set's scores summarised: histogram over `edges`, 101 quantiles, range and mean. */
export const distribution = (
  source: string,
  scores: Float64Array,
  edges: ReadonlyArray<number>,
): ScoreDistribution => {
  const sorted = Float64Array.from(scores).sort();
  const n = sorted.length;
  const quantiles = Array.from(
    { length: Math.min(101, n) },
    (_, q, all = Math.min(101, n)) => sorted[Math.round((q * (n - 1)) / Math.max(1, all - 1))]!,
  );
  return {
    source,
    counts: histogram(scores, edges),
    quantiles,
    min: sorted[0]!,
    max: sorted[n - 1]!,
    mean: sorted.reduce((a, b) => a + b, 0) / n,
  };
};

/** {@link HISTOGRAM_BINS} equal bins spanning every score of `sets`. */
export const edgesOf = (sets: ReadonlyArray<Float64Array>): ReadonlyArray<number> => {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of sets) for (const v of s) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
  if (!(hi > lo)) (lo -= 0.5), (hi += 0.5);
  return Array.from(
    { length: HISTOGRAM_BINS + 1 },
    (_, i) => lo + ((hi - lo) * i) / HISTOGRAM_BINS,
  );
};
