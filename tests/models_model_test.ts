import assert from "node:assert/strict";
import { Cause, Effect, Exit } from "effect";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { checkShape, type InputSpec, preprocess } from "../lib/models/model.ts";
import { openModel } from "../lib/models/registry.ts";
import { runScoped, tf } from "./with_compute.ts";

const rgb: InputSpec = {
  height: 1,
  width: 2,
  channels: 3,
  layout: "NCHW",
  scale: 1 / 255,
  mean: [0.5, 0, 0],
  std: [0.5, 1, 2],
};

Deno.test("preprocess scales, normalises per channel and lays out NCHW or NHWC", () => {
  // One 1×2 RGB image: pixels (255, 0, 51) and (0, 255, 102).
  const pixels = new Uint8Array([255, 0, 51, 0, 255, 102]);
  const nchw = Effect.runSync(preprocess("m", rgb, pixels, 1, 3));
  assert.deepEqual(nchw.shape, [1, 3, 1, 2]);
  const expected = [1, -1, 0, 1, 0.1, 0.2];
  nchw.data.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-6, `${i}: ${v}`));
  const nhwc = Effect.runSync(preprocess("m", { ...rgb, layout: "NHWC" }, pixels, 1, 3));
  assert.deepEqual(nhwc.shape, [1, 1, 2, 3]);
  const expectedNhwc = [1, 0, 0.1, -1, 1, 0.2];
  nhwc.data.forEach((v, i) => assert.ok(Math.abs(v - expectedNhwc[i]!) < 1e-6, `${i}: ${v}`));
});

Deno.test("preprocess of one-channel images, either layout: each value (p·scale − mean)/std in float32", () => {
  const pixels = Uint8Array.from({ length: 3 * 4 * 5 }, (_, i) => (i * 97 + 13) % 256);
  const grey = { height: 4, width: 5, channels: 1, scale: 1 / 255, mean: [0.1307], std: [0.3081] };
  for (const layout of ["NCHW", "NHWC"] as const) {
    const x = Effect.runSync(preprocess("m", { ...grey, layout }, pixels, 3, 1));
    assert.deepEqual(x.shape, layout === "NCHW" ? [3, 1, 4, 5] : [3, 4, 5, 1]);
    const expected = Float32Array.from(pixels, (p) => (p * (1 / 255) - 0.1307) * (1 / 0.3081));
    assert.deepEqual(x.data, expected, layout);
  }
});

Deno.test("preprocess repeats grey images to three channels, refuses other mismatches", () => {
  const grey = Effect.runSync(preprocess("m", rgb, new Uint8Array([255, 0]), 1, 1));
  assert.deepEqual([...grey.data].map((v) => Math.round(v * 100) / 100), [1, -1, 1, 0, 0.5, 0]);
  const exit = Effect.runSyncExit(preprocess("model.onnx", rgb, new Uint8Array(5), 1, 1));
  assert.ok(Exit.isFailure(exit));
  const error = Cause.squash(exit.cause) as { _tag: string; message: string };
  assert.equal(error._tag, "InputShapeMismatch");
  assert.match(error.message, /model\.onnx.*"input".*\[-1, 1, 2, 3\].*\[5\]/);
  const fourToThree = Effect.runSyncExit(preprocess("m", rgb, new Uint8Array(8), 1, 4));
  assert.ok(Exit.isFailure(fourToThree));
});

Deno.test("checkShape accepts any batch and names the tensor when a dimension differs", () => {
  const x = { data: new Float32Array(2 * 6), shape: [2, 2, 3] };
  Effect.runSync(checkShape("m", "t", [2, 3], x));
  const exit = Effect.runSyncExit(checkShape("m", "feat", [3, 2], x));
  assert.ok(Exit.isFailure(exit));
  assert.match(String(Cause.squash(exit.cause)), /feat/);
});

Deno.test("openModel opens grood's own model folder without a spec file", async () => {
  const run = runScoped;
  const before = tf.memory().numTensors;
  const shapes = await run(Effect.gen(function* () {
    const model = yield* openModel(fixtureDir("mnist"));
    assert.equal(model.kind, "grood");
    assert.deepEqual(model.taps, { early: "block1", penultimate: "pool", logits: "head" });
    const x = { data: new Float32Array(2 * 784), shape: [2, 28, 28, 1] };
    const [logits] = yield* model.forward(x, "input", ["logits"]);
    assert.deepEqual(logits!.shape, [2, 10]);
    return model.shapes;
  }));
  assert.deepEqual(shapes.early, [14, 14, 32]);
  assert.equal(tf.memory().numTensors, before, "the scope freed the weights");
});

Deno.test("deno task inspect prints the foreign model's proposed taps as JSON", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "tasks/inspect.ts",
      "--model",
      `${fixtureDir("foreign")}/foreign.onnx`,
      "--json",
    ],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  const text = new TextDecoder().decode(output.stdout);
  const inspection = JSON.parse(text.slice(text.indexOf("{")));
  assert.deepEqual(inspection.proposed, {
    early: "early",
    penultimate: "penultimate",
    logits: "logits",
  });
  assert.equal(inspection.tensors[0].name, "image");
});
