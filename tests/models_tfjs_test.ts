import assert from "node:assert/strict";
import type * as tfType from "@tensorflow/tfjs";
import { join } from "node:path";
import { Effect } from "effect";
import type { FeatureTensor, ModelSpec } from "../lib/models/model.ts";
import { inspectModel, openModel } from "../lib/models/registry.ts";
import { runScoped, scopedFailure, tf } from "./with_compute.ts";

const dir = await Deno.makeTempDir();
const run = runScoped;
const failure = scopedFailure;
const maxDiff = (a: Float32Array, b: Float32Array) => {
  assert.equal(a.length, b.length);
  return a.reduce((d, v, i) => Math.max(d, Math.abs(v - b[i]!)), 0);
};
const writeJson = (path: string, value: unknown) =>
  Deno.writeTextFile(path, JSON.stringify(value, null, 1));

// A functional LayersModel with a residual merge, saved the way tfjs saves (model.json +
// weights.bin), then opened from disk by grood.
const layersDir = join(dir, "layers");
await Deno.mkdir(layersDir);

const input = tf.input({ shape: [8, 8, 1], name: "image" });
const c1 = tf.layers.conv2d({
  filters: 4,
  kernelSize: 3,
  padding: "same",
  activation: "relu",
  name: "c1",
  kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
}).apply(input) as tfType.SymbolicTensor;
const c2 = tf.layers.conv2d({
  filters: 4,
  kernelSize: 3,
  strides: 2,
  padding: "same",
  activation: "relu",
  name: "early_block",
  kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
}).apply(c1) as tfType.SymbolicTensor;
const c3 = tf.layers.conv2d({
  filters: 4,
  kernelSize: 3,
  padding: "same",
  name: "c3",
  kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
}).apply(c2) as tfType.SymbolicTensor;
const merged = tf.layers.add({ name: "residual" }).apply([c2, c3]) as tfType.SymbolicTensor;
const pooled = tf.layers.globalAveragePooling2d({ name: "features" }).apply(
  merged,
) as tfType.SymbolicTensor;
const logits = tf.layers.dense({
  units: 3,
  name: "scores",
  kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }),
}).apply(pooled) as tfType.SymbolicTensor;
const keras = tf.model({ inputs: input, outputs: logits });
await keras.save(tf.io.withSaveHandler(async (artifacts) => {
  await Deno.writeFile(
    join(layersDir, "weights.bin"),
    new Uint8Array(artifacts.weightData as ArrayBuffer),
  );
  await writeJson(join(layersDir, "model.json"), {
    format: "layers-model",
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: ["weights.bin"], weights: artifacts.weightSpecs }],
  });
  return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
}));
const layersSpec: ModelSpec = {
  input: { height: 8, width: 8, channels: 1, layout: "NHWC", scale: 1 / 255, mean: [0], std: [1] },
  taps: { early: "early_block", penultimate: "features", logits: "scores" },
};
await writeJson(join(layersDir, "model-spec.json"), layersSpec);
const x: FeatureTensor = {
  data: Float32Array.from({ length: 2 * 64 }, (_, i) => Math.sin(i)),
  shape: [2, 8, 8, 1],
};

Deno.test("a tfjs LayersModel from disk: taps, and tap-to-tap through a residual merge", async () => {
  await run(Effect.gen(function* () {
    const model = yield* openModel(layersDir);
    assert.equal(model.kind, "tfjs-layers");
    assert.deepEqual(model.shapes.early, [4, 4, 4]);
    const [early, pen, out] = yield* model.forward(x, "input", ["early", "penultimate", "logits"]);
    const expected = tf.tidy(() =>
      (keras.predict(tf.tensor(x.data, [2, 8, 8, 1])) as tfType.Tensor).dataSync() as Float32Array
    );
    assert.ok(maxDiff(out!.data, expected) < 1e-5);
    const [pen2, out2] = yield* model.forward(early!, "early", ["penultimate", "logits"]);
    assert.ok(maxDiff(pen!.data, pen2!.data) < 1e-6);
    assert.ok(maxDiff(out!.data, out2!.data) < 1e-6);
    // Edited early features: by hand, features = mean(e + conv3(e)), through the loaded layers.
    const edited = { data: early!.data.map((v) => v * 0.5 + 0.1), shape: early!.shape };
    const [penEdited] = yield* model.forward(edited, "early", ["penultimate"]);
    const byHand = tf.tidy(() => {
      const e = tf.tensor(edited.data, [2, 4, 4, 4]);
      const c = keras.getLayer("c3").apply(e) as tfType.Tensor;
      return tf.mean(tf.add(e, c), [1, 2]).dataSync() as Float32Array;
    });
    assert.ok(maxDiff(penEdited!.data, byHand) < 1e-5);
  }));
});

Deno.test("a tfjs LayersModel with a missing layer or the wrong input size gives typed errors", async () => {
  const missing = await failure(
    openModel(layersDir, {
      spec: { ...layersSpec, taps: { ...layersSpec.taps, penultimate: "nope" } },
    }),
  );
  assert.equal(missing._tag, "MissingTap");
  assert.match(missing.message, /layers.*"nope".*penultimate/);
  const shape = await failure(
    openModel(layersDir, { spec: { ...layersSpec, input: { ...layersSpec.input, height: 9 } } }),
  );
  assert.equal(shape._tag, "InputShapeMismatch");
  assert.match(shape.message, /"image"/);
});

