/**
 * `deno task runner --detector DIR [--pg URL] [--host H] [--port P]`: open the fitted detector
 * once, join the cluster and score chunks until SIGTERM or Ctrl-C, which hand the runner's shards
 * to the other runners before it exits.
 *
 * @module
 */
import { runMain } from "@effect/platform-node/NodeRuntime";
import { Effect, Layer } from "effect";
import { invocationFolder, parseRunnerArgs, RUNNER_USAGE, UsageError } from "./cli.ts";
import { runnerLayer } from "./runner.ts";
import { scoringPool } from "./worker_pool.ts";

let parsed: ReturnType<typeof parseRunnerArgs>;
try {
  parsed = parseRunnerArgs(Deno.args, (name) => Deno.env.get(name), invocationFolder());
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(error.message);
  Deno.exit(2);
}
if (parsed === "help") {
  console.log(RUNNER_USAGE);
  Deno.exit(0);
}
const { detector: folder, runner } = parsed;

runMain(Effect.scoped(Effect.gen(function* () {
  const pool = yield* scoringPool(folder, runner.concurrency);
  yield* Effect.logInfo(
    `runner ${runner.host}:${runner.port} serving ${pool.folder} ` +
      `(version ${pool.version.slice(0, 12)}) on ${runner.concurrency} worker(s)`,
  );
  // A worker that stopped or hangs takes the runner out of the cluster (its shards move).
  return yield* Effect.raceFirst(Layer.launch(runnerLayer(pool, runner)), pool.broken);
})));
