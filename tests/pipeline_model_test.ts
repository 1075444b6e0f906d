import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect } from "effect";
import { Compute } from "../lib/compute/compute.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { loadClassifier } from "../lib/model/store.ts";
import { classifierToOnnx } from "../lib/models/export_onnx.ts";
import { encodeOnnx } from "../lib/models/onnx_graph.ts";
import { openPipelineModel, type PipelineModelOptions } from "../lib/pipeline/model.ts";
import { compute } from "./with_compute.ts";

const { net } = await Effect.runPromise(loadClassifier(compute.tf, fixtureDir("mnist")));
const { model, spec } = classifierToOnnx(net);
net.dispose();
const dir = await Deno.makeTempDir();
const onnxPath = join(dir, "m.onnx");
const bytes = encodeOnnx(model);
await Deno.writeTextFile(join(dir, "m.spec.json"), JSON.stringify(spec));

const keyOf = (options: PipelineModelOptions) =>
  Effect.runPromise(
    Effect.scoped(Effect.map(openPipelineModel(options), (m) => m.key)).pipe(
      Effect.provideService(Compute, compute),
    ),
  );

Deno.test("the pipeline's model key follows the model's bytes, taps, preprocessing and engine", async () => {
  await Deno.writeFile(onnxPath, bytes);
  const base = await keyOf({ path: onnxPath, kind: "onnx" });
  assert.equal(await keyOf({ path: onnxPath, kind: "onnx" }), base, "same model, same key");
  // One weight byte changed (weights are nearly all of the file: its middle is one of them).
  const changed = bytes.slice();
  changed[changed.length >> 1]! ^= 1;
  await Deno.writeFile(onnxPath, changed);
  const edited = await keyOf({ path: onnxPath, kind: "onnx" });
  assert.notEqual(edited, base, "a changed byte gives a new key");
  await Deno.writeFile(onnxPath, bytes);
  assert.notEqual(
    await keyOf({ path: onnxPath, kind: "onnx", taps: { early: "block2" } }),
    base,
    "another early tap gives a new key",
  );
  await Deno.writeTextFile(
    join(dir, "m.spec.json"),
    JSON.stringify({ ...spec, input: { ...spec.input, scale: 1 } }),
  );
  assert.notEqual(await keyOf({ path: onnxPath, kind: "onnx" }), base, "preprocessing");
  await Deno.writeTextFile(join(dir, "m.spec.json"), JSON.stringify(spec));
  const grood = fixtureDir("mnist");
  assert.equal(
    await keyOf({ path: grood, kind: "grood" }),
    await keyOf({ path: grood, kind: "grood", engine: "onnx" }),
    "grood's CNN runs on onnxruntime by default",
  );
  assert.notEqual(
    await keyOf({ path: grood, kind: "grood" }),
    await keyOf({ path: grood, kind: "grood", engine: "tfjs" }),
    "grood's CNN on tfjs and on onnxruntime have different feature keys",
  );
});

Deno.test("cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
