/**
 * `grood cache clear [--dir cache]` (`deno task cache:clear`): remove every stage-cache entry (and any temporary
 * folder an interrupted run left). Only a folder the cache marked as its own (`CACHEDIR.TAG`)
 * is touched, and in it only cache entries; any other folder is refused.
 *
 * @module
 */
import { Cause, Effect, Exit } from "effect";
import { clearStageCache, DEFAULT_CACHE_DIR } from "../lib/cache/mod.ts";
import { cacheClearTask } from "../apps/cli/commands/cache_clear.ts";
import { invocationPath } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";

const { values } = await taskInput(cacheClearTask);
// A folder given is relative to where the command was typed; the default is the checkout's.
const dir = values.dir === DEFAULT_CACHE_DIR ? values.dir : invocationPath(values.dir);

const exit = await Effect.runPromiseExit(clearStageCache(dir));
if (Exit.isFailure(exit)) {
  const error = exit.cause.reasons.find(Cause.isFailReason)?.error;
  console.error(`error: ${error instanceof Error ? error.message : Cause.pretty(exit.cause)}`);
  Deno.exit(1);
}
const { removed, kept } = exit.value;
console.log(`cache: removed ${removed} entries from ${dir}/`);
if (kept.length > 0) console.log(`cache: kept ${kept.length} paths that are not entries:`, kept);
