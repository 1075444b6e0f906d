/**
 * MNIST training digits written as `.npy` sets (`<name>.npy`, `<name>.labels.npy`) into a
 * folder, as the tests of `fit`, `score` and fitted folders read them.
 *
 * @module
 */
import { Effect } from "effect";
import { join } from "node:path";
import { loadSplit } from "../lib/data/datasets.ts";
import { writeNpyAtomic } from "../lib/io/npy.ts";

/** The MNIST training split (images and labels), read once for every test that needs it. */
export const mnistTrain = await Effect.runPromise(loadSplit("mnist", "train"));

/** Write `pixels` (N × 28 × 28) as `<dir>/<name>.npy`, and `labels` as `<name>.labels.npy`. */
export async function writeImageSet(
  dir: string,
  name: string,
  pixels: Uint8Array,
  labels?: Uint8Array,
): Promise<void> {
  const count = pixels.length / 784;
  await Effect.runPromise(writeNpyAtomic(join(dir, `${name}.npy`), pixels, [count, 28, 28]));
  if (labels !== undefined) {
    await Effect.runPromise(writeNpyAtomic(join(dir, `${name}.labels.npy`), labels, [count]));
  }
}

/** Write the training digits `start` to `start + count` (with labels) as the set `name`. */
export const writeDigitSet = (dir: string, name: string, start: number, count: number) =>
  writeImageSet(
    dir,
    name,
    mnistTrain.pixels.slice(start * 784, (start + count) * 784),
    mnistTrain.labels.slice(start, start + count),
  );
