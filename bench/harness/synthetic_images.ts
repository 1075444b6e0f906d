/**
 * Synthetic labelled 28×28 grey images for the bounded-memory fit measurement, made batch by
 * batch and never held whole: image g is real training image g mod N (N = the base set's
 * size, its label kept) with seeded uniform noise of ±`noise` grey levels on every pixel, so
 * a classifier trained on the base set still classifies most of them (the index then grows
 * with the image count, as a real larger training set's would). The noise of image g depends
 * only on (seed, g), so any batch size gives the same images.
 *
 * @module
 */
import { Stream } from "effect";
import type { LabelledSet } from "../../lib/data/mod.ts";
import type { TrainingStream } from "../../lib/detectors/mod.ts";

/** Per-image generator state: a 32-bit hash of (seed, image). */
const hash = (seed: number, image: number): number => {
  let h = (Math.imul(image ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(seed + 1, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  return (Math.imul(h ^ (h >>> 15), 0x846ca68b) ^ (h >>> 16)) >>> 0 || 1;
};

/**
 * `count` synthetic images over `base` (see the module doc). `noise` is at most 127 grey
 * levels; values are clamped to [0, 255].
 *
 * @example Same images whatever the batch size
 * ```ts
 * import { Effect, Stream } from "effect";
 * import { syntheticImages } from "./synthetic_images.ts";
 * const base = {
 *   name: "b", count: 2, pixels: new Uint8Array(2 * 784).fill(100),
 *   labels: Uint8Array.of(0, 1), classNames: ["0", "1"],
 * };
 * const all = (size: number) =>
 *   Effect.runSync(Stream.runCollect(syntheticImages(base, 5, 8, 1).batches(size)));
 * const a = Array.from(all(2)).flatMap((b) => Array.from(b.pixels));
 * const b = Array.from(all(5)).flatMap((b) => Array.from(b.pixels));
 * if (a.join() !== b.join() || a.some((v) => v < 92 || v > 108)) throw new Error("wrong images");
 * ```
 */
export function syntheticImages(
  base: LabelledSet,
  count: number,
  noise: number,
  seed: number,
): TrainingStream<never> {
  const per = 28 * 28;
  const span = 2 * noise + 1;
  return {
    description: `synthetic ${count} (${base.name} ± ${noise} noise, seed ${seed})`,
    count,
    shape: { height: 28, width: 28, channels: 1 },
    batches: (batchSize) =>
      Stream.fromIterable({
        *[Symbol.iterator]() {
          for (let start = 0; start < count; start += batchSize) {
            const size = Math.min(batchSize, count - start);
            const pixels = new Uint8Array(size * per);
            const labels = new Uint8Array(size);
            for (let i = 0; i < size; i++) {
              const image = start + i;
              const from = image % base.count;
              labels[i] = base.labels[from]!;
              let state = hash(seed, image);
              for (let p = 0; p < per; p++) {
                // xorshift32: one step per pixel.
                state ^= state << 13;
                state ^= state >>> 17;
                state ^= state << 5;
                const delta = ((state >>> 0) % span) - noise;
                const value = base.pixels[from * per + p]! + delta;
                pixels[i * per + p] = value < 0 ? 0 : value > 255 ? 255 : value;
              }
            }
            yield { start, size, pixels, labels };
          }
        },
        // One batch a chunk: the default (4,096 items a chunk) would make 4,096 batches at once.
      }, { chunkSize: 1 }),
  };
}
