/**
 * ROC curves of one detector as a vega-lite spec: one curve per OOD set, with its AUROC in the
 * legend.
 *
 * @module
 */
import { Effect } from "effect";
import { auroc } from "../stages/evaluate.ts";
import { normalise, PLOT_CONFIG, type PlotInput, type TopLevelSpec } from "./chart.ts";
import { downsampleCurve, rocPoints } from "./roc.ts";

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

/**
 * ROC curves of one detector, one per OOD set, in one chart. The legend gives each set's AUROC
 * (the evaluation's own, `lib/stages/evaluate.ts`, so it matches the tables) and its near/far
 * group when known.
 */
export function rocCurves(input: PlotInput, options: RocOptions = {}): TopLevelSpec {
  const { detector, id, scores, groups, oodSets } = normalise(input, "ROC curves");
  const values: Array<Record<string, string | number>> = [];
  const labels: Array<string> = [];
  for (const set of oodSets) {
    const ood = scores.get(set)!;
    // rocPoints checks the scores (finite, non-empty) and throws typed errors before auroc runs.
    const full = rocPoints(id, ood, { id: `${detector} on ID test`, ood: set });
    const area = Effect.runSync(auroc(id, ood));
    const group = groups.get(set);
    const label = `${set}${group === undefined ? "" : ` (${group})`}: AUROC ${
      (100 * area).toFixed(1)
    }`;
    labels.push(label);
    downsampleCurve(full, options.maxPoints ?? 500).forEach((p, order) =>
      values.push({ set: label, fpr: p.fpr, tpr: p.tpr, order })
    );
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: options.title ?? `${detector}: ROC per OOD set`,
    width: options.width ?? 360,
    height: options.height ?? 360,
    config: PLOT_CONFIG,
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
          x: {
            field: "fpr",
            type: "quantitative",
            title: ROC_AXES.x,
            scale: { domain: [0, 1] },
          },
          y: {
            field: "tpr",
            type: "quantitative",
            title: ROC_AXES.y,
            scale: { domain: [0, 1] },
          },
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
