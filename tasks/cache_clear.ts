/**
 * `deno task cache:clear [--dir cache]`: remove every stage-cache entry (and any temporary
 * folder an interrupted run left). Only a folder the cache marked as its own (`CACHEDIR.TAG`)
 * is touched, and in it only cache entries; any other folder is refused.
 *
 * @module
 */
import { Cause, Effect, Exit } from "effect";
import { parseArgs } from "node:util";
import { clearStageCache, DEFAULT_CACHE_DIR } from "../lib/cache/cache.ts";

const usage = "usage: deno task cache:clear [--dir FOLDER]   (default: cache)";
let dir: string;
try {
  const { values } = parseArgs({
    strict: true,
    allowPositionals: false,
    options: { dir: { type: "string", default: DEFAULT_CACHE_DIR } },
  });
  dir = values.dir;
} catch (error) {
  console.error(`error: ${error instanceof Error ? error.message : String(error)}\n${usage}`);
  Deno.exit(2);
}

const exit = await Effect.runPromiseExit(clearStageCache(dir));
if (Exit.isFailure(exit)) {
  const error = exit.cause.reasons.find(Cause.isFailReason)?.error;
  console.error(`error: ${error instanceof Error ? error.message : Cause.pretty(exit.cause)}`);
  Deno.exit(1);
}
const { removed, kept } = exit.value;
console.log(`cache: removed ${removed} entries from ${dir}/`);
if (kept.length > 0) console.log(`cache: kept ${kept.length} paths that are not entries:`, kept);
