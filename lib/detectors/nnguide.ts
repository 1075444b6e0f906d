/**
 * NNGuide (Park et al., ICCV 2023; OpenOOD v1.5 `nnguide`): score(x) = −logsumexp(z) times the
 * mean of the K largest inner products of n(h) = h/‖h‖ + 1e-10 with a bank g_b = n(h_b)·
 * logsumexp(z_b) of a seeded random ⌈α·N⌉ training images. Defaults K = min(100, bank), α = 0.01.
 * Details: `docs/internals/detectors.md`.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { type Matrix, matrix, rowNorms, takeRows } from "../matrix.ts";
import { checkSet, finiteMatrix, requireSetting, scoreChecked } from "./checks.ts";
import { type Detector, fittedDetector } from "./detector.ts";
import {
  baselineEntry,
  type Expect,
  optionDefaults,
  type OptionsMatch,
  PositiveInt,
  Probability,
  Seed,
  withDefault,
} from "./entry.ts";
import { permutation } from "../random.ts";
import { rowLogSumExp } from "./logits.ts";

const NnGuideOptionsSpec = Schema.Struct({
  k: Schema.optionalKey(PositiveInt),
  alpha: withDefault(Probability, 0.01),
  seed: withDefault(Seed, 0),
});

/** Options of {@link nnGuide}. */
export interface NnGuideOptions {
  /**
   * Neighbours averaged; absent: min(100, bank size), so the reference's K = 100 adapts to a
   * training set whose bank ⌈α·N⌉ holds fewer images (a K given beyond the bank is refused).
   */
  readonly k?: number;
  /** Share of the training set in the bank (default 0.01). */
  readonly alpha?: number;
  /** Seed of the random draw of the bank (default 0). */
  readonly seed?: number;
}
type _Checked = Expect<OptionsMatch<NnGuideOptions, typeof NnGuideOptionsSpec>>;
const NNGUIDE_DEFAULTS = optionDefaults(NnGuideOptionsSpec);

/** h/‖h‖ + 1e-10 per row (the reference's normaliser; float64 norms), in a plain loop. */
export function nnGuideNormalise(features: Matrix): Matrix {
  const { rows, cols, data } = features;
  const norms = rowNorms(data, rows, cols);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const norm = norms[i]!;
    for (let j = 0; j < cols; j++) {
      out[i * cols + j] = (norm === 0 ? 0 : data[i * cols + j]! / norm) + 1e-10;
    }
  }
  return matrix(rows, cols, out);
}

/** Mean of the k largest inner products of each query row with the bank rows. */
export function meanTopInnerProducts(queries: Matrix, bank: Matrix, k: number): Float64Array {
  const { rows, cols: d } = queries;
  const out = new Float64Array(rows);
  const products = new Float64Array(bank.rows);
  for (let i = 0; i < rows; i++) {
    for (let b = 0; b < bank.rows; b++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += queries.data[i * d + j]! * bank.data[b * d + j]!;
      products[b] = dot;
    }
    products.sort();
    let sum = 0;
    for (let r = bank.rows - k; r < bank.rows; r++) sum += products[r]!;
    out[i] = sum / k;
  }
  return out;
}

/** The reference's K (`configs/postprocessors/nnguide.yml`). */
const NNGUIDE_K = 100;

/** The NNGuide detector. */
export function nnGuide(options: NnGuideOptions = {}): Detector {
  const name = "NNGuide";
  const { alpha, seed } = { ...NNGUIDE_DEFAULTS, ...options };
  return {
    name,
    description:
      `NNGuide: energy times the mean of the ${
        options.k ?? "min(100, bank)"
      } largest inner products with an ` +
      `energy-weighted bank of a random ${100 * alpha}% of the training features (seed ${seed}; ` +
      "Park et al., ICCV 2023)",
    fit: (inputs) =>
      Effect.gen(function* () {
        const trainFeatures = inputs.train.features;
        const d = trainFeatures.penultimate.cols;
        const c = trainFeatures.logits.cols;
        yield* checkSet(name, inputs.train, {});
        yield* requireSetting(alpha > 0 && alpha <= 1, name, "alpha", alpha, "a share in (0, 1]");
        const size = Math.ceil(alpha * trainFeatures.count);
        const k = options.k ?? Math.min(NNGUIDE_K, size);
        yield* requireSetting(
          Number.isInteger(k) && k >= 1 && k <= size,
          name,
          "k",
          k,
          `an integer in [1, ${size}] (the bank holds ⌈α·N⌉ = ${size} training images)`,
        );
        // The first `size` entries of a seeded permutation, in index order.
        const rows = permutation(trainFeatures.count, seed).slice(0, size).sort();
        const bankFeatures = takeRows(trainFeatures.penultimate, rows);
        const bankLogits = takeRows(trainFeatures.logits, rows);
        yield* finiteMatrix(name, trainFeatures.name, "the penultimate features", bankFeatures);
        yield* finiteMatrix(name, trainFeatures.name, "the logits", bankLogits);
        const energy = rowLogSumExp(bankLogits);
        const normalised = nnGuideNormalise(bankFeatures);
        const bank = matrix(
          size,
          d,
          Float32Array.from(normalised.data, (v, i) => v * energy[Math.floor(i / d)]!),
        );
        return fittedDetector({
          score: (set) =>
            scoreChecked(name, set, { penultimate: d, classes: c }, () => {
              const guidance = meanTopInnerProducts(
                nnGuideNormalise(set.features.penultimate),
                bank,
                k,
              );
              const lse = rowLogSumExp(set.features.logits);
              return Float64Array.from(guidance, (g, i) => -g * lse[i]!);
            }),
          settings: { k, alpha, bank: size, bankDraw: "random", seed },
        });
      }),
  };
}

export const nnGuideEntry = baselineEntry(nnGuide, {
  kind: "nnguide",
  title: "NNGuide",
  source: "Park et al., ICCV 2023; OpenOOD `nnguide`",
  options: NnGuideOptionsSpec,
});
