/**
 * `grood bench cluster [--images N] [--out FILE]`: cluster scoring on this machine with 1, 2 and
 * 3 runners, the coordination cost per chunk and the failover pause (`apps/cluster/bench.ts`);
 * writes `bench/cluster.json`.
 *
 * @module
 */
import { benchClusterTask } from "../apps/cli/commands/bench_cluster.ts";
import { invocationPath } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { BENCH_CLUSTER_DEFAULTS, benchCluster } from "../apps/cluster/bench.ts";
import { benchClusterFit } from "../apps/cluster/bench_fit.ts";

const { values } = await taskInput(benchClusterTask);
// A path given is relative to where the command was typed; the default is the checkout's.
const out = values.out === undefined ? BENCH_CLUSTER_DEFAULTS.out : invocationPath(values.out);
if (values.fit) await benchClusterFit({ images: values.images, chunk: values.chunk, out });
else await benchCluster({ images: values.images, out });
