/**
 * `deno task cache:clear [--dir cache]`: remove every stage-cache entry (and any temporary
 * folder an interrupted run left).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { clearStageCache, DEFAULT_CACHE_DIR } from "../lib/pipeline/cache.ts";

const { values } = parseArgs({ options: { dir: { type: "string", default: DEFAULT_CACHE_DIR } } });
await clearStageCache(values.dir);
console.log(`cache: cleared ${values.dir}/`);
