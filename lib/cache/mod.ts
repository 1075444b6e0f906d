/**
 * The stage cache: each stage's output stored under a key over everything it depends on
 * (model, data, settings, the stage's own source), checked on every read, written atomically
 * by any number of concurrent writers; as an Effect service (`StageCache`).
 *
 * @module
 */
export {
  cacheSummary,
  DEFAULT_CACHE_DIR,
  makeStageCache,
  type StageCacheOptions,
} from "./cache.ts";
export { type ClearReport, clearStageCache, NotACache } from "./clear.ts";
export { canonicalJson } from "./key.ts";
