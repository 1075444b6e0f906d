/**
 * MaxLogit (Hendrycks et al., ICML 2022; OpenOOD v1.5 `mls`): score(x) = −maxⱼ zⱼ, no
 * hyper-parameters.
 *
 * @module
 */
import { Schema } from "effect";
import type { Matrix } from "../matrix.ts";
import type { Detector } from "./detector.ts";
import { baselineEntry } from "./entry.ts";
import { rowMax } from "./logits.ts";
import { pointwiseDetector } from "./pointwise.ts";

/** Options of {@link maxLogit} (none: the method has no hyper-parameters). */
export type MaxLogitOptions = Record<never, never>;

/** MaxLogit's scores of a batch: −max of each row of logits (the detector's and a fitted folder's). */
export const maxLogitScores = (logits: Matrix): Float64Array =>
  Float64Array.from(rowMax(logits), (z) => -z);

/** The MaxLogit detector: −max logit. */
export function maxLogit(_options: MaxLogitOptions = {}): Detector {
  return pointwiseDetector({
    name: "MaxLogit",
    description: "Maximum logit, score −max z (Hendrycks et al., ICML 2022)",
    settings: {},
    score: (features) => maxLogitScores(features.logits),
  });
}

export const maxLogitEntry = baselineEntry(maxLogit, {
  kind: "maxlogit",
  title: "MaxLogit",
  source: "Hendrycks et al., ICML 2022; OpenOOD `mls`",
  options: Schema.Struct({}),
});
