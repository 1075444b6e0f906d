/**
 * The stage cache: each stage's output stored under a key over everything it depends on, checked
 * on every read, written atomically by any number of writers (`StageCache`).
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
