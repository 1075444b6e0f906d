/**
 * Clearing a stage cache (`grood cache clear`): only a marked folder, only what looks like entries.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { join } from "node:path";
import { exists, type IoError, regularFileProblem, tryIo } from "../io/files.ts";
import { CACHE_MARKER, MARKER_TEXT } from "./cache.ts";

/** `clearStageCache` was pointed at a folder that is not a grood stage cache. */
export class NotACache extends Data.TaggedError("NotACache")<{
  readonly path: string;
  /** Why: no marker, or a marker another program wrote (`CACHEDIR.TAG` is a shared convention). */
  readonly reason: string;
}> {
  /** Names the folder and why it is refused. */
  override get message(): string {
    return `Refusing to clear "${this.path}": it is not a grood stage cache (${this.reason})`;
  }
}

/**
 * The name of a cache write's temporary folder (`KEY.tmp-PID-ID`) or of a rejected entry moved
 * aside (`KEY.tmp-rejected-ID`): any other name holding `.tmp-` may be a user's folder.
 */
const GROOD_TEMPORARY = /\.tmp-(?:\d+|rejected)-[0-9a-f]+$/;

/** What {@link clearStageCache} removed and left. */
export interface ClearReport {
  /** Number of cache entries removed. */
  readonly removed: number;
  /** Paths that are not cache entries, left in place. */
  readonly kept: ReadonlyArray<string>;
}

/**
 * Remove every entry (and temporary folder) under `root`, and nothing else: `root` must hold the
 * {@link CACHE_MARKER} grood writes, byte for byte, and only folders shaped as entries
 * (`<stage>/<key>` with an `entry.json`, or a temporary one: `KEY.tmp-PID-ID`,
 * `KEY.tmp-rejected-ID`) are removed; the rest is reported as kept. A missing root is already
 * clear.
 */
export const clearStageCache = (
  root: string,
): Effect.Effect<ClearReport, NotACache | IoError> =>
  Effect.gen(function* () {
    if (!(yield* tryIo(root, "read", () => exists(root)))) return { removed: 0, kept: [] };
    // Other programs write `CACHEDIR.TAG` too (Cargo, pip): only grood's own text counts. Only a
    // regular file is read (a named pipe would wait for a writer).
    const markerPath = join(root, CACHE_MARKER);
    const notFile = yield* tryIo(markerPath, "read", () => regularFileProblem(markerPath));
    const marker = notFile !== undefined ? undefined : yield* tryIo(
      markerPath,
      "read",
      () =>
        Deno.readTextFile(markerPath).catch((error) => {
          if (error instanceof Deno.errors.NotFound) return undefined;
          throw error;
        }),
    );
    const reason = notFile !== undefined
      ? `${CACHE_MARKER}: ${notFile}`
      : marker === undefined
      ? `no ${CACHE_MARKER}; a cache written before grood marked its caches must be removed by hand`
      : marker !== MARKER_TEXT
      ? `its ${CACHE_MARKER} is not the one grood writes: another program's cache`
      : undefined;
    if (reason !== undefined) return yield* new NotACache({ path: root, reason });
    let removed = 0;
    const kept: Array<string> = [];
    const list = (dir: string) => tryIo(dir, "list", () => Array.fromAsync(Deno.readDir(dir)));
    for (const stage of yield* list(root)) {
      if (stage.name === CACHE_MARKER) continue;
      const stageDir = join(root, stage.name);
      if (!stage.isDirectory) {
        kept.push(stageDir);
        continue;
      }
      let left = 0;
      for (const entry of yield* list(stageDir)) {
        const path = join(stageDir, entry.name);
        const isEntry = entry.isDirectory &&
          (GROOD_TEMPORARY.test(entry.name) ||
            (yield* tryIo(path, "read", () => exists(join(path, "entry.json")))));
        if (isEntry) {
          yield* tryIo(path, "remove", () => Deno.remove(path, { recursive: true }));
          removed++;
        } else {
          kept.push(path);
          left++;
        }
      }
      if (left === 0) yield* tryIo(stageDir, "remove", () => Deno.remove(stageDir));
    }
    if (kept.length === 0) {
      yield* tryIo(root, "remove", async () => {
        await Deno.remove(join(root, CACHE_MARKER));
        await Deno.remove(root);
      });
    }
    return { removed, kept };
  });
