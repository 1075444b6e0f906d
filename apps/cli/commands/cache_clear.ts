/**
 * `grood cache clear`: the flags of `tasks/cache_clear.ts`.
 *
 * @module
 */
import { DEFAULT_CACHE_DIR } from "../../../lib/cache/mod.ts";
import { flag } from "../flags.ts";
import { task } from "../task.ts";

/** `grood cache clear`. */
export const cacheClearTask = task("cache clear", {
  summary: "Remove every stage-cache entry from a folder the cache marked as its own.",
  flags: {
    dir: flag.string("stage-cache folder (must hold CACHEDIR.TAG)", {
      default: DEFAULT_CACHE_DIR,
      placeholder: "FOLDER",
    }),
  },
});
