/**
 * What the cluster test (`tests/cluster_test.ts`) and `grood bench cluster` score: a GROOD
 * detector fitted with `grood fit` on 2,000 MNIST training images (the committed classifier),
 * and `count` images as one `.npy` (MNIST test, then MNIST training images from 2,000 on: none
 * trained on).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect } from "effect";
import { Data, Io } from "../../mod.ts";
import { DENO, groodArgs } from "./loopback.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** Fit the detector into `dir/detector` and write `dir/images.npy`; returns their paths. */
export const clusterFixture = async (
  dir: string,
  count: number,
): Promise<{ readonly detector: string; readonly images: string }> => {
  const train = await Effect.runPromise(Data.loadSplit("mnist", "train"));
  const test = await Effect.runPromise(Data.loadSplit("mnist", "test"));
  const per = 28 * 28;
  await Effect.runPromise(
    Io.writeNpyAtomic(join(dir, "train.npy"), train.pixels.slice(0, 2000 * per), [2000, 28, 28]),
  );
  await Effect.runPromise(
    Io.writeNpyAtomic(join(dir, "train.labels.npy"), train.labels.slice(0, 2000), [2000]),
  );
  const pixels = new Uint8Array(count * per);
  const fromTest = Math.min(count, test.count);
  pixels.set(test.pixels.subarray(0, fromTest * per));
  if (count > fromTest) {
    if (2000 + count - fromTest > train.count) throw new Error(`at most ${test.count + 58000}`);
    pixels.set(train.pixels.subarray(2000 * per, (2000 + count - fromTest) * per), fromTest * per);
  }
  await Effect.runPromise(Io.writeNpyAtomic(join(dir, "images.npy"), pixels, [count, 28, 28]));
  const fit = await new Deno.Command(DENO, {
    args: groodArgs([
      "fit",
      "--model",
      join(root, "fixtures/models/mnist"),
      "--train",
      "train.npy",
      "--out",
      "detector",
    ]),
    cwd: dir,
    env: { NO_COLOR: "1", INIT_CWD: dir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!fit.success) throw new Error(`fit failed: ${new TextDecoder().decode(fit.stderr)}`);
  return { detector: join(dir, "detector"), images: join(dir, "images.npy") };
};
