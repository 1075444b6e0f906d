/**
 * Run a `FeatureModel` over an image set in batches: preprocess each batch as the model
 * declares, forward it to the requested taps, hand the outputs to the caller. Nothing of a
 * batch is kept after its callback, so memory stays one batch deep.
 *
 * @module
 */
import { Effect } from "effect";
import { batches, channelsOf, type ImageSet } from "../data/images.ts";
import type { ModelError } from "./errors.ts";
import { type FeatureModel, type FeatureTensor, preprocess, type TapName } from "./model.ts";

/** Options of a batched pass. */
export interface TapPassOptions {
  /** Images per forward pass. */
  readonly batchSize?: number;
}

/**
 * For each batch of `set` (uint8 NHWC images at the model's size), the model's values at `taps`; `onBatch`
 * receives the batch start, size and the outputs (in `taps` order).
 */
export const forEachBatch = <E>(
  model: FeatureModel,
  set: ImageSet,
  taps: ReadonlyArray<TapName>,
  onBatch: (
    start: number,
    size: number,
    outputs: ReadonlyArray<FeatureTensor>,
  ) => Effect.Effect<void, E>,
  options: TapPassOptions = {},
): Effect.Effect<void, ModelError | E> =>
  Effect.gen(function* () {
    for (const batch of batches(set, options.batchSize ?? 500)) {
      const x = yield* preprocess(
        model.name,
        model.input,
        batch.pixels,
        batch.size,
        channelsOf(set),
      );
      const outputs = yield* model.forward(x, "input", taps);
      yield* onBatch(batch.start, batch.size, outputs);
      yield* Effect.yieldNow;
    }
  });

/** The values of `taps` for every image of `set`, concatenated (for small sets and tests). */
export const collectTaps = (
  model: FeatureModel,
  set: ImageSet,
  taps: ReadonlyArray<TapName>,
  options: TapPassOptions = {},
): Effect.Effect<ReadonlyArray<FeatureTensor>, ModelError> =>
  Effect.gen(function* () {
    const out = taps.map((t) => {
      const shape = model.shapes[t];
      return {
        data: new Float32Array(set.count * shape.reduce((a, b) => a * b, 1)),
        shape: [set.count, ...shape],
      };
    });
    yield* forEachBatch(model, set, taps, (start, _size, outputs) =>
      Effect.sync(() => {
        outputs.forEach((o, i) => {
          const per = out[i]!.data.length / set.count;
          out[i]!.data.set(o.data, start * per);
        });
      }), options);
    return out;
  });
