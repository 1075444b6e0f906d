/**
 * `deno task engines [--model DIR] [--batch 500] [--runs 3] [--skip-grood] [--out FILE]`:
 * grood's classifier on tfjs (wasm) against the same classifier exported to ONNX and run by
 * onnxruntime, on the `mnist` benchmark:
 *
 * 1. agreement: the largest difference of early features, penultimate features and logits
 *    over the 10,000 test images;
 * 2. GROOD (defaults: mix-up λ 0.5 on 10,000 training images, exact 1-NN) fitted and scored
 *    on each engine's features, its AUROC per OOD test set on each, and the difference;
 * 3. feature throughput (penultimate + logits, images/s, same batch; best of `--runs`):
 *    tfjs wasm (the pipeline's `extractFeatures`), onnxruntime with 1 and 2 intra-op threads
 *    (through the `FeatureModel` interface, preprocessing included).
 *
 * Results go to `results/engines.json` (atomically) with the load average, since the machine
 * may be shared.
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import { join } from "node:path";
import { loadavg } from "node:os";
import { enginesTask } from "../apps/cli/commands/engines.ts";
import { invocationPath, resultsFile, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { Compute } from "../mod.ts";
import { loadBenchmark } from "../lib/benchmarks/mod.ts";
import type { ImageSet } from "../lib/data/mod.ts";
import { type Detector, type ExtractedSet, grood } from "../lib/detectors/mod.ts";
import { tryIo, writeFile, writeJson } from "../lib/io/mod.ts";
import { fixtureDir } from "../lib/benchmarks/mod.ts";
import { loadClassifier } from "../lib/model/mod.ts";
import {
  classifierToOnnx,
  encodeOnnx,
  type FeatureModel,
  groodFeatureModel,
  openOnnxModel,
} from "../lib/models/mod.ts";
import { auroc, extractFeatures, type Extraction } from "../lib/stages/mod.ts";

const { values } = await taskInput(enginesTask);
const batchSize = values.batch;
const runs = values.runs;
const log = (line: string) => console.log(line);
const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((d, v, i) => Math.max(d, Math.abs(v - b[i]!)), 0);

/** Best-of-`runs` images/s of an extraction pass over `set`. */
const throughput = <E, R>(set: ImageSet, pass: () => Effect.Effect<unknown, E, R>) =>
  Effect.gen(function* () {
    const rates: Array<number> = [];
    for (let r = 0; r < runs; r++) {
      const started = performance.now();
      yield* pass();
      rates.push(set.count / ((performance.now() - started) / 1000));
    }
    return { best: Math.max(...rates), runs: rates.map(Math.round), load: loadavg()[0] };
  });

