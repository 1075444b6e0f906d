/**
 * The feature pass inside grood's extraction against onnxruntime alone, on the same 10,000
 * mnist test images and batch (500), in one process, alternating, best of `--runs`:
 *
 * - `onnxAlone`: the exported graph's session run on the calling thread on pre-made input
 *   batches (no preprocessing, no copies, no checks): the engine's own speed;
 * - `extractOnnx`: `extractFeatures` on `openModel(mnist fixture)` (grood's CNN on its default
 *   engine, onnxruntime): what the pipeline, `fit`, `score` and the service run;
 * - `extractTfjs`: the same on the tfjs engine (the engine every product path used before);
 * - `extractOnnx2Threads`: `extractOnnx` with two onnxruntime intra-op threads (the product
 *   paths' parallel forward option; one thread is the default).
 *
 *   deno run -A bench/extraction_pass.ts [--runs 3]
 *
 * Merged into `bench/product_paths.json` under `extraction`, with `uptime` and the commit.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Effect } from "effect";
import { Compute } from "../mod.ts";
import { loadSplit } from "../lib/data/mod.ts";
import { fixtureDir } from "../lib/benchmarks/mod.ts";
import { loadClassifier } from "../lib/model/mod.ts";
import { classifierToOnnx } from "../lib/models/mod.ts";
import { onnxSession, runSession } from "../lib/models/mod.ts";
import { encodeOnnx, extractSubgraph } from "../lib/models/mod.ts";
import { groodTaps } from "../lib/models/mod.ts";
import { groodOnnxModel } from "../lib/models/mod.ts";
import { openModel } from "../lib/models/mod.ts";
import { extractFeatures } from "../lib/stages/mod.ts";
import { commitOf, mergeProductPaths, uptime } from "./product_paths_file.ts";

const { values } = parseArgs({ options: { runs: { type: "string" } } });
const runs = Number(values.runs ?? 3);
const BATCH = 500;
const COUNT = 10_000;

const program = Effect.scoped(Effect.gen(function* () {
  const { tf } = yield* Compute;
  const test = yield* loadSplit("mnist", "test");
  const set = { ...test, name: "mnist-test", count: COUNT };
  const { net, key } = yield* loadClassifier(tf, fixtureDir("mnist"));
  const { model: graph, spec } = classifierToOnnx(net);
  const sub = yield* extractSubgraph("m", graph, ["input"], [
    spec.taps.penultimate,
    spec.taps.logits,
  ]);
  const session = yield* onnxSession("m", encodeOnnx(sub), { thread: "caller" });
  const inputs = Array.from({ length: COUNT / BATCH }, (_, b) => ({
    data: Float32Array.from(
      test.pixels.subarray(b * BATCH * 784, (b + 1) * BATCH * 784),
      (v) => v / 255,
    ),
    shape: [BATCH, 1, 28, 28],
  }));
  const onnxModel = yield* openModel(fixtureDir("mnist"), { groodEngine: "onnx" });
  const tfjsModel = yield* openModel(fixtureDir("mnist"), { groodEngine: "tfjs" });
  const twoThreads = yield* groodOnnxModel(tf, net, "m", key, groodTaps(net), { threads: 2 });
  const ways = {
    onnxAlone: Effect.forEach(
      inputs,
      (x) => runSession(session, "input", x, [spec.taps.penultimate, spec.taps.logits]),
      { discard: true },
    ),
    extractOnnx: Effect.asVoid(extractFeatures(onnxModel, set, { batchSize: BATCH })),
    extractTfjs: Effect.asVoid(extractFeatures(tfjsModel, set, { batchSize: BATCH })),
    extractOnnx2Threads: Effect.asVoid(extractFeatures(twoThreads, set, { batchSize: BATCH })),
  };
  const best: Record<string, number> = {};
  for (let run = -1; run < runs; run++) {
    for (const [name, way] of Object.entries(ways)) {
      const t = performance.now();
      yield* way;
      const rate = COUNT / ((performance.now() - t) / 1000);
      if (run >= 0) best[name] = Math.max(best[name] ?? 0, rate);
    }
  }
  net.dispose();
  return best;
}));

const loadBefore = await uptime();
const best = await Effect.runPromise(program.pipe(Effect.provide(Compute.layer("wasm"))));
const result = {
  commit: await commitOf(),
  loadBefore,
  loadAfter: await uptime(),
  images: COUNT,
  batch: BATCH,
  runs,
  imagesPerSecond: best,
  extractOnnxOverOnnxAlone: best.extractOnnx! / best.onnxAlone!,
  extractOnnxOverTfjs: best.extractOnnx! / best.extractTfjs!,
  twoThreadsOverOne: best.extractOnnx2Threads! / best.extractOnnx!,
  date: new Date().toISOString(),
};
await mergeProductPaths("extraction", () => result);
console.log(JSON.stringify(result, null, 2));
