/**
 * MaxLogit (Hendrycks, Basart, Mazeika, Zou, Kwon, Mostajabi, Steinhardt & Song, "Scaling
 * Out-of-Distribution Detection for Real-World Settings", ICML 2022).
 *
 * score(x) = −maxⱼ zⱼ (negated so that higher = more OOD). No hyper-parameters (OpenOOD v1.5's
 * `mls` postprocessor).
 *
 * @module
 */
import type { Matrix } from "../matrix.ts";
import type { Detector } from "./detector.ts";
import { pointwiseDetector } from "./pointwise.ts";
import { rowMax } from "./logits.ts";
import { baselineEntry } from "./entry.ts";
import { Schema } from "effect";

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

/** Registration of {@link maxLogit}. */
export const maxLogitEntry = baselineEntry(maxLogit, {
  kind: "maxlogit",
  title: "MaxLogit",
  source: "Hendrycks et al., ICML 2022; OpenOOD `mls`",
  options: Schema.Struct({}),
});