const program = Effect.scoped(Effect.gen(function* () {
  const { tf } = yield* Compute;
  const modelDir = values.model === undefined ? fixtureDir("mnist") : invocationPath(values.model);
  const out = yield* resultsFile(values.out, "results/engines.json", {
    overwrite: values.overwrite,
    inputs: [modelDir],
  });
  const { net } = yield* Effect.acquireRelease(
    loadClassifier(tf, modelDir),
    (l) => Effect.sync(() => l.net.dispose()),
  );
  const tfjsModel = yield* groodFeatureModel(tf, net, modelDir);
  const exported = classifierToOnnx(net);
  const tempDir = yield* tryIo("(a temporary folder)", "create", () => Deno.makeTempDir());
  const onnxPath = join(tempDir, "model.onnx");
  yield* writeFile(onnxPath, encodeOnnx(exported.model));
  const onnx = (threads: number): Effect.Effect<FeatureModel, unknown, Scope.Scope> =>
    openOnnxModel(onnxPath, exported.spec, { threads });
  const onnx1 = yield* onnx(1);
  const bench = yield* loadBenchmark("mnist");
  const test = bench.idTest;
  log(
    `model ${modelDir}; ${test.count} ID test images, batch ${batchSize}, load ${
      loadavg()[0]!.toFixed(1)
    }`,
  );

  // 1. Agreement on the test images (the early tap is compared in tests/models_onnx_test.ts).
  const tfjsTest = yield* extractFeatures(tfjsModel, test, { batchSize });
  const onnxTest = yield* extractFeatures(onnx1, test, { batchSize });
  const agreement = {
    penultimate: maxDiff(tfjsTest.features.penultimate.data, onnxTest.features.penultimate.data),
    logits: maxDiff(tfjsTest.features.logits.data, onnxTest.features.logits.data),
  };
  log(
    `max |tfjs − onnx|: penultimate ${agreement.penultimate.toExponential(2)}, logits ${
      agreement.logits.toExponential(2)
    }`,
  );

  // 2. GROOD on each engine.
  let groodResult: unknown = "skipped";
  if (!values["skip-grood"]) {
    const fitAndScore = (
      detector: Detector,
      model: FeatureModel,
      train: Extraction,
      extract: (set: ImageSet) => Effect.Effect<Extraction, unknown, Compute>,
    ) =>
      Effect.gen(function* () {
        const idTest: ExtractedSet = { images: test, features: (yield* extract(test)).features };
        const fitted = yield* detector.fit({
          model,
          train: {
            images: bench.train,
            features: train.features,
            classSums: train.classSums,
            key: `engines:${model.name}`,
          },
          validation: { id: idTest, ood: [] },
        });
        const idScores = yield* fitted.score(idTest);
        const out: Record<string, number> = {};
        for (const ood of bench.oodTest) {
          const scores = yield* fitted.score({
            images: ood.images,
            features: (yield* extract(ood.images)).features,
          });
          out[ood.images.name] = yield* auroc(idScores, scores);
        }
        fitted.dispose();
        return out;
      });
    const started = performance.now();
    const tfjsTrain = yield* extractFeatures(tfjsModel, bench.train, {
      batchSize,
      classSumsAt: ["block1"],
    });
    const tfjsAuroc = yield* fitAndScore(
      grood(),
      tfjsModel,
      tfjsTrain,
      (set) => extractFeatures(tfjsModel, set, { batchSize }),
    );
    log(`GROOD on tfjs done (${((performance.now() - started) / 1000).toFixed(0)}s)`);
    const onnxTrain = yield* extractFeatures(onnx1, bench.train, {
      batchSize,
      earlyClassSums: true,
    });
    // The ONNX model has no tfjs network: GROOD's mix-up runs on onnxruntime (`mixupImages`).
    const onnxAuroc = yield* fitAndScore(
      grood({ earlyBoundary: onnx1.taps.early }),
      onnx1,
      onnxTrain,
      (set) => extractFeatures(onnx1, set, { batchSize }),
    );
    const rows = Object.keys(tfjsAuroc).map((set) => ({
      set,
      tfjs: 100 * tfjsAuroc[set]!,
      onnx: 100 * onnxAuroc[set]!,
      difference: 100 * Math.abs(tfjsAuroc[set]! - onnxAuroc[set]!),
    }));
    for (const r of rows) {
      log(
        `GROOD AUROC ${r.set.padEnd(24)} tfjs ${r.tfjs.toFixed(2)}  onnx ${
          r.onnx.toFixed(2)
        }  |Δ| ${r.difference.toFixed(3)} points`,
      );
    }
    groodResult = rows;
  }

  // 3. Throughput, same set and batch.
  const onnx2 = yield* onnx(2);
  const speed = {
    tfjsWasm: yield* throughput(test, () => extractFeatures(tfjsModel, test, { batchSize })),
    onnx1Thread: yield* throughput(test, () => extractFeatures(onnx1, test, { batchSize })),
    onnx2Threads: yield* throughput(test, () => extractFeatures(onnx2, test, { batchSize })),
  };
  for (const [name, s] of Object.entries(speed)) {
    log(
      `features ${name.padEnd(13)} ${s.best.toFixed(0)} images/s (runs ${s.runs.join(", ")}; load ${
        s.load!.toFixed(1)
      })`,
    );
  }
  yield* writeJson(out, {
    model: modelDir,
    batchSize,
    images: test.count,
    agreement,
    grood: groodResult,
    throughput: speed,
    createdAt: new Date().toISOString(),
  });
  log(`wrote ${out}`);
}));

await runTask(program);
