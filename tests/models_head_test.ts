/**
 * The classifier head `{W, b}` of every model kind, checked by a second route: the logits
 * recomputed as penultimate·W + b (float64, by hand) equal the model's own logits on real MNIST
 * test images, and a last layer that is not affine gives a typed `HeadUnreadable`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect } from "effect";
import onnxProto from "onnx-proto";
import { loadSplit } from "../lib/data/datasets.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { loadClassifier } from "../lib/model/store.ts";
import { classifierToOnnx } from "../lib/models/export_onnx.ts";
import type { Head } from "../lib/models/head.ts";
import { readHead } from "../lib/detectors/logits.ts";
import { type FeatureModel, type ModelSpec, preprocess } from "../lib/models/model.ts";
import { encodeOnnx } from "../lib/models/onnx_graph.ts";
import { openModel } from "../lib/models/registry.ts";
import { writeLayersModel } from "./layers_model.ts";
import { runScoped, scopedFailure, tf } from "./with_compute.ts";

const { onnx } = onnxProto;
const dir = await Deno.makeTempDir({ prefix: "grood-head-" });
const test = await Effect.runPromise(loadSplit("mnist", "test"));
const COUNT = 256;

/** The largest |z − (h·W + b)| over `COUNT` test images, the sum in float64. */
const headResidual = (model: FeatureModel) =>
  Effect.gen(function* () {
    const head = yield* model.head!;
    const x = yield* preprocess(
      model.name,
      model.input,
      test.pixels.subarray(0, COUNT * 784),
      COUNT,
      1,
    );
    const [h, z] = yield* model.forward(x, "input", ["penultimate", "logits"]);
    const { inputSize: d, numClasses: c } = head;
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < COUNT; i++) {
      for (let j = 0; j < c; j++) {
        let sum = head.bias[j]!;
        for (let k = 0; k < d; k++) sum += h!.data[i * d + k]! * head.kernel[k * c + j]!;
        worst = Math.max(worst, Math.abs(sum - z!.data[i * c + j]!));
        scale = Math.max(scale, Math.abs(sum));
      }
    }
    return { head, worst, scale };
  });

Deno.test("the PyTorch-trained ONNX fixture's head (Gemm, transB = 1) gives its logits within 1e-4", async () => {
  const { head, worst, scale } = await runScoped(
    Effect.flatMap(openModel(join(fixtureDir("foreign"), "foreign.onnx")), headResidual),
  );
  assert.equal(head.inputSize, 64);
  assert.equal(head.numClasses, 10);
  assert.ok(worst < 1e-4, `max |z − (hW + b)| = ${worst}`);
  // Logits of a trained classifier are not all tiny: the comparison has something to compare.
  assert.ok(scale > 1, `largest logit ${scale}`);
});

Deno.test("grood's CNN (tfjs) and its ONNX export (Gemm, transB = 0) give the same head and their logits", async () => {
  const { net } = await Effect.runPromise(loadClassifier(tf, fixtureDir("mnist")));
  const { model, spec } = classifierToOnnx(net);
  net.dispose();
  const onnxPath = join(dir, "mnist.onnx");
  await Deno.writeFile(onnxPath, encodeOnnx(model));
  await Deno.writeTextFile(join(dir, "mnist.spec.json"), JSON.stringify(spec));
  const [grood, exported] = await runScoped(Effect.gen(function* () {
    return [
      yield* headResidual(yield* openModel(fixtureDir("mnist"))),
      yield* headResidual(yield* openModel(onnxPath)),
    ] as const;
  }));
  for (const { worst, scale } of [grood, exported]) {
    assert.ok(worst < 1e-4, `max |z − (hW + b)| = ${worst}`);
    assert.ok(scale > 1);
  }
  assert.deepEqual(exported.head.kernel, grood.head.kernel);
  assert.deepEqual(exported.head.bias, grood.head.bias);
});

Deno.test("a tfjs LayersModel's last Dense layer is its head; a softmax Dense is refused, typed", async () => {
  const linear = await writeLayersModel(join(dir, "layers"));
  const { head, worst } = await runScoped(Effect.flatMap(openModel(linear), headResidual));
  assert.deepEqual([head.inputSize, head.numClasses], [16, 10]);
  assert.ok(worst < 1e-4, `max |z − (hW + b)| = ${worst}`);
  // The bias was initialised away from zero: it is read, not assumed.
  assert.ok(head.bias.some((b) => Math.abs(b) > 0.01));
  const softmax = await writeLayersModel(join(dir, "softmax"), { activation: "softmax" });
  const error = await scopedFailure(Effect.flatMap(openModel(softmax), (m) => m.head!));
  assert.equal(error._tag, "HeadUnreadable");
  assert.match(error.message, /softmax.*"scores".*softmax/s);
  // A head detector on it fails with MissingHead, naming the detector, the model and its kind.
  const missing = await scopedFailure(
    Effect.flatMap(openModel(softmax), (model) => readHead("ReAct", { model })),
  );
  assert.equal(missing._tag, "MissingHead");
  assert.match(missing.message, /ReAct.*softmax.*"tfjs-layers".*activation softmax/);
});

