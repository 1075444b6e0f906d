/**
 * grood's CNN on onnxruntime (`lib/models/grood_onnx.ts`, the default engine) against the same
 * network on tfjs: the extraction (penultimate features, logits, per-class sums at every
 * convolutional block) agrees within the export tolerance, tap-to-tap forwards stay on tfjs,
 * and an export that does not reproduce the tfjs network is refused with a typed error.
 */
import assert from "node:assert/strict";
import { Cause, Effect, Exit } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { loadClassifier } from "../lib/model/store.ts";
import { groodTaps } from "../lib/models/grood_cnn.ts";
import { EXPORT_TOLERANCE, exportDifference, groodOnnxModel } from "../lib/models/grood_onnx.ts";
import { openModel } from "../lib/models/registry.ts";
import { extractFeatures } from "../lib/stages/features.ts";
import { runPromise, tf } from "./with_compute.ts";

const COUNT = 300;
const test = await Effect.runPromise(loadSplit("mnist", "test"));
const set = {
  name: "mnist-test-head",
  count: COUNT,
  pixels: test.pixels.slice(0, COUNT * 784),
  labels: test.labels.slice(0, COUNT),
};
const BLOCKS = ["stem", "block1", "block2", "block3"];

const extractOn = (engine: "onnx" | "tfjs") =>
  runPromise(Effect.scoped(Effect.gen(function* () {
    const model = yield* openModel(fixtureDir("mnist"), { groodEngine: engine });
    const extraction = yield* extractFeatures(model, set, { classSumsAt: BLOCKS, batchSize: 128 });
    // A forward from the early tap (GROOD's mix-up) on the same features.
    const shape = model.shapes.early;
    const early = yield* model.forward(
      {
        data: new Float32Array(2 * shape.reduce((a, b) => a * b, 1)).fill(0.25),
        shape: [2, ...shape],
      },
      "early",
      ["logits"],
    );
    return { model: { kind: model.kind, shapes: model.shapes }, extraction, early };
  })));

const onnx = await extractOn("onnx");
const tfjs = await extractOn("tfjs");

Deno.test("grood's CNN on onnxruntime extracts what tfjs does, within the export tolerance", () => {
  assert.deepEqual(onnx.model, tfjs.model, "same kind, same tap shapes (grood's NHWC layout)");
  for (const key of ["penultimate", "logits"] as const) {
    const a = onnx.extraction.features[key];
    const b = tfjs.extraction.features[key];
    assert.deepEqual([a.rows, a.cols], [b.rows, b.cols]);
    const { difference, allowed } = exportDifference(a.data, b.data);
    assert.ok(difference <= allowed, `${key}: ${difference} > ${allowed}`);
    assert.ok(difference > 0 || a.data.every((v, i) => v === b.data[i]));
  }
  assert.deepEqual(
    onnx.extraction.classSums.map((s) => [s.boundary, s.featureShape]),
    tfjs.extraction.classSums.map((s) => [s.boundary, s.featureShape]),
  );
  assert.deepEqual(onnx.extraction.classSums.map((s) => s.boundary), BLOCKS);
  onnx.extraction.classSums.forEach((s, k) => {
    const t = tfjs.extraction.classSums[k]!;
    assert.deepEqual([...s.counts], [...t.counts]);
    let scale = 0;
    let difference = 0;
    for (let i = 0; i < s.sums.length; i++) {
      scale = Math.max(scale, Math.abs(t.sums[i]!));
      difference = Math.max(difference, Math.abs(s.sums[i]! - t.sums[i]!));
    }
    assert.ok(
      difference <= EXPORT_TOLERANCE * (1 + scale),
      `${s.boundary} sums: ${difference} against scale ${scale}`,
    );
  });
  // A forward from a tap runs on tfjs on both: the same bits.
  assert.deepEqual([...onnx.early[0]!.data], [...tfjs.early[0]!.data]);
});

Deno.test("an export that does not reproduce the tfjs network is refused by name", async () => {
  const exit = await Effect.runPromiseExit(Effect.scoped(Effect.gen(function* () {
    const { net, key } = yield* loadClassifier(tf, fixtureDir("mnist"));
    // The tfjs side of the check adds 0.01 to every value: the graph (from the weights) cannot
    // follow, so the check must see the difference.
    const shifted = {
      ...net,
      forward: (x: Parameters<typeof net.forward>[0], range?: Parameters<typeof net.forward>[1]) =>
        tf.tidy(() => tf.add(net.forward(x, range), 0.01)),
    };
    return yield* Effect.ensuring(
      groodOnnxModel(tf, shifted, "shifted", `${key}-shifted`, groodTaps(net)),
      Effect.sync(() => net.dispose()),
    );
  })));
  assert.ok(Exit.isFailure(exit));
  const error = Cause.squash(exit.cause) as { _tag: string; model: string; difference: number };
  assert.equal(error._tag, "OnnxExportMismatch");
  assert.equal(error.model, "shifted");
  assert.ok(error.difference > 0.005, `difference ${error.difference}`);
});

Deno.test("exportDifference: the largest gap, and a bound at the values' scale", () => {
  const { difference, allowed } = exportDifference(
    new Float32Array([1, 2, 3]),
    new Float32Array([1, 2.5, -4]),
  );
  assert.equal(difference, 7);
  assert.equal(allowed, EXPORT_TOLERANCE * 5);
  assert.equal(
    exportDifference(new Float32Array([NaN]), new Float32Array([0])).difference,
    Infinity,
  );
  // Non-finite values the two engines share agree (the finite check of the features names
  // them); the bound is at the scale of the finite ones, never infinite.
  const shared = exportDifference(
    new Float32Array([NaN, Infinity, -Infinity, 2]),
    new Float32Array([NaN, Infinity, -Infinity, 2.5]),
  );
  assert.deepEqual(shared, { difference: 0.5, allowed: EXPORT_TOLERANCE * 3.5 });
  for (const [onnx, tfjs] of [[0, NaN], [Infinity, NaN], [-Infinity, Infinity], [1e30, Infinity]]) {
    const { difference, allowed } = exportDifference(
      new Float32Array([onnx!, 1]),
      new Float32Array([tfjs!, 1]),
    );
    assert.ok(!(difference <= allowed), `${onnx} against tfjs ${tfjs}`);
  }
});
