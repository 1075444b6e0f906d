/**
 * ROC curves: their vertices (ties grouped), a downsampling that keeps their shape, and the chart
 * of one detector. The AUROC shown is the evaluation's (`lib/stages/evaluate.ts`), which
 * `tests/plots_test.ts` checks equals the trapezoids under these vertices.
 *
 * @module
 */
import { Effect } from "effect";
import { auroc } from "../stages/evaluate.ts";
import {
  checkFinite,
  normalise,
  type PlotInput,
  PlotInputError,
  specBase,
  type TopLevelSpec,
} from "./chart.ts";

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
 * The vertices of the ROC curve of `ood` (positives, higher score) against `id`, from (0, 0) to
 * (1, 1). Equal scores are one threshold: an ID/OOD tie is one diagonal step, never an
 * order-dependent staircase. Throws `NonFinitePlotData` or `PlotInputError` (an empty side).
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
  // (score, isOod) sorted by descending score: a threshold sweep visits it once.
  const all = [
    ...Array.from(id, (score) => ({ score, ood: false })),
    ...Array.from(ood, (score) => ({ score, ood: true })),
  ].sort((a, b) => b.score - a.score);
  const points: Array<RocPoint> = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < all.length;) {
    const threshold = all[k]!.score;
    // Take every image with this exact score before emitting a point (ties grouped).
    for (; k < all.length && all[k]!.score === threshold; k++) {
      if (all[k]!.ood) tp++;
      else fp++;
    }
    points.push({ fpr: fp / id.length, tpr: tp / ood.length, threshold });
  }
  return points;
}

/**
 * Keep at most `maxPoints` vertices of a curve, first and last included, spread evenly along
 * fpr + tpr (monotonic from 0 to 2 along an ROC curve): the segments between kept vertices stay
 * within 2 / maxPoints of the full curve in both axes, and steep parts keep their detail.
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
  for (const p of points.slice(1, -1)) {
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

/** Options of `rocCurves`. */
export interface RocOptions {
  /** Vertices kept per curve (default 500). */
  readonly maxPoints?: number;
  /** The chart's title (default: the detector's ROC per OOD set). */
  readonly title?: string;
  /** Width in pixels (default 360). */
  readonly width?: number;
  /** Height in pixels (default 360). */
  readonly height?: number;
}

/** Axis titles of the ROC chart (OOD is the positive class). */
export const ROC_AXES = {
  x: "False positive rate (ID test flagged as OOD)",
  y: "True positive rate (OOD detected)",
} as const;

/** ROC curves of one detector, one per OOD set, each set's AUROC and group in the legend. */
export function rocCurves(input: PlotInput, options: RocOptions = {}): TopLevelSpec {
  const { detector, id, scores, label, oodSets } = normalise(input, "ROC curves");
  const values: Array<Record<string, string | number>> = [];
  const labels = oodSets.map((set) => {
    const ood = scores.get(set)!;
    // rocPoints checks the scores (finite, non-empty) and throws typed errors before auroc runs.
    const full = rocPoints(id, ood, { id: `${detector} on ID test`, ood: set });
    const name = `${label(set)}: AUROC ${(100 * Effect.runSync(auroc(id, ood))).toFixed(1)}`;
    downsampleCurve(full, options.maxPoints ?? 500).forEach((p, order) =>
      values.push({ set: name, fpr: p.fpr, tpr: p.tpr, order })
    );
    return name;
  });
  const axis = (field: "fpr" | "tpr", title: string) => ({
    field,
    type: "quantitative" as const,
    title,
    scale: { domain: [0, 1] },
  });
  return {
    ...specBase(options.title ?? `${detector}: ROC per OOD set`),
    width: options.width ?? 360,
    height: options.height ?? 360,
    layer: [
      {
        // Chance line: a detector no better than a coin lies on it.
        data: { values: [{ fpr: 0, tpr: 0 }, { fpr: 1, tpr: 1 }] },
        mark: { type: "line", color: "#999", strokeDash: [4, 4], strokeWidth: 1 },
        encoding: {
          x: { field: "fpr", type: "quantitative" },
          y: { field: "tpr", type: "quantitative" },
        },
      },
      {
        data: { values },
        mark: { type: "line", strokeWidth: 2 },
        encoding: {
          x: axis("fpr", ROC_AXES.x),
          y: axis("tpr", ROC_AXES.y),
          color: {
            field: "set",
            type: "nominal",
            title: "OOD set",
            sort: labels,
            legend: { orient: "right", labelLimit: 400 },
          },
          // Vertices in curve order: sorting by x alone would scramble vertical steps.
          order: { field: "order", type: "quantitative" },
        },
      },
    ],
  };
}
