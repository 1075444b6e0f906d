/**
 * Run a `FeatureModel` over an image set in batches. The next batch's forward starts before
 * the caller's work on this one, so the two overlap when the model runs on a worker thread
 * (`onnx_session.ts`); memory stays two batches deep.
 *
 * @module
 */
import { Effect, Fiber } from "effect";
import { type Batch, batches, channelsOf, type ImageSet } from "../data/images.ts";
import type { ModelError } from "./errors.ts";
import {
  type FeatureModel,
  type FeatureTensor,
  preprocess,
  sizeOf,
  type TapName,
} from "./model.ts";

/** Options of a batched pass. */
export interface TapPassOptions {
  /** Images per forward pass. */
  readonly batchSize?: number;
}

/**
 * `forward` of every batch of `set`, handed to `onBatch` in order; the forward of batch n + 1
 * starts before `onBatch` of batch n. A failure of either interrupts the forward in flight.
 */
export const pipelinedBatches = <A, E1, E2>(
  set: ImageSet,
  batchSize: number,
  forward: (batch: Batch) => Effect.Effect<A, E1>,
  onBatch: (batch: Batch, result: A) => Effect.Effect<void, E2>,
): Effect.Effect<void, E1 | E2> =>
  Effect.gen(function* () {
    const all = [...batches(set, batchSize)];
    if (all.length === 0) return;
    let next = yield* Effect.forkChild(forward(all[0]!));
    // A failed batch stops the forward in flight too, even when the caller recovers.
    yield* Effect.gen(function* () {
      for (let i = 0; i < all.length; i++) {
        const result = yield* Fiber.join(next);
        if (i + 1 < all.length) next = yield* Effect.forkChild(forward(all[i + 1]!));
        yield* onBatch(all[i]!, result);
        yield* Effect.yieldNow;
      }
    }).pipe(Effect.onError(() => Fiber.interrupt(next)));
  });

/** The model's values at `taps` (in order) of each batch of `set`, given to `onBatch`. */
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
  pipelinedBatches(
    set,
    options.batchSize ?? 500,
    (batch) =>
      Effect.flatMap(
        preprocess(model.name, model.input, batch.pixels, batch.size, channelsOf(set)),
        (x) => model.forward(x, "input", taps),
      ),
    (batch, outputs) => onBatch(batch.start, batch.size, outputs),
  );

/** The values of `taps` for every image of `set`, concatenated (for small sets and tests). */
export const collectTaps = (
  model: FeatureModel,
  set: ImageSet,
  taps: ReadonlyArray<TapName>,
  options: TapPassOptions = {},
): Effect.Effect<ReadonlyArray<FeatureTensor>, ModelError> =>
  Effect.gen(function* () {
    const shapes = taps.map((t) => [set.count, ...model.shapes[t]]);
    const out = shapes.map((shape) => ({ data: new Float32Array(sizeOf(shape)), shape }));
    yield* forEachBatch(model, set, taps, (start, _size, outputs) =>
      Effect.sync(() =>
        outputs.forEach((o, i) =>
          out[i]!.data.set(o.data, start * sizeOf(shapes[i]!.slice(1)))
        )
      ), options);
    return out;
  });
