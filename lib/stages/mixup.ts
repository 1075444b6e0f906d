/**
 * Stage 2, mix-up: the OOD prototype. GROOD's own source is the *targeted* mix-up at an early
 * layer: for a training sample x whose second-most-likely class is c₂ (from the logits),
 * mix its early features with that class's early prototype,
 * `m = λ·early(x) + (1−λ)·P_early[c₂]`, forward `m` through the remaining blocks, and average
 * the penultimate features of those mixes. The mixes sit between a class and its most
 * confusable neighbour: synthetic "near the boundary" samples, with no outlier data.
 *
 * Other sources, for ablations: the mean of the class prototypes, smoothed uniform-noise
 * images, and validation-OOD images (the API takes only sets whose role is validation: test
 * OOD data can never shape the detector).
 *
 * @module
 */
import { Effect } from "effect";
import { InvalidParameter } from "../errors.ts";
import {
  channelsOf,
  IMAGE_SIDE,
  IMAGE_SIZE,
  type ImageSet,
  type LabelledSet,
  subset,
} from "../data/images.ts";
import { forEachBatch, pipelinedBatches } from "../models/batches.ts";
import type { ModelError } from "../models/errors.ts";
import { type NonFiniteOutput, requireFiniteOutputs } from "../models/finite.ts";
import { type FeatureModel, preprocess, sizeOf } from "../models/model.ts";
import { type Matrix, meanRow, row } from "../matrix.ts";
import { mulberry32, permutation } from "../random.ts";
import type { SetFeatures } from "./features.ts";
import type { Prototypes } from "./prototype.ts";

export { InvalidParameter };

/**
 * Defaults of the targeted mix-up.
 * - `lambda` 0.5: the value the official implementation actually runs (its config's 0.8 is
 *   never read); equal weight puts the mix half-way to the confusable class.
 * - `samples` 10,000: a seeded subset of the training set; the mean of 10,000 penultimate
 *   features is stable to well under 1% and costs a sixth of a full pass.
 */
export const MIXUP_DEFAULTS = { lambda: 0.5, samples: 10_000, seed: 0 } as const;

/** Parameters of the targeted mix-up. */
export interface MixupOptions {
  /** Weight of the sample's own early features, in [0, 1]. */
  readonly lambda: number;
  /**
   * Number of training samples to mix (a seeded subset), or "all"; absent: the default,
   * min(10,000, training images) (`mixupSamples`).
   */
  readonly samples?: number | "all" | undefined;
  /** Seed of the subset of training samples mixed (same seed, same subset). */
  readonly seed: number;
  /** Images per forward pass (default 500). */
  readonly batchSize?: number;
}

/**
 * The number of images the mix-up mixes out of `total` training images when `samples` is
 * absent: min(`MIXUP_DEFAULTS.samples`, total), so the default adapts to a small training set;
 * a value given is kept (a count above `total` is the caller's to refuse or cap).
 */
export const mixupSamples = (
  samples: number | "all" | undefined,
  total: number,
): number | "all" => samples ?? Math.min(MIXUP_DEFAULTS.samples, total);

/** The index of the second-largest value of each row. */
export function secondLargest(logits: Matrix): Uint8Array {
  const out = new Uint8Array(logits.rows);
  for (let i = 0; i < logits.rows; i++) {
    const r = row(logits, i);
    let first = 0;
    let second = -1;
    for (let j = 1; j < r.length; j++) {
      if (r[j]! > r[first]!) {
        second = first;
        first = j;
      } else if (second < 0 || r[j]! > r[second]!) {
        second = j;
      }
    }
    out[i] = second;
  }
  return out;
}

/** Which training images a mix-up mixes, and the class each one is pulled towards. */
export interface MixupPlan {
  /** Indices into the training set, in mixing order. */
  readonly chosen: Uint32Array;
  /** Each training image's second-most-likely class (from its logits). */
  readonly targets: Uint8Array;
}

/**
 * Check λ and the sample count, then choose which of `total` training images to mix (seeded):
 * it needs only the count, so GROOD's fit (`lib/detectors/grood_chunks.ts`) knows the choice
 * before its pass, whether the training set is in memory or streamed.
 */
