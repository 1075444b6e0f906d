/**
 * `deno task export-onnx [--model DIR] --out FILE.onnx`: export a grood classifier folder
 * (default: the mnist fixture) to ONNX, with its spec (`FILE.spec.json`: NCHW input, taps
 * block1 / pool / head) next to it, so `openModel(FILE.onnx)` runs it on onnxruntime.
 *
 * @module
 */
import { Effect } from "effect";
import { basename, dirname, join } from "node:path";
import { exportOnnxTask } from "../apps/cli/commands/export_onnx.ts";
import { invocationPath, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { Compute } from "../mod.ts";
import { checkOutputFile, writeFile, writeJson } from "../lib/io/mod.ts";
import { fixtureDir } from "../lib/benchmarks/mod.ts";
import { loadClassifier } from "../lib/model/mod.ts";
import { classifierToOnnx, encodeOnnx } from "../lib/models/mod.ts";

const { values } = await taskInput(exportOnnxTask);
// A .onnx file: checked with the command line.
const out = invocationPath(values.out);
const dir = values.model === undefined ? fixtureDir("mnist") : invocationPath(values.model);

const program = Effect.gen(function* () {
  const { tf } = yield* Compute;
  const loaded = yield* Effect.acquireRelease(
    loadClassifier(tf, dir),
    (l) => Effect.sync(() => l.net.dispose()),
  );
  const { model, spec } = classifierToOnnx(loaded.net);
  const specPath = join(dirname(out), `${basename(out, ".onnx")}.spec.json`);
  // Never over the model exported, nor inside its folder.
  for (const file of [out, specPath]) {
    yield* checkOutputFile(file, { inputs: [dir], overwrite: values.overwrite });
  }
  yield* writeFile(out, encodeOnnx(model));
  yield* writeJson(specPath, {
    ...spec,
    metadata: { exportedFrom: dir, weightsSha256: loaded.metadata.weightsSha256 },
  });
  console.log(`wrote ${out} and ${specPath}`);
});

await runTask(Effect.scoped(program));
