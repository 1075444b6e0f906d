/**
 * What decoding the product benchmark's PNG folder costs (`bench/product_paths.ts` writes it):
 * `sharp` four images at a time (as `lib/sources/folder.ts` reads a folder) against `fast-png`
 * (synchronous, in the calling thread), after reading every file once.
 *
 *   deno run -A bench/png_decode.ts
 *
 * Merged into `bench/product_paths.json` under `pngDecode`, with `uptime`.
 *
 * @module
 */
import { join } from "node:path";
import { decode } from "fast-png";
import sharp from "sharp";
import { mergeProductPaths, uptime } from "./product_paths_file.ts";

const dir = "/tmp/grood-product-paths/mnist-test-10000";
const loadBefore = await uptime();
const files = [...Deno.readDirSync(dir)]
  .filter((e) => e.name.endsWith(".png"))
  .map((e) => join(dir, e.name))
  .sort();
let t = performance.now();
const bytes = await Promise.all(files.map((f) => Deno.readFile(f)));
const readSeconds = (performance.now() - t) / 1000;
t = performance.now();
for (const b of bytes) decode(b);
const fastPngSeconds = (performance.now() - t) / 1000;
t = performance.now();
for (let i = 0; i < bytes.length; i += 4) {
  await Promise.all(
    bytes.slice(i, i + 4).map((b) => sharp(b).greyscale().resize(28, 28).raw().toBuffer()),
  );
}
const sharpSeconds = (performance.now() - t) / 1000;
const result = {
  loadBefore,
  loadAfter: await uptime(),
  images: files.length,
  readSeconds,
  fastPngSeconds,
  sharpSeconds,
  fastPngImagesPerSecond: files.length / fastPngSeconds,
  sharpImagesPerSecond: files.length / sharpSeconds,
  date: new Date().toISOString(),
};
await mergeProductPaths("pngDecode", () => result);
console.log(JSON.stringify(result, null, 2));
