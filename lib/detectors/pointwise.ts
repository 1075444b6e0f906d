/**
 * Detectors that learn nothing from the training set (MSP, MaxLogit, Energy, GradNorm): an image's
 * score is a function of its own logits (and penultimate features).
 *
 * @module
 */
import { Effect } from "effect";
import type { SetFeatures } from "../stages/features.ts";
import { type ExpectedSizes, type InvalidSetting, scoreChecked } from "./checks.ts";
import {
  type Detector,
  type DetectorError,
  type FittedDetector,
  fittedDetector,
} from "./detector.ts";

/** What a pointwise detector is: its name, its settings and its score function. */
export interface PointwiseSpec {
  readonly name: string;
  readonly description: string;
  readonly settings: FittedDetector["settings"];
  /** The score reads the penultimate features too (their width is then checked). */
  readonly readsPenultimate?: boolean;
  /** Checks of the settings, run when the detector is fitted. */
  readonly check?: Effect.Effect<void, InvalidSetting>;
  /** One score per image of `features` (higher = more likely OOD). */
  readonly score: (features: SetFeatures) => Float64Array;
}

/**
 * A detector whose score is `spec.score` of each set's features; its fit reads no service.
 *
 * @example Negated max logit
 * ```ts
 * import { Effect } from "effect";
 * import { pointwiseDetector } from "./pointwise.ts";
 * import { rowMax } from "./logits.ts";
 * import { matrix } from "../matrix.ts";
 * import type { FeatureModel } from "../models/model.ts";
 * const detector = pointwiseDetector({
 *   name: "MaxLogit",
 *   description: "−max z",
 *   settings: {},
 *   score: (features) => Float64Array.from(rowMax(features.logits), (z) => -z),
 * });
 * const features = {
 *   name: "two",
 *   count: 2,
 *   penultimate: matrix(2, 1, [0, 0]),
 *   logits: matrix(2, 2, [1, 3, 2, 0]),
 * };
 * const images = { name: "two", count: 2, pixels: new Uint8Array(2) };
 * // The features are given, so the model is never read: a bare stand-in will do.
 * const model = { name: "features only" } as FeatureModel;
 * const labelled = { ...images, labels: new Uint8Array(2), classNames: ["a", "b"] };
 * const scores = Effect.runSync(Effect.flatMap(
 *   detector.fit({
 *     model,
 *     train: { images: labelled, features, classSums: [], key: "two" },
 *     validation: { id: { images, features }, ood: [] },
 *   }),
 *   (fitted) => fitted.score({ images, features }),
 * ));
 * if (scores[0] !== -3 || scores[1] !== -2) throw new Error("wrong scores");
 * ```
 */
export function pointwiseDetector(spec: PointwiseSpec): Detector<DetectorError, never> {
  return {
    name: spec.name,
    description: spec.description,
    fit: (inputs) =>
      Effect.gen(function* () {
        if (spec.check !== undefined) yield* spec.check;
        const trainFeatures = inputs.train.features;
        const expected: ExpectedSizes = {
          classes: trainFeatures.logits.cols,
          ...(spec.readsPenultimate === true
            ? { penultimate: trainFeatures.penultimate.cols }
            : {}),
        };
        return fittedDetector({
          score: (set) => scoreChecked(spec.name, set, expected, () => spec.score(set.features)),
          settings: spec.settings,
        });
      }),
  };
}
