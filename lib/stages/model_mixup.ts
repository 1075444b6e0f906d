/**
 * GROOD's targeted mix-up (see `mixup.ts` for the method) over any `FeatureModel`: early
 * features from the input, mixed with the early prototype of each sample's second-most-likely
 * class, then forwarded from the early tap to the penultimate one (a cut of the model's graph).
 * Plugged into GROOD as a custom OOD-prototype source, it makes GROOD run on ONNX and tfjs
 * models.
 *
 * @module
 */
import { Effect } from "effect";
import { batches, channelsOf, type ImageSet, type LabelledSet, subset } from "../data/images.ts";
import { forEachBatch } from "../models/batches.ts";
import { requireFiniteOutputs } from "../models/finite.ts";
import { InvalidParameter } from "../errors.ts";
import { type FeatureModel, preprocess, sizeOf } from "../models/model.ts";
import type { SetFeatures } from "./features.ts";
import { type MixupOptions, mixupPlan } from "./mixup.ts";
import type { Prototypes } from "./prototype.ts";

/** The OOD prototype by targeted mix-up at the model's early tap. */
export const mixupWithModel = Effect.fn("mixupWithModel")(function* (
  model: FeatureModel,
  train: LabelledSet,
  trainFeatures: SetFeatures,
  prototypes: Prototypes,
  options: MixupOptions,
) {
  // The same subset and targets as `mixupOodPrototype`, so both engines mix the same pairs.
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
 * start at image 0, so any caller that gathers the same images in the same order (the
 * streamed fit) gets the same bits.
 */
export const mixupImages = Effect.fn("mixupImages")(function* (
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
  for (const batch of batches(images, options.batchSize ?? 500)) {
    const x = yield* preprocess(
      model.name,
      model.input,
      batch.pixels,
      batch.size,
      channelsOf(images),
    );
    const [early] = yield* model.forward(x, "input", ["early"]);
    const mixed = new Float32Array(early!.data.length);
    for (let i = 0; i < batch.size; i++) {
      const target = targets[batch.start + i]!;
      const proto = prototypes.early.data.subarray(target * earlySize, (target + 1) * earlySize);
      const offset = i * earlySize;
      for (let j = 0; j < earlySize; j++) {
        mixed[offset + j] = lambda * early!.data[offset + j]! + (1 - lambda) * proto[j]!;
      }
    }
    const [h] = yield* model.forward({ data: mixed, shape: early!.shape }, "early", [
      "penultimate",
    ]);
    yield* requireFiniteOutputs(
      { model: model.name, set: `${images.name} (mixed)`, start: batch.start, rows: batch.size },
      [["penultimate features", h!]],
    );
    for (let i = 0; i < batch.size; i++) {
      for (let j = 0; j < dim; j++) sums[j]! += h!.data[i * dim + j]!;
    }
    yield* Effect.yieldNow;
  }
  return Float32Array.from(sums, (s) => s / images.count);
});

/**
 * Mean penultimate feature of a set of images (validation-OOD or noise images) on `model`, any
 * kind (grood's CNN too): float64 sums of the float32 features, divided once.
 */
export const meanPenultimate = Effect.fn("meanPenultimate")(function* (
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
});
