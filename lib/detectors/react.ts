/**
 * ReAct, rectified activations (Sun, Guo & Li, "ReAct: Out-of-distribution Detection With
 * Rectified Activations", NeurIPS 2021), with the Energy score.
 *
 * Fit: c = the p-th percentile of all penultimate activation values of the ID training split
 * (every value of the N × D matrix, as `np.percentile(activations.flatten(), p)` in the
 * reference code; linear interpolation). Score: clip the penultimate features,
 * h̄ = min(h, c), recompute the logits with the head, z̄ = h̄·W + b, and take the Energy score
 * −logsumexp(z̄) (T = 1; higher = more OOD).
 *
 * Default **p = 90**, the paper's default percentile and OpenOOD v1.5's.
 *
 * @module
 */
import { Effect } from "effect";
import { type Matrix, matrix } from "../matrix.ts";
import type { Detector } from "./detector.ts";
import { requireSetting } from "./checks.ts";
import { checkTrainPenultimate, headEnergy } from "./head_energy.ts";
import { percentile, readHead } from "./logits.ts";
import { defineDetector, Percentile, withDefault } from "./entry.ts";
import { Schema } from "effect";

/** Options of {@link react}. */
export interface ReactOptions {
  /** Percentile p (0–100] of the training activations used as the clipping threshold (90). */
  readonly percentile?: number;
}

/** min(h, threshold) element-wise. */
export function clipActivations(features: Matrix, threshold: number): Matrix {
  return matrix(
    features.rows,
    features.cols,
    features.data.map((h) => Math.min(h, threshold)),
  );
}

/** The ReAct detector: Energy of the logits recomputed from clipped penultimate features. */
export function react(options: ReactOptions = {}): Detector {
  const name = "ReAct";
  const p = options.percentile ?? 90;
  return {
    name,
    description: `ReAct: clip penultimate features at the ${p}th percentile of the training ` +
      "activations, then Energy −logsumexp(z) (Sun et al., NeurIPS 2021)",
    fit: (inputs) =>
      Effect.gen(function* () {
        const { trainFeatures } = inputs;
        yield* requireSetting(
          Number.isFinite(p) && p > 0 && p <= 100,
          name,
          "percentile",
          p,
          "a number in (0, 100]",
        );
        const head = yield* readHead(name, inputs);
        yield* checkTrainPenultimate(name, inputs, head.inputSize);
        const threshold = percentile(trainFeatures.penultimate.data, p);
        return headEnergy(name, head, (h) => clipActivations(h, threshold), {
          percentile: p,
          threshold,
        });
      }),
  };
}

/** Registration of {@link react}. */
export const reactEntry = defineDetector({
  kind: "react",
  title: "ReAct",
  family: "baseline",
  source: "Sun et al., NeurIPS 2021; OpenOOD `react`",
  reproduce: true,
  options: Schema.Struct({ percentile: withDefault(Percentile, 90) }),
  make: (options, name) => ({ ...react(options), name }),
});
