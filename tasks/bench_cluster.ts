/**
 * `grood bench cluster [--images N] [--out FILE]`: cluster scoring on this machine with 1, 2 and
 * 3 runners, the coordination cost per chunk and the failover pause (`apps/cluster/bench.ts`);
 * writes `bench/cluster.json`.
 *
 * @module
 */
import { Effect, Exit } from "effect";
import { benchClusterTask } from "../apps/cli/commands/bench_cluster.ts";
import { reportFailure, resultsFile } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { BENCH_CLUSTER_DEFAULTS, benchCluster } from "../apps/cluster/bench.ts";
import { benchClusterFit } from "../apps/cluster/bench_fit.ts";

const { values } = await taskInput(benchClusterTask);
// A path given is relative to where the command was typed; the default is the checkout's.
// Checked before anything starts (an existing file given needs --overwrite, with --fit too).
const checked = await Effect.runPromiseExit(
  reportFailure(
    resultsFile(values.out, BENCH_CLUSTER_DEFAULTS.out, { overwrite: values.overwrite }),
  ),
);
if (Exit.isFailure(checked)) Deno.exit(1);
const out = checked.value;
if (values.fit) await benchClusterFit({ images: values.images, chunk: values.chunk, out });
else await benchCluster({ images: values.images, out });
