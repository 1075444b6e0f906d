/**
 * `deno task export-onnx [--model DIR] --out FILE.onnx`: export a grood classifier folder
 * (default: the mnist fixture) to ONNX, with its spec (`FILE.spec.json`: NCHW input, taps
 * block1 / pool / head) next to it, so `openModel(FILE.onnx)` runs it on onnxruntime.
 *
 * @module
 */
import { Effect } from "effect";
import { basename, dirname, extname, join } from "node:path";
import { parseArgs } from "node:util";
import { runTask } from "../lib/cli.ts";
import { Compute } from "../lib/compute/compute.ts";
import { writeFileAtomic, writeJsonAtomic } from "../lib/io/files.ts";
import { fixtureDir } from "../lib/model/fixture.ts";
import { loadClassifier } from "../lib/model/store.ts";
import { ModelUnreadable } from "../lib/models/errors.ts";
import { classifierToOnnx } from "../lib/models/export_onnx.ts";
import { encodeOnnx } from "../lib/models/onnx_graph.ts";

const { values } = parseArgs({
  options: { model: { type: "string" }, out: { type: "string" } },
});

const program = Effect.gen(function* () {
  const { tf } = yield* Compute;
  const out = values.out;
  if (out === undefined || extname(out) !== ".onnx") {
    return yield* new ModelUnreadable({ model: String(out), problem: "pass --out FILE.onnx" });
  }
  const dir = values.model ?? fixtureDir("mnist");
  const loaded = yield* Effect.acquireRelease(
    loadClassifier(tf, dir),
    (l) => Effect.sync(() => l.net.dispose()),
  );
  const { model, spec } = classifierToOnnx(loaded.net);
  const specPath = join(dirname(out), `${basename(out, ".onnx")}.spec.json`);
  yield* Effect.promise(async () => {
    await writeFileAtomic(out, encodeOnnx(model));
    await writeJsonAtomic(specPath, {
      ...spec,
      metadata: { exportedFrom: dir, weightsSha256: loaded.metadata.weightsSha256 },
    });
  });
  console.log(`wrote ${out} and ${specPath}`);
});

await runTask(Effect.scoped(program));
