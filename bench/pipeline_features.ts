/**
 * The feature stage of `deno task reproduce` on the mnist benchmark (seed 0's fixture model),
 * with the stage cache off: `prepareBenchmark` on each engine in turn, `--rounds` times. The
 * tfjs engine runs the same built-in pass every product path ran before issue 23; onnxruntime
 * is the default since. Every set is extracted (60,000 training images with class sums at
 * every convolutional block, the ID test, validation and every OOD set).
 *
 *   deno run -A bench/pipeline_features.ts [--rounds 1]
 *
 * Merged into `bench/product_paths.json` under `reproduceFeatureStage`, with `uptime`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Effect } from "effect";
import { GroodLive } from "../lib/pipeline/mod.ts";
import { prepareBenchmark } from "../lib/pipeline/mod.ts";
import { commitOf, mergeProductPaths, uptime } from "./product_paths_file.ts";

const { values } = parseArgs({ options: { rounds: { type: "string" } } });
const rounds = Number(values.rounds ?? 1);

const stage = (engine: "onnx" | "tfjs") =>
  Effect.scoped(Effect.gen(function* () {
    const started = performance.now();
    const prepared = yield* prepareBenchmark({ benchmark: "mnist", engine });
    const images = [
      prepared.train,
      prepared.idTest,
      prepared.idValidation,
      ...prepared.oodTest,
      ...prepared.oodValidation,
    ].reduce((n, s) => n + s.images.count, 0);
    return {
      seconds: (performance.now() - started) / 1000,
      images,
      idAccuracy: prepared.idAccuracy,
    };
  }));

const loadBefore = await uptime();
const runs: Record<string, Array<{ seconds: number; images: number; idAccuracy: number }>> = {};
for (let r = 0; r < rounds; r++) {
  for (const engine of ["tfjs", "onnx"] as const) {
    const result = await Effect.runPromise(
      stage(engine).pipe(Effect.provide(GroodLive({ backend: "wasm", cacheDir: null }))),
    );
    (runs[engine] ??= []).push(result);
    console.log(engine, result);
  }
}
const best = (engine: string) => Math.min(...runs[engine]!.map((r) => r.seconds));
const result = {
  commit: await commitOf(),
  loadBefore,
  loadAfter: await uptime(),
  rounds,
  runs,
  speedUp: best("tfjs") / best("onnx"),
  date: new Date().toISOString(),
};
await mergeProductPaths("reproduceFeatureStage", () => result);
console.log(JSON.stringify(result, null, 2));
