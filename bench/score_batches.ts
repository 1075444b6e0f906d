/**
 * A fitted folder's scoring alone, in one process: the PNG folder of `bench/product_paths.ts`
 * is decoded once (timed: the source's own reader), then `scoreImages` runs over the decoded
 * batches twice (the second run reported), so the figure is the model's forward pass and the
 * detector's scorer without decode or process start.
 *
 *   deno run -A bench/score_batches.ts --label L FOLDER…
 *
 * Merged into `bench/product_paths.json` under `scoreBatches.<label>`, with `uptime`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { basename } from "node:path";
import { Effect, Stream } from "effect";
import { openFittedDetector } from "../lib/fitted/mod.ts";
import { openSource } from "../lib/sources/mod.ts";
import { parseSourceArgument } from "../lib/sources/mod.ts";
import { mergeProductPaths, uptime } from "./product_paths_file.ts";

const { values, positionals } = parseArgs({
  options: { label: { type: "string" } },
  allowPositionals: true,
});
const pngDir = "/tmp/grood-product-paths/mnist-test-10000";

const measure = (folder: string) =>
  Effect.scoped(Effect.gen(function* () {
    const detector = yield* openFittedDetector(folder);
    const source = yield* parseSourceArgument(pngDir, "/");
    const shape = detector.inputSpec.shape;
    let t = performance.now();
    const opened = yield* openSource(source.spec, { baseDir: source.baseDir, shape });
    const batches: Array<{ size: number; pixels: Uint8Array }> = [];
    yield* Stream.runForEach(
      opened.batches(512),
      (b) => Effect.sync(() => batches.push({ size: b.size, pixels: b.pixels })),
    );
    const decodeSeconds = (performance.now() - t) / 1000;
    let scoreSeconds = 0;
    for (let run = 0; run < 2; run++) {
      t = performance.now();
      for (const b of batches) {
        yield* detector.scoreImages({ count: b.size, shape, pixels: b.pixels });
      }
      scoreSeconds = (performance.now() - t) / 1000;
    }
    const images = batches.reduce((n, b) => n + b.size, 0);
    return { images, decodeSeconds, scoreSeconds, scoreImagesPerSecond: images / scoreSeconds };
  }));

const loadBefore = await uptime();
const results: Record<string, unknown> = {};
for (const folder of positionals) {
  results[basename(folder)] = await Effect.runPromise(measure(folder));
  console.log(basename(folder), results[basename(folder)]);
}
const measured = { loadBefore, loadAfter: await uptime(), results };
await mergeProductPaths("scoreBatches", (previous) => ({
  ...previous as object,
  [values.label ?? "run"]: measured,
}));