export const mixupChoice = (
  total: number,
  options: MixupOptions,
): Effect.Effect<Uint32Array, InvalidParameter> =>
  Effect.gen(function* () {
    const { lambda } = options;
    if (!(lambda >= 0 && lambda <= 1)) {
      return yield* new InvalidParameter({ name: "lambda", value: lambda, expected: "0 ≤ λ ≤ 1" });
    }
    const samples = mixupSamples(options.samples, total);
    const wanted = samples === "all" ? total : samples;
    if (!(Number.isInteger(wanted) && wanted >= 1)) {
      return yield* new InvalidParameter({
        name: "samples",
        value: samples,
        expected: `"all" or a whole number ≥ 1`,
      });
    }
    // The default is min(10,000, total). Specs asking for more samples than the training set has
    // are rejected before any computation (`checkPipeline`/`checkAblation`, `fit`); a count
    // above `total` given in code mixes every image (GROOD's settings report the count used).
    const count = Math.min(wanted, total);
    return count === total
      ? Uint32Array.from({ length: count }, (_, i) => i)
      : permutation(total, options.seed).subarray(0, count);
  });

/**
 * Check λ and the sample count, then choose the images to mix (seeded) and their targets, from
 * a set's features in memory: the pairs GROOD's fit gathers chunk by chunk (`summariseChunk`).
 */
export const mixupPlan = (
  train: LabelledSet,
  trainFeatures: SetFeatures,
  options: MixupOptions,
): Effect.Effect<MixupPlan, InvalidParameter> =>
  Effect.map(
    mixupChoice(train.count, options),
    (chosen) => ({ chosen, targets: secondLargest(trainFeatures.logits) }),
  );

/** Ablation: the OOD prototype is the mean of the class prototypes (no mix-up). */
export function meanOfPrototypes(prototypes: Prototypes): Float32Array {
  return meanRow(prototypes.penultimate);
}

/**
 * `count` smoothed uniform-noise images: uniform [0, 255] pixels blurred by a Gaussian whose σ
 * is drawn per image from [0.5, 3] (seeded). Blur gives the noise spatial structure at several
 * scales, as the reference's blurred-noise source does.
 */
export function smoothedNoiseImages(count: number, seed: number): ImageSet {
  const random = mulberry32(seed);
  const pixels = new Uint8Array(count * IMAGE_SIZE);
  const plane = new Float32Array(IMAGE_SIZE);
  const scratch = new Float32Array(IMAGE_SIZE);
  for (let n = 0; n < count; n++) {
    for (let i = 0; i < IMAGE_SIZE; i++) plane[i] = random() * 255;
    const sigma = 0.5 + 2.5 * random();
    const radius = Math.ceil(3 * sigma);
    const kernel = Float32Array.from(
      { length: 2 * radius + 1 },
      (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)),
    );
    const norm = kernel.reduce((a, b) => a + b, 0);
    // Separable blur with clamped edges: rows into scratch, then columns back into plane.
    for (
      const [from, to, horizontal] of [[plane, scratch, true], [scratch, plane, false]] as const
    ) {
      for (let y = 0; y < IMAGE_SIDE; y++) {
        for (let x = 0; x < IMAGE_SIDE; x++) {
          let acc = 0;
          for (let k = -radius; k <= radius; k++) {
            const xx = horizontal ? Math.min(IMAGE_SIDE - 1, Math.max(0, x + k)) : x;
            const yy = horizontal ? y : Math.min(IMAGE_SIDE - 1, Math.max(0, y + k));
            acc += kernel[k + radius]! * from[yy * IMAGE_SIDE + xx]!;
          }
          to[y * IMAGE_SIDE + x] = acc / norm;
        }
      }
    }
    for (let i = 0; i < IMAGE_SIZE; i++) pixels[n * IMAGE_SIZE + i] = Math.round(plane[i]!);
  }
  return { name: `noise(seed ${seed})`, count, pixels };
}

/**
 * The OOD prototype by targeted mix-up at the model's early tap, over a training set and its
 * features in memory: the stage on its own (`mixupPlan`, then `mixupImages`), with the bits of
 * GROOD's fit, which gathers the same images and targets chunk by chunk (`grood_core.ts`).
 */
export const mixupWithModel: (
  model: FeatureModel,
  train: LabelledSet,
  trainFeatures: SetFeatures,
  prototypes: Prototypes,
  options: MixupOptions,
) => Effect.Effect<Float32Array, InvalidParameter | ModelError | NonFiniteOutput> = Effect.fn(
  "mixupWithModel",
)(function* (
  model: FeatureModel,
  train: LabelledSet,
  trainFeatures: SetFeatures,
  prototypes: Prototypes,
  options: MixupOptions,
) {
  const { chosen, targets } = yield* mixupPlan(train, trainFeatures, options);
  return yield* mixupImages(
    model,
    subset(train, chosen, `${train.name}/mixup`),
    Uint8Array.from(chosen, (i) => targets[i]!),
    prototypes,
    options,
  );
});

