/**
 * MaxLogit (Hendrycks, Basart, Mazeika, Zou, Kwon, Mostajabi, Steinhardt & Song, "Scaling
 * Out-of-Distribution Detection for Real-World Settings", ICML 2022).
 *
 * score(x) = −maxⱼ zⱼ (negated so that higher = more OOD). No hyper-parameters (OpenOOD v1.5's
 * `mls` postprocessor).
 *
 * @module
 */
import type { Detector } from "./detector.ts";
import { pointwiseDetector } from "./pointwise.ts";
import { rowMax } from "./logits.ts";
import { defineDetector } from "./entry.ts";
import { Schema } from "effect";

/** Options of {@link maxLogit} (none: the method has no hyper-parameters). */
export type MaxLogitOptions = Record<never, never>;

/** The MaxLogit detector: −max logit. */
export function maxLogit(_options: MaxLogitOptions = {}): Detector {
  return pointwiseDetector({
    name: "MaxLogit",
    description: "Maximum logit, score −max z (Hendrycks et al., ICML 2022)",
    settings: {},
    score: (features) => Float64Array.from(rowMax(features.logits), (z) => -z),
  });
}

/** Registration of {@link maxLogit}. */
export const maxLogitEntry = defineDetector({
  kind: "maxlogit",
  title: "MaxLogit",
  family: "baseline",
  source: "Hendrycks et al., ICML 2022; OpenOOD `mls`",
  reproduce: true,
  options: Schema.Struct({}),
  make: (options, name) => ({ ...maxLogit(options), name }),
});
