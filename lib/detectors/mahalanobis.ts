/**
 * Mahalanobis distance (Lee et al., NeurIPS 2018), as OpenOOD v1.5's MDS: score(x) =
 * min_c (h − μ_c)ᵀ pinv(Σ) (h − μ_c), class means and the tied maximum-likelihood covariance of the
 * training penultimate features, without input preprocessing or feature ensemble.
 * Details: `docs/internals/detectors.md`.
 *
 * @module
 */
import { Data, Effect, Schema } from "effect";
import type { Matrix } from "../matrix.ts";
import { addRowsByClass } from "../stages/class_sums.ts";
import { artefact, type Detector, type FitInputs, fittedDetector } from "./detector.ts";
import {
  checkTrainPenultimate,
  type FeatureSizeMismatch,
  type NonFiniteFeatures,
  scoreChecked,
} from "./checks.ts";
import { meanOuterProduct, nearestWhitenedDistance, pseudoInverseFactor } from "./linalg.ts";
import { baselineEntry } from "./entry.ts";

/** Options of {@link mahalanobis} (none: the MDS variant has no hyper-parameters). */
export type MahalanobisOptions = Record<never, never>;

/** A class has no training sample, so its mean is undefined. */
export class EmptyClass extends Data.TaggedError("EmptyClass")<{
  readonly detector: string;
  readonly set: string;
  readonly label: number;
}> {
  /** Names the detector, the set and the empty class. */
  override get message(): string {
    return `Cannot fit ${this.detector} on "${this.set}": class ${this.label} has no sample`;
  }
}

/** The training labels are missing, out of range, or not one per feature row. */
export class BadLabels extends Data.TaggedError("BadLabels")<{
  readonly detector: string;
  readonly set: string;
  readonly problem: string;
}> {
  /** Names the detector, the set and the problem with its labels. */
  override get message(): string {
    return `Cannot fit ${this.detector} on "${this.set}": ${this.problem}`;
  }
}

/** Class means (C × D) and the tied covariance (D × D), both float64. */
export interface ClassGaussians {
  readonly numClasses: number;
  readonly dim: number;
  readonly means: Float64Array;
  readonly covariance: Float64Array;
}

/** Class means and the tied maximum-likelihood covariance of labelled features. */
export function classGaussians(
  features: Matrix,
  labels: ArrayLike<number>,
  numClasses: number,
): ClassGaussians {
  const { cols: d, data } = features;
  const means = new Float64Array(numClasses * d);
  const counts = new Float64Array(numClasses);
  addRowsByClass(means, counts, labels, data, d);
  for (let c = 0; c < numClasses; c++) {
    for (let k = 0; k < d; k++) means[c * d + k]! /= counts[c]!;
  }
  const covariance = meanOuterProduct(features, means, (i) => labels[i]! * d);
  return { numClasses, dim: d, means, covariance };
}

/**
 * The class Gaussians of the training split, after checking its features and its labels (one
 * per row, each below the number of logits, no class without a sample).
 */
export const trainingClassGaussians = (
  detector: string,
  inputs: FitInputs,
): Effect.Effect<
  ClassGaussians,
  BadLabels | EmptyClass | FeatureSizeMismatch | NonFiniteFeatures
> =>
  Effect.gen(function* () {
    const { name: set, count: rows, logits, penultimate } = inputs.train.features;
    const numClasses = logits.cols;
    const labels = inputs.train.features.labels ?? inputs.train.images.labels;
    yield* checkTrainPenultimate(detector, inputs);
    if (labels.length !== rows) {
      return yield* new BadLabels({
        detector,
        set,
        problem: `${labels.length} labels for ${rows} feature rows`,
      });
    }
    const counts = new Array<number>(numClasses).fill(0);
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i]!;
      if (label >= numClasses) {
        return yield* new BadLabels({
          detector,
          set,
          problem: `label ${label} is not below the ${numClasses} classes of the logits`,
        });
      }
      counts[label]! += 1;
    }
    const empty = counts.findIndex((count) => count === 0);
    if (empty >= 0) return yield* new EmptyClass({ detector, set, label: empty });
    return classGaussians(penultimate, labels, numClasses);
  });

/** The Mahalanobis (MDS) detector: squared distance to the closest class Gaussian. */
export function mahalanobis(_options: MahalanobisOptions = {}): Detector {
  const name = "Mahalanobis";
  return {
    name,
    description: "Mahalanobis (MDS): min over classes of the squared Mahalanobis distance of the " +
      "penultimate feature, tied covariance, no input preprocessing or ensemble " +
      "(Lee et al., NeurIPS 2018; OpenOOD v1.5 MDS)",
    fit: (inputs) =>
      Effect.gen(function* () {
        const gaussians = yield* trainingClassGaussians(name, inputs);
        const { dim: d, numClasses, means } = gaussians;
        const whitening = pseudoInverseFactor(gaussians.covariance, d);
        return fittedDetector({
          score: (set) =>
            scoreChecked(name, set, { penultimate: d }, () =>
              nearestWhitenedDistance(set.features.penultimate, means, numClasses, whitening)),
          settings: { covariance: "tied", inverse: "pinvh", precisionRank: whitening.rank, dim: d },
          artefacts: [
            artefact(
              "mahalanobis-class-means",
              "C × D class means of the training penultimate features",
              means,
              [numClasses, d],
            ),
            artefact(
              "mahalanobis-covariance",
              "D × D tied covariance of the training penultimate features",
              gaussians.covariance,
              [d, d],
            ),
          ],
        });
      }),
  };
}

export const mahalanobisEntry = baselineEntry(mahalanobis, {
  kind: "mahalanobis",
  title: "Mahalanobis",
  source: "Lee et al., NeurIPS 2018; OpenOOD `mds`",
  options: Schema.Struct({}),
});
