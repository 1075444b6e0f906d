/**
 * A tfjs LayersModel (saved as model.json + weights.bin) through fit → folder → score, at an
 * input that is not grood's 28×28 grey: 16×16 RGB, so the MNIST arrays are resized and converted
 * by the source on the way in. The folder copies both model files and scores like the fit did.
 */
import assert from "node:assert/strict";
import type * as tfType from "@tensorflow/tfjs";
import { join } from "node:path";
import { Effect } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import { writeNpyAtomic } from "../lib/io/npy.ts";
import { fitDetectorFolder, openFittedDetector, scoreSource } from "../lib/fitted/mod.ts";
import type { ModelSpec } from "../lib/models/model.ts";
import { parseSourceArgument } from "../lib/sources/argument.ts";
import { runScoped, tf } from "./with_compute.ts";

const run = runScoped;

const dir = await Deno.makeTempDir({ prefix: "grood-fitted-tfjs-" });
const modelDir = join(dir, "rgb16");
await Deno.mkdir(modelDir);
const input = tf.input({ shape: [16, 16, 3], name: "image" });
const conv = (name: string, filters: number, strides: number, seed: number) =>
  tf.layers.conv2d({
    filters,
    kernelSize: 3,
    strides,
    padding: "same",
    activation: "relu",
    name,
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
  });
const early = conv("early_block", 8, 2, 1).apply(input) as tfType.SymbolicTensor;
const late = conv("late_block", 16, 2, 2).apply(early) as tfType.SymbolicTensor;
const pooled = tf.layers.globalAveragePooling2d({ name: "features" })
  .apply(late) as tfType.SymbolicTensor;
const logits = tf.layers.dense({
  units: 10,
  name: "scores",
  kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
}).apply(pooled) as tfType.SymbolicTensor;
await tf.model({ inputs: input, outputs: logits }).save(
  tf.io.withSaveHandler(async (artifacts) => {
    await Deno.writeFile(
      join(modelDir, "weights.bin"),
      new Uint8Array(artifacts.weightData as ArrayBuffer),
    );
    await Deno.writeTextFile(
      join(modelDir, "model.json"),
      JSON.stringify({
        format: "layers-model",
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
      }),
    );
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
  }),
);
const spec: ModelSpec = {
  input: {
    height: 16,
    width: 16,
    channels: 3,
    layout: "NHWC",
    scale: 1 / 255,
    mean: [0],
    std: [1],
  },
  taps: { early: "early_block", penultimate: "features", logits: "scores" },
};
await Deno.writeTextFile(join(modelDir, "model-spec.json"), JSON.stringify(spec));

const mnist = await Effect.runPromise(loadSplit("mnist", "train"));
const write = async (name: string, start: number, count: number) => {
  await Effect.runPromise(writeNpyAtomic(
    join(dir, `${name}.npy`),
    mnist.pixels.slice(start * 784, (start + count) * 784),
    [count, 28, 28],
  ));
  await Effect.runPromise(writeNpyAtomic(
    join(dir, `${name}.labels.npy`),
    mnist.labels.slice(start, start + count),
    [count],
  ));
};
await write("train", 0, 600);
await write("val", 600, 200);

Deno.test("a tfjs LayersModel at 16×16 RGB fits, saves and scores like in process", async () => {
  const source = (a: string, labelled = false) =>
    Effect.runPromise(parseSourceArgument(a, dir, { labelled }));
  const validation = await source("val.npy", true);
  const out = join(dir, "detector");
  const manifest = await run(fitDetectorFolder({
    model: modelDir,
    train: await source("train.npy", true),
    validation,
    validationOod: [await source("ood-set:letters-val")],
    out,
  }));
  assert.equal(manifest.model.kind, "tfjs-layers");
  assert.deepEqual(manifest.model.files.map((f) => f.path).sort(), [
    "model/model-spec.json",
    "model/model.json",
    "model/weights.bin",
  ]);
  assert.deepEqual(manifest.model.shapes.input, [16, 16, 3]);
  assert.deepEqual(manifest.model.shapes.early, [8, 8, 8]);
  assert.equal(manifest.detector.settings.earlyBoundary, "early_block");
  assert.equal(manifest.data.train.count, 600);

  const scored = await run(Effect.gen(function* () {
    const detector = yield* openFittedDetector(out);
    assert.deepEqual(detector.inputSpec.shape, { height: 16, width: 16, channels: 3 });
    return yield* scoreSource(detector, validation);
  }));
  const sorted = Float64Array.from(scored.scores).sort();
  const q = manifest.scores.id.quantiles;
  q.forEach((value, i) => {
    const mine = sorted[Math.round((i * (sorted.length - 1)) / (q.length - 1))]!;
    assert.ok(Math.abs(mine - value) <= 1e-6 * Math.max(1, Math.abs(value)), `quantile ${i}`);
  });
  assert.equal(scored.isOod.filter((x) => !x).length / 200, manifest.validation.idKept);
  await Deno.remove(dir, { recursive: true });
});
