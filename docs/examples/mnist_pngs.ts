/**
 * Write MNIST images as PNG files, to stand in for a user's own image folders in
 * `docs/guide.md`: `COUNT` images of `SPLIT` (`train` or `test`), the first ones of the split,
 * into `OUT/<digit>/<index>.png` (one subfolder per class, the layout `deno task fit --train`
 * reads). Run from any folder:
 *
 *     deno run -A --config $GROOD/deno.json $GROOD/docs/examples/mnist_pngs.ts train 2000 train
 *
 * @module
 */
import { Effect } from "effect";
import sharp from "sharp";
import { Data } from "grood";

const [split = "", countText = "", out = ""] = Deno.args;
const count = Number(countText);
if ((split !== "train" && split !== "test") || !Number.isInteger(count) || count < 1 || !out) {
  console.error("usage: mnist_pngs.ts train|test COUNT OUT");
  Deno.exit(2);
}
const set = await Effect.runPromise(Data.loadSplit("mnist", split));
const size = 28 * 28;
for (let i = 0; i < Math.min(count, set.labels.length); i++) {
  const folder = `${out}/${set.labels[i]}`;
  await Deno.mkdir(folder, { recursive: true });
  await sharp(set.pixels.subarray(i * size, (i + 1) * size), {
    raw: { width: 28, height: 28, channels: 1 },
  }).png().toFile(`${folder}/${String(i).padStart(5, "0")}.png`);
}
console.log(`${Math.min(count, set.labels.length)} ${split} images → ${out}/<digit>/`);
