/**
 * Stage 2, mix-up: the OOD prototype. GROOD's own source mixes a training sample's early
 * features with the early prototype of its second-most-likely class c₂,
 * `m = λ·early(x) + (1−λ)·P_early[c₂]`, forwards `m` through the remaining blocks and averages
 * the penultimate features: synthetic samples near the class boundaries, with no outlier data.
 * Ablation sources: the mean of the class prototypes, smoothed noise, validation-OOD images
 * (never test OOD). Defaults and their reasons: docs/internals/pipeline.md.
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

/** Defaults of the targeted mix-up (the reference's λ; why: docs/internals/pipeline.md). */
export const MIXUP_DEFAULTS = { lambda: 0.5, samples: 10_000, seed: 0 } as const;

/** Parameters of the targeted mix-up. */
export interface MixupOptions {
  /** Weight of the sample's own early features, in [0, 1]. */
  readonly lambda: number;
  /** Training samples to mix (a seeded subset), or "all"; default: `mixupSamples`. */
  readonly samples?: number | "all" | undefined;
  /** Seed of the subset of training samples mixed (same seed, same subset). */
  readonly seed: number;
  /** Images per forward pass (default 500). */
  readonly batchSize?: number;
}

/** `samples`, or when absent min(`MIXUP_DEFAULTS.samples`, `total` training images). */
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
interface MixupPlan {
  /** Indices into the training set, in mixing order. */
  readonly chosen: Uint32Array;
  /** Each training image's second-most-likely class (from its logits). */
  readonly targets: Uint8Array;
}

/** Check λ and the sample count, then choose which of `total` training images to mix (seeded). */
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
    // Specs asking for more than `total` are refused earlier; in code, more mixes every image.
    const count = Math.min(wanted, total);
    return count === total
      ? Uint32Array.from({ length: count }, (_, i) => i)
      : permutation(total, options.seed).subarray(0, count);
  });

/** {@link mixupChoice} and each image's target class, from a set's features in memory. */
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

/** `count` seeded uniform-noise images, each blurred by a Gaussian of σ drawn in [0.5, 3]. */
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

/** The OOD prototype by targeted mix-up, over a training set and its features in memory. */
export const mixupWithModel: (
  model: FeatureModel,
  train: LabelledSet,
  trainFeatures: SetFeatures,
  prototypes: Prototypes,
  options: MixupOptions,
) => Effect.Effect<Float32Array, InvalidParameter | ModelError | NonFiniteOutput> = Effect.fn(
  "mixupWithModel",
)(function* (model, train, trainFeatures, prototypes, options) {
  const { chosen, targets } = yield* mixupPlan(train, trainFeatures, options);
  return yield* mixupImages(
    model,
    subset(train, chosen, `${train.name}/mixup`),
    Uint8Array.from(chosen, (i) => targets[i]!),
    prototypes,
    options,
  );
});

/** Add the first `rows` rows of `data` (of `sums.length` values each) into `sums`, in order. */
const addRows = (sums: Float64Array, data: Float32Array, rows: number) => {
  const n = sums.length;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < n; j++) sums[j]! += data[i * n + j]!;
  }
};

/**
 * The mix-up itself: the mean penultimate feature of `images` with their early features mixed
 * with the early prototype of `targets[i]`. Batches start at image 0, so the same images in the
 * same order give the same bits.
 */
export const mixupImages: (
  model: FeatureModel,
  images: ImageSet,
  targets: Uint8Array,
  prototypes: Prototypes,
  options: Pick<MixupOptions, "lambda" | "batchSize">,
) => Effect.Effect<Float32Array, InvalidParameter | ModelError | NonFiniteOutput> = Effect.fn(
  "mixupImages",
)(function* (model, images, targets, prototypes, options) {
  const { lambda } = options;
  const earlySize = sizeOf(model.shapes.early);
  if (prototypes.early.cols !== earlySize) {
    return yield* new InvalidParameter({
      name: "prototypes.early",
      value: prototypes.early.cols,
      expected: `${earlySize} values per class (the size of tap "${model.taps.early}")`,
    });
  }
  const proto = prototypes.early.data;
  const sums = new Float64Array(sizeOf(model.shapes.penultimate));
  // The next batch's early features are computed while this one is mixed and run on (in parallel
  // on an onnxruntime worker).
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
          const from = targets[batch.start + i]! * earlySize;
          for (let j = 0; j < earlySize; j++) {
            const k = i * earlySize + j;
            mixed[k] = lambda * early!.data[k]! + (1 - lambda) * proto[from + j]!;
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
        addRows(sums, h!.data, batch.size);
      }),
  );
  return Float32Array.from(sums, (s) => s / images.count);
});

/** Mean penultimate feature of `images` (validation-OOD or noise) on `model`, summed in float64. */
export const meanPenultimate: (
  model: FeatureModel,
  images: ImageSet,
  batchSize?: number,
) => Effect.Effect<Float32Array, ModelError | NonFiniteOutput> = Effect.fn("meanPenultimate")(
  function* (model, images, batchSize = 500) {
    const sums = new Float64Array(sizeOf(model.shapes.penultimate));
    yield* forEachBatch(
      model,
      images,
      ["penultimate"],
      (start, size, [h]) =>
        requireFiniteOutputs({ model: model.name, set: images.name, start, rows: size }, [
          ["penultimate features", h!],
        ]).pipe(Effect.map(() => addRows(sums, h!.data, size))),
      { batchSize },
    );
    return Float32Array.from(sums, (s) => s / images.count);
  },
);
