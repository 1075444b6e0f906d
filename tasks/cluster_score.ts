/**
 * `grood cluster score --detector DIR --job DIR [--out FILE] SRC…`: score data on the cluster's
 * runners (`grood cluster runner`) and write the rows `grood score` writes. Run it again with the
 * same arguments to resume after it was stopped.
 *
 * @module
 */
import { runMain } from "@effect/platform-node/NodeRuntime";
import { Effect } from "effect";
import { clusterScoreTask } from "../apps/cli/commands/cluster_score.ts";
import { invocationPath, reportFailure } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { driverOptions, runDriver } from "../apps/cluster/mod.ts";

const { values, positionals } = await taskInput(clusterScoreTask);
const driver = driverOptions(values, positionals, invocationPath("."));

runMain(
  reportFailure(Effect.gen(function* () {
    const summary = yield* runDriver(driver, (line) => console.error(line));
    console.error(
      `${summary.images} images scored in ${summary.chunks} chunks ` +
        `(${summary.resumed} found done), ${summary.flagged} flagged OOD` +
        (summary.invalid === 0 ? "" : `, ${summary.invalid} invalid`) +
        ` in ${summary.seconds.toFixed(1)} s (scoring ${summary.scoringSeconds.toFixed(2)} s, ` +
        `runners busy ${summary.runnerSeconds.toFixed(2)} s)` +
        (driver.out === undefined ? "" : ` → ${driver.out}`),
    );
  })),
  { disableErrorReporting: true },
);
