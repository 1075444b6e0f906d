/**
 * fDBD, fast decision boundary distance (Liu & Qin, ICML 2024; OpenOOD v1.5 `fdbd`): score(x) =
 * −Σ_{j ≠ ŷ} |z_ŷ − z_j| / ‖w_ŷ − w_j‖ / ‖h − μ_train‖ (or / ‖h‖), the normaliser tuned on
 * validation data unless given.
 * Details: `docs/internals/detectors.md`.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import type { Matrix } from "../matrix.ts";
import { checkTrainPenultimate, requireSetting, scoreChecked } from "./checks.ts";
import { type Detector, type ExtractedSet, fittedDetector } from "./detector.ts";
import { baselineEntry, type Expect, type OptionsMatch } from "./entry.ts";
import { type Head, readHead } from "./logits.ts";
import { tuneUnlessFixed } from "./tune.ts";

const FdbdOptionsSpec = Schema.Struct({
  distanceAsNormalizer: Schema.optionalKey(Schema.Boolean),
});

/** Options of {@link fdbd}. */
export interface FdbdOptions {
  /** Normalise by ‖h − μ_train‖ (true) or ‖h‖ (false); absent: tuned on validation. */
  readonly distanceAsNormalizer?: boolean;
}
type _Checked = Expect<OptionsMatch<FdbdOptions, typeof FdbdOptionsSpec>>;

/** D-vector mean of the rows. */
export function columnMeans(m: Matrix): Float64Array {
  const out = new Float64Array(m.cols);
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < m.cols; j++) out[j]! += m.data[i * m.cols + j]!;
  }
  return out.map((v) => v / m.rows);
}

/** ‖w_p − w_j‖ for every class pair (C × C; the diagonal is 1, as the reference sets it). */
export function boundaryDenominators(head: Head): Float64Array {
  const { inputSize: d, numClasses: c, kernel } = head;
  const out = new Float64Array(c * c);
  for (let p = 0; p < c; p++) {
    for (let j = 0; j < c; j++) {
      if (p === j) {
        out[p * c + j] = 1;
        continue;
      }
      let sum = 0;
      for (let k = 0; k < d; k++) sum += (kernel[k * c + j]! - kernel[k * c + p]!) ** 2;
      out[p * c + j] = Math.sqrt(sum);
    }
  }
  return out;
}

/** fDBD scores −Σ_j |z_ŷ − z_j| / ‖w_ŷ − w_j‖ / ‖h − centre‖ of every row. */
export function fdbdScores(
  features: Matrix,
  logits: Matrix,
  denominators: Float64Array,
  centre: Float64Array | undefined,
): Float64Array {
  const { rows, cols: d } = features;
  const c = logits.cols;
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let top = 0;
    for (let j = 1; j < c; j++) if (logits.data[i * c + j]! > logits.data[i * c + top]!) top = j;
    const zTop = logits.data[i * c + top]!;
    let sum = 0;
    for (let j = 0; j < c; j++) {
      sum += Math.abs(zTop - logits.data[i * c + j]!) / denominators[top * c + j]!;
    }
    let norm = 0;
    for (let k = 0; k < d; k++) norm += (features.data[i * d + k]! - (centre?.[k] ?? 0)) ** 2;
    out[i] = -sum / Math.sqrt(norm);
  }
  return out;
}

/** The fDBD detector. */
export function fdbd(options: FdbdOptions = {}): Detector {
  const name = "fDBD";
  const fixed = options.distanceAsNormalizer;
  return {
    name,
    description: "fDBD: summed logit gaps to the top class over the weight-vector distances, " +
      `divided by ${
        fixed === undefined
          ? "‖h − μ_train‖ or ‖h‖ (tuned on validation)"
          : fixed
          ? "‖h − μ_train‖"
          : "‖h‖"
      } (Liu & Qin, ICML 2024)`,
    fit: (inputs) =>
      Effect.gen(function* () {
        const trainFeatures = inputs.train.features;
        const head = yield* readHead(name, inputs);
        const d = head.inputSize;
        yield* checkTrainPenultimate(name, inputs, { penultimate: d });
        yield* requireSetting(head.numClasses >= 2, name, "classes", head.numClasses, "≥ 2");
        const trainMean = columnMeans(trainFeatures.penultimate);
        const denominators = boundaryDenominators(head);
        const expected = { penultimate: d, classes: head.numClasses };
        const scoreWith = (distance: boolean) => (set: ExtractedSet) =>
          scoreChecked(name, set, expected, () =>
            fdbdScores(
              set.features.penultimate,
              set.features.logits,
              denominators,
              distance ? trainMean : undefined,
            ));
        // 1 = distance to the training mean, 0 = norm (OpenOOD's order: True first).
        const { chosen, tuned } = yield* tuneUnlessFixed(
          fixed === undefined ? undefined : Number(fixed),
          {
            detector: name,
            parameter: "distanceAsNormalizer",
            grid: [1, 0],
            validation: inputs.validation,
            candidate: (value) => Effect.succeed({ score: scoreWith(value === 1) }),
          },
        );
        const distance = chosen === 1;
        return fittedDetector({
          score: scoreWith(distance),
          settings: { distanceAsNormalizer: distance },
          tuned,
        });
      }),
  };
}

export const fdbdEntry = baselineEntry(fdbd, {
  kind: "fdbd",
  title: "fDBD",
  source: "Liu & Qin, ICML 2024; OpenOOD `fdbd`",
  options: FdbdOptionsSpec,
});
