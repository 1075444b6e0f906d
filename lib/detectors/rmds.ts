/**
 * RMDS, relative Mahalanobis distance (Ren et al., 2021; OpenOOD v1.5 `rmds`): score(x) =
 * min_c d_c(h) − d₀(h), the squared Mahalanobis distance to the closest class (tied covariance,
 * as `mahalanobis.ts`) minus that to one Gaussian of all training features. No hyper-parameters.
 * Details: `docs/internals/detectors.md`.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { scoreChecked } from "./checks.ts";
import { type Detector, fittedDetector } from "./detector.ts";
import { baselineEntry } from "./entry.ts";
import { nearestWhitenedDistance, pseudoInverseFactor, whitenedDistances } from "./linalg.ts";
import { classGaussians, trainingClassGaussians } from "./mahalanobis.ts";

/** Options of {@link rmds} (none). */
export type RmdsOptions = Record<never, never>;

/** The RMDS detector: min over classes of the class Mahalanobis distance minus the background's. */
export function rmds(_options: RmdsOptions = {}): Detector {
  const name = "RMDS";
  return {
    name,
    description: "RMDS: min over classes of the squared Mahalanobis distance (tied covariance) " +
      "minus that to one Gaussian of all training features (Ren et al., 2021; OpenOOD v1.5)",
    fit: (inputs) =>
      Effect.gen(function* () {
        const trainFeatures = inputs.train.features;
        const perClass = yield* trainingClassGaussians(name, inputs);
        const { dim: d, numClasses } = perClass;
        // One class for every sample: the background Gaussian of all training features.
        const background = classGaussians(
          trainFeatures.penultimate,
          new Uint8Array(trainFeatures.count),
          1,
        );
        const classFactor = pseudoInverseFactor(perClass.covariance, d);
        const backgroundFactor = pseudoInverseFactor(background.covariance, d);
        return fittedDetector({
          score: (set) =>
            scoreChecked(name, set, { penultimate: d }, () => {
              const h = set.features.penultimate;
              const classes = nearestWhitenedDistance(h, perClass.means, numClasses, classFactor);
              const back = whitenedDistances(h, background.means, 1, backgroundFactor);
              return Float64Array.from(classes, (best, i) => best - back[i]!);
            }),
          settings: {
            covariance: "tied + background",
            inverse: "pinvh",
            classPrecisionRank: classFactor.rank,
            backgroundPrecisionRank: backgroundFactor.rank,
          },
        });
      }),
  };
}

export const rmdsEntry = baselineEntry(rmds, {
  kind: "rmds",
  title: "RMDS",
  source: "Ren et al., 2021; OpenOOD `rmds`",
  options: Schema.Struct({}),
});
