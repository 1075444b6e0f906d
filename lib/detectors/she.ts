/**
 * SHE, simplified Hopfield energy (Zhang et al., ICLR 2023; OpenOOD v1.5 `she`): score(x) =
 * −⟨h, m_ŷ⟩, with m_c the mean feature of the training images of class c the classifier also
 * predicts as c, and ŷ = argmax z. No hyper-parameters.
 * Details: `docs/internals/detectors.md`.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { predictedClasses } from "../stages/features.ts";
import { checkTrainPenultimate, scoreChecked } from "./checks.ts";
import { artefact, type Detector, fittedDetector } from "./detector.ts";
import { baselineEntry } from "./entry.ts";
import { EmptyClass } from "./mahalanobis.ts";

/** Options of {@link she} (none). */
export type SheOptions = Record<never, never>;

/** The SHE detector: −⟨h, mean correct-training feature of the predicted class⟩. */
export function she(_options: SheOptions = {}): Detector {
  const name = "SHE";
  return {
    name,
    description: "SHE: −inner product of the feature with the mean feature of the correctly " +
      "classified training images of its predicted class (Zhang et al., ICLR 2023; OpenOOD v1.5)",
    fit: (inputs) =>
      Effect.gen(function* () {
        const trainFeatures = inputs.train.features;
        const setName = trainFeatures.name;
        yield* checkTrainPenultimate(name, inputs);
        const labels = trainFeatures.labels ?? inputs.train.images.labels;
        const c = trainFeatures.logits.cols;
        const d = trainFeatures.penultimate.cols;
        const predicted = predictedClasses(trainFeatures.logits);
        const patterns = new Float64Array(c * d);
        const counts = new Float64Array(c);
        for (let i = 0; i < trainFeatures.count; i++) {
          const label = labels[i]!;
          if (predicted[i] !== label) continue;
          counts[label]! += 1;
          for (let k = 0; k < d; k++) {
            patterns[label * d + k]! += trainFeatures.penultimate.data[i * d + k]!;
          }
        }
        const empty = counts.findIndex((n) => n === 0);
        if (empty >= 0) {
          return yield* new EmptyClass({ detector: name, set: setName, label: empty });
        }
        for (let j = 0; j < c; j++) for (let k = 0; k < d; k++) patterns[j * d + k]! /= counts[j]!;
        return fittedDetector({
          score: (set) =>
            scoreChecked(name, set, { penultimate: d, classes: c }, () => {
              const h = set.features.penultimate;
              const top = predictedClasses(set.features.logits);
              return Float64Array.from({ length: h.rows }, (_, i) => {
                let dot = 0;
                for (let k = 0; k < d; k++) dot += h.data[i * d + k]! * patterns[top[i]! * d + k]!;
                return -dot;
              });
            }),
          settings: { metric: "inner_product", patterns: "correct training images" },
          artefacts: [artefact(
            "she-patterns",
            "C × D mean penultimate feature of the correctly classified training images",
            patterns,
            [c, d],
          )],
        });
      }),
  };
}

export const sheEntry = baselineEntry(she, {
  kind: "she",
  title: "SHE",
  source: "Zhang et al., ICLR 2023; OpenOOD `she`",
  options: Schema.Struct({}),
});
