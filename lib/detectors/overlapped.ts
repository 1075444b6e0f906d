/**
 * Scoring a set chunk by chunk with a fitted detector, starting each chunk's score as soon as
 * its forward pass is done and going straight on to the next chunk's forward pass. Whatever a
 * score waits for off the main thread (an IVF index's worker threads, a user's remote index)
 * then runs while the next forward pass computes.
 *
 * The forward pass is any engine's: {@link scoreOverlappedWith} takes the extraction as a
 * function (onnxruntime's `extractWithModel`, say); {@link scoreOverlapped} is it with grood's
 * tfjs network. With onnxruntime the forward pass itself runs off the main thread, so a search
 * on the main thread can run beside it (a guess: not measured since the worker index went).
 *
 * The scores are those of `detector.score` on the whole set (a detector scores each image on
 * its own), in the set's order.
 *
 * @module
 */
import { Effect, Fiber } from "effect";
import { subset } from "../data/images.ts";
import type { ImageSet } from "../data/images.ts";
import type { Classifier } from "../model/classifier.ts";
import { extractFeatures, type SetFeatures } from "../stages/features.ts";
import type { FittedDetector } from "./detector.ts";

/** Options of {@link scoreOverlapped}. */
export interface OverlapOptions {
  /** Images per forward batch (default 500). */
  readonly batchSize?: number;
  /** Images per chunk handed to the detector (default 1,000: two batches). */
  readonly chunkSize?: number;
}

/**
 * Score `images` with `detector`, overlapping each chunk's score with the next chunk's
 * forward pass; `extract` is the forward pass of one chunk (features and logits).
 */
export const scoreOverlappedWith = <E, R>(
  extract: (chunk: ImageSet) => Effect.Effect<SetFeatures, E, R>,
  images: ImageSet,
  detector: FittedDetector,
  options: OverlapOptions = {},
) =>
  Effect.gen(function* () {
    const chunkSize = options.chunkSize ?? 2 * (options.batchSize ?? 500);
    const fibers = [];
    for (let start = 0; start < images.count; start += chunkSize) {
      const end = Math.min(images.count, start + chunkSize);
      const chunk = start === 0 && end === images.count ? images : subset(
        images,
        Array.from({ length: end - start }, (_, i) => start + i),
        images.name,
      );
      const features = yield* extract(chunk);
      fibers.push(yield* Effect.forkChild(detector.score({ images: chunk, features })));
      // Let the new fiber run up to its first asynchronous step (a search posted to a worker)
      // before this one blocks the thread with the next forward pass.
      yield* Effect.yieldNow;
    }
    const scores = new Float64Array(images.count);
    let at = 0;
    for (const fiber of fibers) {
      const part = yield* Fiber.join(fiber);
      scores.set(part, at);
      at += part.length;
    }
    return scores;
  }).pipe(Effect.withSpan("scoreOverlappedWith"));

/** {@link scoreOverlappedWith} with grood's tfjs network as the forward pass. */
export const scoreOverlapped = (
  net: Classifier,
  images: ImageSet,
  detector: FittedDetector,
  options: OverlapOptions = {},
) =>
  scoreOverlappedWith(
    (chunk) =>
      Effect.map(
        extractFeatures(net, chunk, { batchSize: options.batchSize ?? 500 }),
        (e) => e.features,
      ),
    images,
    detector,
    options,
  ).pipe(Effect.withSpan("scoreOverlapped"));