/** A hand-made ONNX graph: x [N,1,1,4] → Flatten → Relu (`pen`) → `head` nodes → `logits`. */
async function handGraph(
  name: string,
  head: (nodes: Array<unknown>, inits: Array<unknown>) => void,
) {
  const nodes: Array<unknown> = [
    onnx.NodeProto.create({ opType: "Flatten", input: ["x"], output: ["flat"] }),
    onnx.NodeProto.create({ opType: "Relu", input: ["flat"], output: ["pen"] }),
  ];
  const inits: Array<unknown> = [];
  head(nodes, inits);
  const value = (n: string, dims: ReadonlyArray<number>) =>
    onnx.ValueInfoProto.create({
      name: n,
      type: {
        tensorType: {
          elemType: 1,
          shape: { dim: dims.map((d) => d < 0 ? { dimParam: "N" } : { dimValue: d }) },
        },
      },
    });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    graph: onnx.GraphProto.create({
      name,
      node: nodes as Array<onnxProto.onnx.INodeProto>,
      initializer: inits as Array<onnxProto.onnx.ITensorProto>,
      input: [value("x", [-1, 1, 1, 4])],
      output: [value("logits", [-1, 3])],
    }),
  });
  const path = join(dir, `${name}.onnx`);
  await Deno.writeFile(path, encodeOnnx(model));
  const spec: ModelSpec = {
    kind: "onnx",
    input: { height: 1, width: 4, channels: 1, layout: "NCHW", scale: 1, mean: [0], std: [1] },
    taps: { early: "pen", penultimate: "pen", logits: "logits" },
  };
  await Deno.writeTextFile(join(dir, `${name}.spec.json`), JSON.stringify(spec));
  return path;
}
const tensor = (name: string, dims: ReadonlyArray<number>, values: ReadonlyArray<number>) =>
  onnx.TensorProto.create({ name, dims: [...dims], dataType: 1, floatData: [...values] });
const floatAttr = (name: string, f: number) =>
  onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f });
const intAttr = (name: string, i: number) =>
  onnx.AttributeProto.create({ name, type: onnx.AttributeProto.AttributeType.INT, i });
// W (4 × 3) and b (3), and Wᵀ for transB = 1.
const W = [1, -2, 0.5, 3, 0, -1, -0.25, 2, 1.5, 0.75, -1.25, 2.5];
const WT = [0, 1, 2].flatMap((j) => [0, 1, 2, 3].map((k) => W[k * 3 + j]!));
const B = [0.1, -0.2, 0.3];
const image = { data: new Float32Array([1, -2, 3, 0.5, 2, 1, -1, 4]), shape: [2, 1, 1, 4] };

/** The head read from the graph, and how far the graph's own logits are from h·W + b. */
const checkHand = (path: string) =>
  runScoped(Effect.gen(function* () {
    const model = yield* openModel(path);
    const head: Head = yield* model.head!;
    const [h, z] = yield* model.forward(image, "input", ["penultimate", "logits"]);
    let worst = 0;
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        let sum = head.bias[j]!;
        for (let k = 0; k < 4; k++) sum += h!.data[i * 4 + k]! * head.kernel[k * 3 + j]!;
        worst = Math.max(worst, Math.abs(sum - z!.data[i * 3 + j]!));
      }
    }
    return { head, worst };
  }));

Deno.test("an ONNX Gemm's transB, alpha and beta, and a MatMul + Add head, are read as onnxruntime runs them", async () => {
  const gemm = await handGraph("gemm", (nodes, inits) => {
    inits.push(tensor("Bt", [3, 4], WT), tensor("C", [3], B));
    nodes.push(onnx.NodeProto.create({
      opType: "Gemm",
      input: ["pen", "Bt", "C"],
      output: ["logits"],
      attribute: [floatAttr("alpha", 0.5), floatAttr("beta", 2), intAttr("transB", 1)],
    }));
  });
  const g = await checkHand(gemm);
  assert.ok(g.worst < 1e-5, `Gemm: ${g.worst}`);
  assert.deepEqual([...g.head.kernel], W.map((w) => 0.5 * w));
  assert.deepEqual([...g.head.bias].map((b) => Math.round(b * 1e6) / 1e6), B.map((b) => 2 * b));
  // MatMul + Add, bias first (Add is commutative; exporters write either order).
  const matmul = await handGraph("matmul", (nodes, inits) => {
    inits.push(tensor("W", [4, 3], W), tensor("b", [3], B));
    nodes.push(onnx.NodeProto.create({ opType: "MatMul", input: ["pen", "W"], output: ["mm"] }));
    nodes.push(onnx.NodeProto.create({ opType: "Add", input: ["b", "mm"], output: ["logits"] }));
  });
  const m = await checkHand(matmul);
  assert.ok(m.worst < 1e-5, `MatMul + Add: ${m.worst}`);
  assert.deepEqual([...m.head.kernel], W.map((w) => Math.fround(w)));
});

Deno.test("an ONNX model whose logits are not an affine map of the penultimate tap has no head, typed", async () => {
  // The foreign fixture cut one layer earlier: its "logits" are a ReLU.
  const foreign = join(fixtureDir("foreign"), "foreign.onnx");
  const spec = JSON.parse(
    await Deno.readTextFile(join(fixtureDir("foreign"), "foreign.spec.json")),
  );
  const relu = await scopedFailure(Effect.gen(function* () {
    const model = yield* openModel(foreign, {
      spec: {
        ...spec,
        taps: {
          ...spec.taps,
          penultimate: "/hidden/hidden.0/Gemm_output_0",
          logits: "penultimate",
        },
      },
    });
    return yield* model.head!;
  }));
  assert.equal(relu._tag, "HeadUnreadable");
  assert.match(relu.message, /foreign\.onnx.*"penultimate" is made by Relu/);
  // A Gemm that does not read the penultimate tap.
  const skipped = await scopedFailure(Effect.gen(function* () {
    const model = yield* openModel(foreign, {
      spec: { ...spec, taps: { ...spec.taps, penultimate: "early" } },
    });
    return yield* model.head!;
  }));
  assert.equal(skipped._tag, "HeadUnreadable");
  assert.match(skipped.message, /reads "penultimate", not the penultimate tap "early"/);
});

Deno.test("cleanup", () => Deno.remove(dir, { recursive: true }));