// A GraphModel written by hand in tfjs's GraphDef JSON: image → Relu (early) → Mean (pool) → MatMul.
const graphDir = join(dir, "graph");
await Deno.mkdir(graphDir);
const floatAttr = { T: { type: "DT_FLOAT" } };
await writeJson(join(graphDir, "model.json"), {
  format: "graph-model",
  modelTopology: {
    node: [
      {
        name: "image",
        op: "Placeholder",
        attr: {
          dtype: { type: "DT_FLOAT" },
          shape: { shape: { dim: [{ size: "-1" }, { size: "2" }, { size: "2" }, { size: "1" }] } },
        },
      },
      { name: "early", op: "Relu", input: ["image"], attr: floatAttr },
      {
        name: "axes",
        op: "Const",
        attr: {
          value: { tensor: { dtype: "DT_INT32", tensorShape: { dim: [{ size: "2" }] } } },
          dtype: { type: "DT_INT32" },
        },
      },
      {
        name: "pool",
        op: "Mean",
        input: ["early", "axes"],
        attr: { keep_dims: { b: false }, ...floatAttr },
      },
      {
        name: "w",
        op: "Const",
        attr: {
          value: {
            tensor: { dtype: "DT_FLOAT", tensorShape: { dim: [{ size: "1" }, { size: "3" }] } },
          },
          dtype: { type: "DT_FLOAT" },
        },
      },
      {
        name: "logits",
        op: "MatMul",
        input: ["pool", "w"],
        attr: { transpose_a: { b: false }, transpose_b: { b: false }, ...floatAttr },
      },
    ],
    versions: { producer: 1 },
  },
  weightsManifest: [{
    paths: ["weights.bin"],
    weights: [{ name: "axes", shape: [2], dtype: "int32" }, {
      name: "w",
      shape: [1, 3],
      dtype: "float32",
    }],
  }],
});
const weights = new Uint8Array(20);
new Int32Array(weights.buffer, 0, 2).set([1, 2]);
new Float32Array(weights.buffer, 8, 3).set([1, -2, 0.5]);
await Deno.writeFile(join(graphDir, "weights.bin"), weights);
const graphSpec: ModelSpec = {
  input: { height: 2, width: 2, channels: 1, layout: "NHWC", scale: 1, mean: [0], std: [1] },
  taps: { early: "early", penultimate: "pool", logits: "logits" },
};
await writeJson(join(graphDir, "model-spec.json"), graphSpec);

Deno.test("a tfjs GraphModel: forward from the input and from a fed node, checked by hand", async () => {
  await run(Effect.gen(function* () {
    const model = yield* openModel(graphDir);
    assert.equal(model.kind, "tfjs-graph");
    const image = { data: new Float32Array([1, -2, 3, 6, -1, -1, -1, -1]), shape: [2, 2, 2, 1] };
    const [pen, out] = yield* model.forward(image, "input", ["penultimate", "logits"]);
    // relu then mean: (1 + 0 + 3 + 6) / 4 = 2.5 and 0; logits = pool × [1, -2, 0.5].
    assert.deepEqual([...pen!.data], [2.5, 0]);
    assert.deepEqual([...out!.data], [2.5, -5, 1.25, 0, 0, 0]);
    const [fromEarly] = yield* model.forward(
      { data: new Float32Array([4, 4, 4, 4]), shape: [1, 2, 2, 1] },
      "early",
      ["logits"],
    );
    assert.deepEqual([...fromEarly!.data], [4, -8, 2]);
    // The head is the MatMul's constant (no bias node: b = 0); h·W + b gives the logits.
    const head = yield* model.head!;
    assert.deepEqual([...head.kernel], [1, -2, 0.5]);
    assert.deepEqual([...head.bias], [0, 0, 0]);
  }));
  const missing = await failure(
    openModel(graphDir, { spec: { ...graphSpec, taps: { ...graphSpec.taps, early: "relu9" } } }),
  );
  assert.equal(missing._tag, "MissingTap");
});

Deno.test("inspect lists a tfjs model's layers or nodes with shapes and proposes its taps", async () => {
  const layers = await run(inspectModel(layersDir));
  assert.equal(layers.inspection.kind, "tfjs-layers");
  assert.equal(layers.specPath, join(layersDir, "model-spec.json"));
  const shapes = Object.fromEntries(layers.inspection.tensors.map((t) => [t.name, t.shape]));
  assert.deepEqual(shapes["image"], [-1, 8, 8, 1]);
  assert.deepEqual(shapes["early_block"], [-1, 4, 4, 4]);
  assert.deepEqual(shapes["scores"], [-1, 3]);
  // The end of the first downsampled stage (after the residual merge), the pooled features
  // feeding the last Dense layer, and the output.
  assert.deepEqual(layers.inspection.proposed, {
    early: "residual",
    penultimate: "features",
    logits: "scores",
  });
  const graph = await run(inspectModel(graphDir));
  assert.equal(graph.inspection.kind, "tfjs-graph");
  const graphShapes = Object.fromEntries(graph.inspection.tensors.map((t) => [t.name, t.shape]));
  assert.deepEqual(graphShapes["pool"], [-1, 1]);
  assert.deepEqual(graphShapes["logits"], [-1, 3]);
  // No tensor is smaller than the input: the early tap is the last 4-D one before the head.
  assert.deepEqual(graph.inspection.proposed, {
    early: "early",
    penultimate: "pool",
    logits: "logits",
  });
});

Deno.test("cleanup", () => {
  keras.dispose();
  return Deno.remove(dir, { recursive: true });
});
