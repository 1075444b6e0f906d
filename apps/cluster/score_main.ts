/**
 * `deno task score-cluster --detector DIR --job DIR [--out FILE] SRC…`: score data on the
 * cluster's runners (`deno task runner`) and write the rows `deno task score` writes. Run it
 * again with the same arguments to resume after it was stopped.
 *
 * @module
 */
import { runMain } from "@effect/platform-node/NodeRuntime";
import { Effect } from "effect";
import { DRIVER_USAGE, invocationFolder, parseDriverArgs, UsageError } from "./cli.ts";
import { runDriver } from "./driver.ts";

let options: ReturnType<typeof parseDriverArgs>;
try {
  options = parseDriverArgs(Deno.args, (name) => Deno.env.get(name), invocationFolder());
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(error.message);
  Deno.exit(2);
}
if (options === "help") {
  console.log(DRIVER_USAGE);
  Deno.exit(0);
}
const driver = options;

runMain(Effect.gen(function* () {
  const summary = yield* runDriver(driver, (line) => console.error(line));
  console.error(
    `${summary.images} images scored in ${summary.chunks} chunks ` +
      `(${summary.resumed} found done), ${summary.flagged} flagged OOD` +
      (summary.invalid === 0 ? "" : `, ${summary.invalid} invalid`) +
      ` in ${summary.seconds.toFixed(1)} s (scoring ${summary.scoringSeconds.toFixed(2)} s, ` +
      `runners busy ${summary.runnerSeconds.toFixed(2)} s)` +
      (driver.out === undefined ? "" : ` → ${driver.out}`),
  );
}));
