/**
 * MSP, maximum softmax probability (Hendrycks & Gimpel, "A Baseline for Detecting
 * Misclassified and Out-of-Distribution Examples in Neural Networks", ICLR 2017).
 *
 * score(x) = −maxⱼ softmax(z)ⱼ (negated so that higher = more OOD). No hyper-parameters
 * (softmax at temperature 1, as in the paper and OpenOOD v1.5's `msp` postprocessor).
 *
 * @module
 */
import { Effect } from "effect";
import type { Detector, FittedDetector } from "./detector.ts";
import { scoreChecked } from "./checks.ts";
import { rowMaxSoftmax } from "./logits.ts";
import { defineDetector } from "./entry.ts";
import { Schema } from "effect";

/** Options of {@link msp} (none: the method has no hyper-parameters). */
export type MspOptions = Record<never, never>;

/** The MSP detector: −max softmax of the logits. */
export function msp(_options: MspOptions = {}): Detector {
  const name = "MSP";
  return {
    name,
    description:
      "Maximum softmax probability, score −max softmax(z) (Hendrycks & Gimpel, ICLR 2017)",
    fit: (inputs) =>
      Effect.sync((): FittedDetector => {
        const classes = inputs.trainFeatures.logits.cols;
        return {
          score: (set) =>
            scoreChecked(
              name,
              set,
              { classes },
              () => Float32Array.from(rowMaxSoftmax(set.features.logits), (p) => -p),
            ),
          settings: { temperature: 1 },
          tuned: [],
          dispose: () => {},
        };
      }),
  };
}

/** Registration of {@link msp}. */
export const mspEntry = defineDetector({
  kind: "msp",
  title: "MSP",
  family: "baseline",
  source: "Hendrycks & Gimpel, ICLR 2017; OpenOOD `msp`",
  reproduce: true,
  options: Schema.Struct({}),
  make: (options, name) => ({ ...msp(options), name }),
});
