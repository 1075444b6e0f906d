/**
 * MSP (Hendrycks & Gimpel, ICLR 2017; OpenOOD v1.5 `msp`): score(x) = −maxⱼ softmax(z)ⱼ, no
 * hyper-parameters.
 *
 * @module
 */
import { Schema } from "effect";
import type { Matrix } from "../matrix.ts";
import type { Detector } from "./detector.ts";
import { baselineEntry } from "./entry.ts";
import { rowMaxSoftmax } from "./logits.ts";
import { pointwiseDetector } from "./pointwise.ts";

/** Options of {@link msp} (none: the method has no hyper-parameters). */
export type MspOptions = Record<never, never>;

/** −max softmax(z/T) of each row of logits: MSP's scores (T = 1), a fitted folder's, ODIN's. */
export const mspScores = (logits: Matrix, temperature = 1): Float64Array =>
  Float64Array.from(rowMaxSoftmax(logits, temperature), (p) => -p);

/** The MSP detector: −max softmax of the logits. */
export function msp(_options: MspOptions = {}): Detector {
  return pointwiseDetector({
    name: "MSP",
    description:
      "Maximum softmax probability, score −max softmax(z) (Hendrycks & Gimpel, ICLR 2017)",
    settings: { temperature: 1 },
    score: (features) => mspScores(features.logits),
  });
}

export const mspEntry = baselineEntry(msp, {
  kind: "msp",
  title: "MSP",
  source: "Hendrycks & Gimpel, ICLR 2017; OpenOOD `msp`",
  options: Schema.Struct({}),
});
