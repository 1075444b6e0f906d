/**
 * `grood cluster runner --detector DIR [--pg URL] [--host H] [--port P]`: open the fitted
 * detector once in each scoring worker, join the cluster and score chunks until SIGTERM or
 * Ctrl-C, which hand the runner's shards to the other runners before it exits (`runMain`). Run it
 * as `./grood cluster runner …` (the launcher execs the real Deno binary) so that a process
 * manager's SIGTERM reaches it.
 *
 * @module
 */
import { runMain } from "@effect/platform-node/NodeRuntime";
import { Effect, Layer } from "effect";
import { clusterRunnerTask } from "../apps/cli/commands/cluster_runner.ts";
import { invocationPath, reportFailure } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { runnerLayer, runnerOptions, scoringPool } from "../apps/cluster/mod.ts";

const { values } = await taskInput(clusterRunnerTask);
const { detector: folder, runner } = runnerOptions(values, invocationPath("."));

runMain(
  reportFailure(Effect.scoped(Effect.gen(function* () {
    const pool = yield* scoringPool(folder, runner.concurrency);
    yield* Effect.logInfo(
      `runner ${runner.host}:${runner.port} serving ` +
        (folder === undefined
          ? "fit chunks only"
          : `${pool.folder} (version ${pool.version.slice(0, 12)}) and fit chunks`) +
        ` on ${runner.concurrency} worker(s)`,
    );
    // A worker that stopped or hangs takes the runner out of the cluster (its shards move).
    return yield* Effect.raceFirst(Layer.launch(runnerLayer(pool, runner)), pool.broken);
  }))),
  { disableErrorReporting: true },
);
