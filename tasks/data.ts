/**
 * `data` task: build the offline OOD sets into `.data/ood/` (idempotent).
 *
 *     deno task data [--only <set>[,<set>…]] [--update-manifests] [--quiet]
 *
 * Downloads the Debian source packages into `.data/debs/` (apt-get download) when missing,
 * extracts them into `.data/src/`, builds each set that is missing or stale, checks it against
 * `fixtures/ood/<set>.json`, and writes a contact sheet per set to `.data/ood/contact/`.
 * A second run only hashes the files and skips every set.
 *
 * @module
 */
import { Cause, Effect, Exit, References } from "effect";
import { dataTask } from "../apps/cli/commands/data.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { buildOodSets } from "../apps/data/build.ts";
import { groodLogger } from "../mod.ts";

const { values } = await taskInput(dataTask);
const args = {
  ...(values.only === undefined ? {} : { only: values.only }),
  updateManifests: values["update-manifests"],
  quiet: values.quiet,
};
const started = performance.now();
// Log lines on stderr (groodLogger); the sets skipped are Debug lines, shown unless --quiet.
const exit = await Effect.runPromiseExit(
  buildOodSets(args).pipe(
    Effect.provideService(References.MinimumLogLevel, args.quiet ? "Info" : "Debug"),
    Effect.provide(groodLogger()),
  ),
);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
if (Exit.isSuccess(exit)) {
  const built = exit.value.filter((r) => r.status === "built").length;
  if (!args.quiet || built > 0) {
    console.log(`data: ${exit.value.length} sets (${built} built) in ${seconds} s`);
  }
} else {
  const error = Cause.squash(exit.cause);
  console.error(
    `data: failed after ${seconds} s: ${error instanceof Error ? error.message : String(error)}`,
  );
  Deno.exit(1);
}
