/**
 * KLM, KL matching (Hendrycks et al., ICML 2022; OpenOOD v1.5 `klm`): score(x) = min_c KL(p ‖ q_c),
 * p = softmax(z), q_c the mean softmax of the ID validation images predicted as c (one-hot e_c
 * when there is none), KL as `scipy.stats.entropy`. No hyper-parameters.
 * Details: `docs/internals/detectors.md`.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import type { Matrix } from "../matrix.ts";
import { predictedClasses } from "../stages/features.ts";
import { checkSet, finiteMatrix, scoreChecked } from "./checks.ts";
import { type Detector, fittedDetector } from "./detector.ts";
import { baselineEntry } from "./entry.ts";
import { softmaxRow } from "./logits.ts";

/** Options of {@link klm} (none). */
export type KlmOptions = Record<never, never>;

/** KL(p ‖ q) = Σ p_j log(p_j / q_j), with 0·log(0/q) = 0 and p > 0 = q giving +∞. */
export function klDivergence(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let sum = 0;
  for (let j = 0; j < p.length; j++) {
    const pj = p[j]!;
    if (pj === 0) continue;
    if (q[j]! === 0) return Infinity;
    sum += pj * Math.log(pj / q[j]!);
  }
  return sum;
}

/** Mean softmax per predicted class (C × C, row c = template q_c; one-hot when none). */
export function softmaxTemplates(logits: Matrix): Float64Array {
  const c = logits.cols;
  const templates = new Float64Array(c * c);
  const counts = new Float64Array(c);
  const predicted = predictedClasses(logits);
  for (let i = 0; i < logits.rows; i++) {
    const p = softmaxRow(logits.data, i * c, c);
    const top = predicted[i]!;
    counts[top]! += 1;
    for (let j = 0; j < c; j++) templates[top * c + j]! += p[j]!;
  }
  for (let k = 0; k < c; k++) {
    for (let j = 0; j < c; j++) {
      templates[k * c + j] = counts[k] === 0
        ? (j === k ? 1 : 0)
        : templates[k * c + j]! / counts[k]!;
    }
  }
  return templates;
}

/** The KLM detector: smallest KL divergence of the softmax to a class template. */
export function klm(_options: KlmOptions = {}): Detector {
  const name = "KLM";
  return {
    name,
    description: "KLM: min over classes of KL(softmax ‖ mean softmax of the ID validation images " +
      "predicted as that class) (Hendrycks et al., ICML 2022; OpenOOD v1.5)",
    fit: (inputs) =>
      Effect.gen(function* () {
        const validation = inputs.validation.id;
        const c = inputs.train.features.logits.cols;
        yield* checkSet(name, validation, { classes: c });
        yield* finiteMatrix(
          name,
          validation.features.name,
          "the logits",
          validation.features.logits,
        );
        const templates = softmaxTemplates(validation.features.logits);
        return fittedDetector({
          score: (set) =>
            scoreChecked(name, set, { classes: c }, () => {
              const z = set.features.logits;
              return Float64Array.from({ length: z.rows }, (_, i) => {
                const p = softmaxRow(z.data, i * c, c);
                let best = Infinity;
                for (let k = 0; k < c; k++) {
                  best = Math.min(best, klDivergence(p, templates.subarray(k * c, (k + 1) * c)));
                }
                return best;
              });
            }),
          settings: {
            templates: `mean softmax per predicted class of "${validation.features.name}"`,
          },
        });
      }),
  };
}

export const klmEntry = baselineEntry(klm, {
  kind: "klm",
  title: "KLM",
  source: "Hendrycks et al., ICML 2022; OpenOOD `klm`",
  options: Schema.Struct({}),
});
