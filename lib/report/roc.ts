/**
 * ROC maths: the vertices of an ROC curve (ties grouped) and a downsampling that keeps the
 * curve's shape. The area under it is the evaluation's `auroc` (`lib/stages/evaluate.ts`), the
 * one AUROC of grood; `tests/plots_test.ts` checks that it equals the trapezoids under these
 * vertices.
 *
 * @module
 */
import { checkFinite, PlotInputError } from "./plot_errors.ts";

/** One vertex of an ROC curve: flag as OOD every image whose score is ≥ `threshold`. */
export interface RocPoint {
  /** False-positive rate: share of ID images flagged, in [0, 1]. */
  readonly fpr: number;
  /** True-positive rate: share of OOD images flagged, in [0, 1]. */
  readonly tpr: number;
  /** `Infinity` for the first point (nothing flagged). */
  readonly threshold: number;
}

/**
 * The vertices of the ROC curve of `ood` (positives) against `id` (negatives), higher score =
 * OOD. Equal scores form one threshold, so a tie between an ID and an OOD image gives one
 * diagonal step (the usual convention, whose area counts a tie as one half), never an
 * order-dependent staircase. The curve runs from (0, 0) to (1, 1).
 *
 * Throws `NonFinitePlotData` on NaN or infinite scores, `PlotInputError` on an empty side.
 */
export function rocPoints(
  id: ArrayLike<number>,
  ood: ArrayLike<number>,
  names: { readonly id: string; readonly ood: string } = { id: "ID", ood: "OOD" },
): ReadonlyArray<RocPoint> {
  checkFinite(names.id, id);
  checkFinite(names.ood, ood);
  if (id.length === 0 || ood.length === 0) {
    throw new PlotInputError({
      plot: `the ROC curve of "${names.ood}"`,
      problem: `${id.length === 0 ? names.id : names.ood} has no scores`,
    });
  }
  // One sorted array of (score, isOod), descending by score: a threshold sweep visits it once.
  const n = id.length + ood.length;
  const scores = new Float64Array(n);
  const positive = new Uint8Array(n);
  for (let i = 0; i < id.length; i++) scores[i] = id[i]!;
  for (let i = 0; i < ood.length; i++) {
    scores[id.length + i] = ood[i]!;
    positive[id.length + i] = 1;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const points: Array<RocPoint> = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < n;) {
    const threshold = scores[order[k]!]!;
    // Take every image with this exact score before emitting a point (ties grouped).
    while (k < n && scores[order[k]!] === threshold) {
      if (positive[order[k]!] === 1) tp++;
      else fp++;
      k++;
    }
    points.push({ fpr: fp / id.length, tpr: tp / ood.length, threshold });
  }
  return points;
}

/**
 * Keep at most `maxPoints` vertices of a curve, first and last included. The kept vertices are
 * spread evenly along fpr + tpr, which grows monotonically from 0 to 2 along an ROC curve, so
 * the straight segments between kept vertices stay within 2 / maxPoints of the full curve in
 * both axes: invisible at plot size, and steep parts keep their detail.
 */
export function downsampleCurve(
  points: ReadonlyArray<RocPoint>,
  maxPoints = 500,
): ReadonlyArray<RocPoint> {
  if (points.length <= maxPoints) return points;
  if (maxPoints < 2) throw new RangeError(`maxPoints must be at least 2, got ${maxPoints}`);
  const first = points[0]!;
  const last = points[points.length - 1]!;
  const start = first.fpr + first.tpr;
  const span = last.fpr + last.tpr - start;
  const bins = maxPoints - 2;
  const kept: Array<RocPoint> = [first];
  let lastBin = -1;
  for (let i = 1; i < points.length - 1; i++) {
    const p = points[i]!;
    const bin = Math.min(bins - 1, Math.floor(((p.fpr + p.tpr - start) / span) * bins));
    // The first vertex of each bin is kept: each bin then contributes at most one vertex.
    if (bin > lastBin) {
      kept.push(p);
      lastBin = bin;
    }
  }
  kept.push(last);
  return kept;
}
