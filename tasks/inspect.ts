/**
 * `deno task inspect --model M [--layout NCHW|NHWC] [--json]`: list a model's tensors (name,
 * op, shape; the batch axis shows as -1) and propose its early, penultimate and logits taps,
 * with the spec file to write next to it. Any kind grood opens: ONNX files, grood model folders,
 * tfjs LayersModel and GraphModel (`model.json` or its folder).
 *
 * @module
 */
import { Effect } from "effect";
import { inspectTask } from "../apps/cli/commands/inspect.ts";
import { invocationPath, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { type Inspection, inspectModel } from "../lib/models/mod.ts";

const { values } = await taskInput(inspectTask);
const path = invocationPath(values.model);

const print = (inspection: Inspection, specPath: string) => {
  if (values.json) {
    console.log(JSON.stringify(inspection, null, 2));
    return;
  }
  const width = Math.max(...inspection.tensors.map((t) => t.name.length), 4);
  console.log(`${inspection.model} (${inspection.kind}): ${inspection.tensors.length} tensors\n`);
  console.log(`${"name".padEnd(width)}  ${"op".padEnd(18)}  shape`);
  for (const t of inspection.tensors) {
    const tap = Object.entries(inspection.proposed).find(([, name]) => name === t.name)?.[0];
    console.log(
      `${t.name.padEnd(width)}  ${t.op.padEnd(18)}  ${t.shape ? `[${t.shape.join(", ")}]` : "?"}` +
        (tap === undefined ? "" : `   ← ${tap}`),
    );
  }
  console.log(`\nproposed taps: ${JSON.stringify(inspection.proposed)}`);
  console.log(`declare them (and the input preprocessing) in ${specPath}`);
};

const program = Effect.scoped(Effect.gen(function* () {
  const { inspection, specPath } = yield* inspectModel(path, { layout: values.layout });
  print(inspection, specPath);
}));

// stdout is the inspection only (log lines go to stderr), so --json output parses.
await runTask(program);
