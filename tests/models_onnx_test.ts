import assert from "node:assert/strict";
import { join } from "node:path";
import { Cause, Effect, Exit } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import { subset } from "../lib/data/images.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { loadClassifier } from "../lib/model/store.ts";
import { collectTaps } from "../lib/models/batches.ts";
import { classifierToOnnx, samePadding } from "../lib/models/export_onnx.ts";
import { groodFeatureModel } from "../lib/models/grood_cnn.ts";
import type { FeatureTensor, ModelSpec } from "../lib/models/model.ts";
import { openOnnxModel } from "../lib/models/onnx.ts";
import { encodeOnnx, extractSubgraph, listTensors } from "../lib/models/onnx_graph.ts";
import { runScoped, scopedFailure, tf } from "./with_compute.ts";

const { net } = await Effect.runPromise(loadClassifier(tf, fixtureDir("mnist")));
const exported = classifierToOnnx(net);
const dir = await Deno.makeTempDir();
const onnxPath = join(dir, "mnist.onnx");
await Deno.writeFile(onnxPath, encodeOnnx(exported.model));
const test = await Effect.runPromise(loadSplit("mnist", "test"));
const images = subset(test, Array.from({ length: 300 }, (_, i) => i * 7), "mnist-300");

const run = runScoped;
const failure = scopedFailure;
const maxDiff = (a: Float32Array, b: Float32Array) => {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};
/** NCHW → NHWC, to compare ONNX early features with tfjs's. */
const toNhwc = (t: FeatureTensor) => {
  const [n, c, h, w] = t.shape as [number, number, number, number];
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < c; k++) {
      for (let y = 0; y < h * w; y++) {
        out[(i * h * w + y) * c + k] = t.data[(i * c + k) * h * w + y]!;
      }
    }
  }
  return out;
};

Deno.test("samePadding matches TensorFlow's 'same' rule (extra row after)", () => {
  assert.deepEqual(samePadding(28, 3, 1), [1, 1]);
  assert.deepEqual(samePadding(28, 3, 2), [0, 1]);
  assert.deepEqual(samePadding(14, 1, 2), [0, 0]);
  assert.deepEqual(samePadding(7, 3, 2), [1, 1]);
});

Deno.test("grood's CNN exported to ONNX gives tfjs's early, penultimate and logits within 1e-4", async () => {
  const [onnxOut, tfjsOut] = await run(Effect.gen(function* () {
    const onnxModel = yield* openOnnxModel(onnxPath, exported.spec);
    const tfjsModel = yield* groodFeatureModel(tf, net, "mnist fixture");
    assert.deepEqual(onnxModel.shapes.early, [32, 14, 14]);
    assert.deepEqual(tfjsModel.shapes.early, [14, 14, 32]);
    const taps = ["early", "penultimate", "logits"] as const;
    return [
      yield* collectTaps(onnxModel, images, taps, { batchSize: 128 }),
      yield* collectTaps(tfjsModel, images, taps, { batchSize: 128 }),
    ];
  }));
  assert.ok(maxDiff(toNhwc(onnxOut[0]!), tfjsOut[0]!.data) < 1e-4);
  assert.ok(maxDiff(onnxOut[1]!.data, tfjsOut[1]!.data) < 1e-4);
  assert.ok(maxDiff(onnxOut[2]!.data, tfjsOut[2]!.data) < 1e-4);
  // Not trivially equal: the logits spread over several units.
  assert.ok(Math.max(...onnxOut[2]!.data) - Math.min(...onnxOut[2]!.data) > 5);
});

