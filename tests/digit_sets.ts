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
import { parseSourceArgument } from "../lib/sources/argument.ts";

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

/**
 * The training and validation sets of the fitted-folder tests: digits 0–599 as `train.npy` and
 * 600–799 as `val.npy` in `dir`, opened as labelled sources.
 */
export async function digitFitSources(dir: string) {
  await writeDigitSet(dir, "train", 0, 600);
  await writeDigitSet(dir, "val", 600, 200);
  const source = (argument: string) =>
    Effect.runPromise(parseSourceArgument(argument, dir, { labelled: true }));
  return { train: await source("train.npy"), validation: await source("val.npy") };
}
