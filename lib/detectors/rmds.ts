/**
 * RMDS, relative Mahalanobis distance (Ren, Fort, Liu, Roy, Padhy & Lakshminarayanan, "A Simple
 * Fix to Mahalanobis Distance for Improving Near-OOD Detection", 2021), as OpenOOD v1.5's
 * `rmds` postprocessor.
 *
 * Fit (ID training split, ground-truth labels): class means μ_c and the tied covariance Σ of the
 * class-centred features (as {@link mahalanobis}), plus the "background" Gaussian of all
 * training features: mean μ₀ and covariance Σ₀ (both maximum-likelihood, `EmptyCovariance`'s
 * 1/N). Precisions are pseudo-inverses (`pinvh`, as scikit-learn's `precision_`).
 * Score: with d_c(h) = (h − μ_c)ᵀ pinv(Σ) (h − μ_c) and d₀(h) = (h − μ₀)ᵀ pinv(Σ₀) (h − μ₀),
 *   score(x) = min_c d_c(h) − d₀(h)
 * (OpenOOD's confidence is max_c −(d_c − d₀), its negation; higher = more OOD here).
 *
 * No hyper-parameters (`configs/postprocessors/rmds.yml`: `APS_mode: False`).
 *
 * @module
 */
import { Effect, Schema } from "effect";
import type { Matrix } from "../matrix.ts";
import { checkSet, finiteMatrix, scoreChecked } from "./checks.ts";
import type { Detector, FittedDetector } from "./detector.ts";
import { defineDetector } from "./entry.ts";
import { pseudoInverseFactor } from "./linalg.ts";
import { checkClassLabels, classGaussians } from "./mahalanobis.ts";

/** Options of {@link rmds} (none). */
export type RmdsOptions = Record<never, never>;

/** ‖Lᵀ(h − μ)‖² for every row and every mean (C × D) → N × C, with L the whitening factor. */
export function whitenedDistances(
  features: Matrix,
  means: Float64Array,
  numMeans: number,
  factor: Float64Array,
  rank: number,
): Float64Array {
  const { rows: n, cols: d, data } = features;
  const whiteMeans = new Float64Array(numMeans * rank);
  for (let c = 0; c < numMeans; c++) {
    for (let k = 0; k < d; k++) {
      const mu = means[c * d + k]!;
      for (let r = 0; r < rank; r++) whiteMeans[c * rank + r]! += mu * factor[k * rank + r]!;
    }
  }
  const out = new Float64Array(n * numMeans);
  const white = new Float64Array(rank);
  for (let i = 0; i < n; i++) {
    white.fill(0);
    for (let k = 0; k < d; k++) {
      const h = data[i * d + k]!;
      if (h === 0) continue;
      for (let r = 0; r < rank; r++) white[r]! += h * factor[k * rank + r]!;
    }
    for (let c = 0; c < numMeans; c++) {
      let sum = 0;
      for (let r = 0; r < rank; r++) sum += (white[r]! - whiteMeans[c * rank + r]!) ** 2;
      out[i * numMeans + c] = sum;
    }
  }
  return out;
}

/** The RMDS detector: min over classes of the class Mahalanobis distance minus the background's. */
export function rmds(_options: RmdsOptions = {}): Detector {
  const name = "RMDS";
  return {
    name,
    description: "RMDS: min over classes of the squared Mahalanobis distance (tied covariance) " +
      "minus that to one Gaussian of all training features (Ren et al., 2021; OpenOOD v1.5)",
    fit: (inputs) =>
      Effect.gen(function* () {
        const { trainFeatures } = inputs;
        const setName = trainFeatures.name;
        const numClasses = trainFeatures.logits.cols;
        const labels = trainFeatures.labels ?? inputs.train.labels;
        yield* checkSet(name, { images: inputs.train, features: trainFeatures }, {});
        yield* finiteMatrix(name, setName, "the penultimate features", trainFeatures.penultimate);
        yield* checkClassLabels(name, setName, labels, trainFeatures.count, numClasses);

        const d = trainFeatures.penultimate.cols;
        const perClass = classGaussians(trainFeatures.penultimate, labels, numClasses);
        // One class for every sample: the background Gaussian of all training features.
        const background = classGaussians(
          trainFeatures.penultimate,
          new Uint8Array(trainFeatures.count),
          1,
        );
        const classFactor = pseudoInverseFactor(perClass.covariance, d);
        const backgroundFactor = pseudoInverseFactor(background.covariance, d);
        const fitted: FittedDetector = {
          score: (set) =>
            scoreChecked(name, set, { penultimate: d }, () => {
              const h = set.features.penultimate;
              const classes = whitenedDistances(
                h,
                perClass.means,
                numClasses,
                classFactor.factor,
                classFactor.rank,
              );
              const back = whitenedDistances(
                h,
                background.means,
                1,
                backgroundFactor.factor,
                backgroundFactor.rank,
              );
              return Float32Array.from({ length: h.rows }, (_, i) => {
                let best = Infinity;
                for (let c = 0; c < numClasses; c++) {
                  best = Math.min(best, classes[i * numClasses + c]!);
                }
                return best - back[i]!;
              });
            }),
          settings: {
            covariance: "tied + background",
            inverse: "pinvh",
            classPrecisionRank: classFactor.rank,
            backgroundPrecisionRank: backgroundFactor.rank,
          },
          tuned: [],
          dispose: () => {},
        };
        return fitted;
      }),
  };
}

/** Registration of {@link rmds}. */
export const rmdsEntry = defineDetector({
  kind: "rmds",
  title: "RMDS",
  family: "baseline",
  source: "Ren et al., 2021; OpenOOD `rmds`",
  reproduce: true,
  options: Schema.Struct({}),
  make: (options, name) => ({ ...rmds(options), name }),
});