Deno.test("tap-to-tap: edited early features through the cut graph match tfjs and the whole graph", async () => {
  await run(Effect.gen(function* () {
    const onnxModel = yield* openOnnxModel(onnxPath, exported.spec);
    const x = {
      data: new Float32Array(4 * 784).map((_, i) => (i * 37 % 255) / 255),
      shape: [4, 1, 28, 28],
    };
    const [early, pen, logits] = yield* onnxModel.forward(x, "input", [
      "early",
      "penultimate",
      "logits",
    ]);
    // Unedited: the cut graph reproduces the whole graph's outputs.
    const [pen2, logits2] = yield* onnxModel.forward(early!, "early", ["penultimate", "logits"]);
    assert.ok(maxDiff(pen!.data, pen2!.data) < 1e-5);
    assert.ok(maxDiff(logits!.data, logits2!.data) < 1e-5);
    // Edited (a mix-up of two samples): compare with tfjs run from block1 on the same values.
    const mixed = early!.data.map((v, i) =>
      0.5 * v + 0.5 * early!.data[(i + 6272) % early!.data.length]!
    );
    const [penMixed] = yield* onnxModel.forward({ data: mixed, shape: early!.shape }, "early", [
      "penultimate",
    ]);
    const expected = tf.tidy(() =>
      net.forward(tf.tensor(toNhwc({ data: mixed, shape: early!.shape }), [4, 14, 14, 32]), {
        from: "block1",
        to: "pool",
      }).dataSync() as Float32Array
    );
    assert.ok(maxDiff(penMixed!.data, expected) < 1e-4);
    assert.ok(maxDiff(penMixed!.data, pen!.data) > 1e-2, "the edit changed the features");
  }));
});

Deno.test("sub-graph extraction keeps only the needed nodes and weights", async () => {
  const sub = await Effect.runPromise(
    extractSubgraph("m", exported.model, ["block3"], ["head"]),
  );
  const ops = sub.graph!.node!.map((n) => n.opType);
  assert.deepEqual(ops, ["GlobalAveragePool", "Flatten", "Gemm"]);
  assert.deepEqual(sub.graph!.initializer!.map((t) => t.name), ["head/W", "head/B"]);
  assert.equal(listTensors(exported.model)[0]!.name, "input");
});

Deno.test("bad models give typed errors naming the model and the tensor", async () => {
  const missing = await failure(
    openOnnxModel(onnxPath, { ...exported.spec, taps: { ...exported.spec.taps, early: "block9" } }),
  );
  assert.equal(missing._tag, "MissingTap");
  assert.match(missing.message, /mnist\.onnx.*"block9".*early/);

  const wrongSize: ModelSpec = {
    ...exported.spec,
    input: { ...exported.spec.input, height: 32, width: 32 },
  };
  const shape = await failure(openOnnxModel(onnxPath, wrongSize));
  assert.equal(shape._tag, "InputShapeMismatch");
  assert.match(shape.message, /mnist\.onnx.*"input"/);

  const absent = await failure(openOnnxModel(join(dir, "nope.onnx"), exported.spec));
  assert.equal(absent._tag, "ModelUnreadable");
  assert.match(absent.message, /nope\.onnx/);

  const corruptPath = join(dir, "corrupt.onnx");
  await Deno.writeFile(corruptPath, new TextEncoder().encode("this is not a protobuf at all"));
  const corrupt = await failure(openOnnxModel(corruptPath, exported.spec));
  assert.equal(corrupt._tag, "ModelUnreadable");

  const backwards = await failure(Effect.gen(function* () {
    const m = yield* openOnnxModel(onnxPath, exported.spec);
    yield* m.forward({ data: new Float32Array(64), shape: [1, 64] }, "penultimate", ["early"]);
  }));
  assert.equal(backwards._tag, "TapDoesNotCut");
  assert.match(backwards.message, /"pool" to "block1".*"input"/);

  const badFeed = await failure(Effect.gen(function* () {
    const m = yield* openOnnxModel(onnxPath, exported.spec);
    yield* m.forward({ data: new Float32Array(10), shape: [1, 10] }, "penultimate", ["logits"]);
  }));
  assert.equal(badFeed._tag, "InputShapeMismatch");
  assert.match(badFeed.message, /"pool".*\[-1, 64\].*\[1, 10\]/);
});

Deno.test("sessions are released with the model's scope", async () => {
  const model = await Effect.runPromise(Effect.scoped(openOnnxModel(onnxPath, exported.spec)));
  const exit = await Effect.runPromiseExit(
    model.forward({ data: new Float32Array(784), shape: [1, 1, 28, 28] }, "input", ["logits"]),
  );
  assert.ok(Exit.isFailure(exit));
  assert.equal((Cause.squash(exit.cause) as { _tag: string })._tag, "ModelRunFailed");
});

Deno.test("cleanup", () => {
  net.dispose();
  return Deno.remove(dir, { recursive: true });
});
