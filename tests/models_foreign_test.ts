import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { loadClassifier } from "../lib/model/store.ts";
import { collectTaps } from "../lib/models/batches.ts";
import { classifierToOnnx } from "../lib/models/export_onnx.ts";
import { inspectOnnx, proposeOnnxTaps } from "../lib/models/inspect.ts";
import { encodeOnnx, withOutputs } from "../lib/models/onnx_graph.ts";
import { openModel, readModelSpec } from "../lib/models/registry.ts";
import { predictedClasses } from "../lib/stages/features.ts";
import { matrix } from "../lib/matrix.ts";
import { runScoped, scopedFailure, tf } from "./with_compute.ts";

const foreign = join(fixtureDir("foreign"), "foreign.onnx");
const specPath = join(fixtureDir("foreign"), "foreign.spec.json");
const run = runScoped;
const failure = scopedFailure;

Deno.test("the foreign fixture is small and its spec is valid", async () => {
  assert.ok((await Deno.stat(foreign)).size < 1_000_000);
  const spec = await Effect.runPromise(readModelSpec(specPath));
  assert.equal(spec.kind, "onnx");
  assert.equal(spec.input.layout, "NCHW");
});

Deno.test("inspect proposes the foreign model's recorded taps, with measured shapes", async () => {
  const [inspection, spec] = await run(Effect.gen(function* () {
    return [yield* inspectOnnx(foreign), yield* readModelSpec(specPath)] as const;
  }));
  assert.deepEqual(inspection.proposed, spec.taps);
  const early = inspection.tensors.find((t) => t.name === "early")!;
  assert.deepEqual(early.shape, [-1, 16, 14, 14]);
  assert.equal(early.op, "MaxPool");
});

Deno.test("inspect without marked outputs falls back to the first downsampled stage", async () => {
  const { net } = await Effect.runPromise(loadClassifier(tf, fixtureDir("mnist")));
  const only = withOutputs(classifierToOnnx(net).model, ["head"]);
  net.dispose();
  const dir = await Deno.makeTempDir();
  const path = join(dir, "logits-only.onnx");
  await Deno.writeFile(path, encodeOnnx(only));
  const inspection = await run(inspectOnnx(path));
  assert.deepEqual(proposeOnnxTaps(only, inspection.tensors), {
    early: "block1",
    penultimate: "pool",
    logits: "head",
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the foreign model runs through the ONNX adapter at its recorded test accuracy", async () => {
  const test = await Effect.runPromise(loadSplit("mnist", "test"));
  const spec = await Effect.runPromise(readModelSpec(specPath));
  const [model, outputs] = await run(Effect.gen(function* () {
    const model = yield* openModel(foreign);
    return [model, yield* collectTaps(model, test, ["early", "penultimate", "logits"])] as const;
  }));
  assert.equal(model.kind, "onnx");
  assert.deepEqual(model.shapes, {
    input: [1, 28, 28],
    early: [16, 14, 14],
    penultimate: [64],
    logits: [10],
  });
  assert.deepEqual(outputs[0]!.shape, [10_000, 16, 14, 14]);
  const predicted = predictedClasses(matrix(10_000, 10, outputs[2]!.data));
  const correct = predicted.reduce((n, p, i) => n + (p === test.labels[i] ? 1 : 0), 0);
  const recorded = (spec.metadata as { testAccuracy: number }).testAccuracy;
  // PyTorch and onnxruntime may round a near-tie differently: allow 3 images of 10,000.
  assert.ok(Math.abs(correct / 10_000 - recorded) <= 3e-4, `${correct / 10_000} vs ${recorded}`);
  // ReLU penultimate features: non-negative and not all zero.
  assert.ok(outputs[1]!.data.every((v) => v >= 0) && outputs[1]!.data.some((v) => v > 0));
});

Deno.test("a model without its spec, or with an invalid one, gives typed errors", async () => {
  const dir = await Deno.makeTempDir();
  const bare = join(dir, "bare.onnx");
  await Deno.copyFile(foreign, bare);
  const noSpec = await failure(openModel(bare));
  assert.equal(noSpec._tag, "ModelUnreadable");
  assert.match(noSpec.message, /bare\.spec\.json/);
  await Deno.writeTextFile(
    join(dir, "bare.spec.json"),
    JSON.stringify({ input: { height: 28 }, taps: { early: "early" } }),
  );
  const invalid = await failure(openModel(bare));
  assert.equal(invalid._tag, "ModelUnreadable");
  assert.match(invalid.message, /bare\.spec\.json.*invalid model spec/s);
  await Deno.remove(dir, { recursive: true });
});