/**
 * The mix-up itself: the mean penultimate feature of `images` (in order) with their early
 * features mixed with the early prototype of `targets[i]` (one class per image). Batches
 * start at image 0, so any caller that gathers the same images in the same order (GROOD's
 * fit, `mixupWithModel`) gets the same bits.
 */
export const mixupImages: (
  model: FeatureModel,
  images: ImageSet,
  targets: Uint8Array,
  prototypes: Prototypes,
  options: Pick<MixupOptions, "lambda" | "batchSize">,
) => Effect.Effect<Float32Array, InvalidParameter | ModelError | NonFiniteOutput> = Effect.fn(
  "mixupImages",
)(function* (
  model: FeatureModel,
  images: ImageSet,
  targets: Uint8Array,
  prototypes: Prototypes,
  options: Pick<MixupOptions, "lambda" | "batchSize">,
) {
  const { lambda } = options;
  const earlySize = sizeOf(model.shapes.early);
  if (prototypes.early.cols !== earlySize) {
    return yield* new InvalidParameter({
      name: "prototypes.early",
      value: prototypes.early.cols,
      expected: `${earlySize} values per class (the size of tap "${model.taps.early}")`,
    });
  }
  const dim = sizeOf(model.shapes.penultimate);
  const sums = new Float64Array(dim);
  // The next batch's early features are computed while this batch is mixed and run through the
  // rest of the network (in parallel when the model's forward from the input runs on an
  // onnxruntime worker; GROOD mixes grood's CNN on its tfjs network, where nothing overlaps).
  yield* pipelinedBatches(
    images,
    options.batchSize ?? 500,
    (batch) =>
      Effect.flatMap(
        preprocess(model.name, model.input, batch.pixels, batch.size, channelsOf(images)),
        (x) => model.forward(x, "input", ["early"]),
      ),
    (batch, [early]) =>
      Effect.gen(function* () {
        const mixed = new Float32Array(early!.data.length);
        for (let i = 0; i < batch.size; i++) {
          const target = targets[batch.start + i]!;
          const proto = prototypes.early.data.subarray(
            target * earlySize,
            (target + 1) * earlySize,
          );
          const offset = i * earlySize;
          for (let j = 0; j < earlySize; j++) {
            mixed[offset + j] = lambda * early!.data[offset + j]! + (1 - lambda) * proto[j]!;
          }
        }
        const [h] = yield* model.forward({ data: mixed, shape: early!.shape }, "early", [
          "penultimate",
        ]);
        yield* requireFiniteOutputs(
          {
            model: model.name,
            set: `${images.name} (mixed)`,
            start: batch.start,
            rows: batch.size,
          },
          [["penultimate features", h!]],
        );
        for (let i = 0; i < batch.size; i++) {
          for (let j = 0; j < dim; j++) sums[j]! += h!.data[i * dim + j]!;
        }
      }),
  );
  return Float32Array.from(sums, (s) => s / images.count);
});

/**
 * Mean penultimate feature of a set of images (validation-OOD or noise images) on `model`, any
 * kind (grood's CNN too): float64 sums of the float32 features, divided once.
 */
export const meanPenultimate: (
  model: FeatureModel,
  images: ImageSet,
  batchSize?: number,
) => Effect.Effect<Float32Array, ModelError | NonFiniteOutput> = Effect.fn("meanPenultimate")(
  function* (
    model: FeatureModel,
    images: ImageSet,
    batchSize = 500,
  ) {
    const dim = sizeOf(model.shapes.penultimate);
    const sums = new Float64Array(dim);
    yield* forEachBatch(
      model,
      images,
      ["penultimate"],
      (start, size, [h]) =>
        requireFiniteOutputs({ model: model.name, set: images.name, start, rows: size }, [
          ["penultimate features", h!],
        ]).pipe(Effect.map(() => {
          for (let i = 0; i < size; i++) {
            for (let j = 0; j < dim; j++) sums[j]! += h!.data[i * dim + j]!;
          }
        })),
      { batchSize },
    );
    return Float32Array.from(sums, (s) => s / images.count);
  },
);
