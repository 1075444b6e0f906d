/**
 * The stage cache: each stage's output stored under a key over everything that determines it
 * (model, data checksums, parameters, the stage's code, its inputs' keys), as a folder
 * `<root>/<stage>/<key>/` of `.npy` arrays and an `entry.json` (their shapes and sha256s) written
 * in a temporary sibling and renamed into place. Every read re-checks the entry against the
 * request and its bytes; a damaged or mismatched entry is reported and recomputed, and a cache
 * that cannot be written only warns: docs/reliability.md.
 *
 * @module
 */
import { Context, Data, Effect, Layer, Schema } from "effect";
import { join } from "node:path";
import {
  exists,
  IoError,
  osReason,
  readRegularFile,
  sha256Hex,
  tryIo,
  writeFileAtomic,
} from "../io/files.ts";
import { insideBase } from "../io/paths.ts";
import { decodeNpy, encodeNpy, type NpyArray } from "../io/npy.ts";
import { decodeJsonText, type InvalidInput } from "../decode.ts";
import { canonicalJson, stageKey } from "./key.ts";

export { canonicalJson, stageKey } from "./key.ts";

/** How a stage output is stored: named arrays plus JSON meta data. */
export interface Codec<A> {
  /** The value as named arrays (stored as `.npy` files) and JSON meta data. */
  readonly encode: (value: A) => {
    readonly arrays: Readonly<Record<string, Pick<NpyArray, "data" | "shape">>>;
    readonly meta: unknown;
  };
  /** The value back from what `encode` stored. */
  readonly decode: (
    arrays: ReadonlyMap<string, Pick<NpyArray, "data" | "shape">>,
    meta: unknown,
  ) => A;
  /** The number of rows (images, samples) a value holds, checked against the request. */
  readonly rows?: (value: A) => number;
}

/** A cache hit or a freshly computed value, with its key. */
export interface Cached<A> {
  /** The stage output. */
  readonly value: A;
  /** Its cache key (sha256 over the stage, its code version and its inputs). */
  readonly key: string;
  /** Read from the cache (else computed in this run). */
  readonly hit: boolean;
}

/** What a request may add to its key: the row count the output must have. */
export interface CacheRequest {
  /** Rows (images, samples) the output must hold; an entry with another count is rejected. */
  readonly rows?: number;
}

/** Counts of what the cache did in a run (for the run's summary). */
export interface CacheStats {
  /** Outputs read from the cache. */
  readonly hits: number;
  /** Outputs computed in this run. */
  readonly computed: number;
  /** Entries found damaged or mismatched, reported and recomputed. */
  readonly rejected: number;
  /** Entries that could not be stored (the run went on without caching them). */
  readonly unwritten: number;
}

const Count = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)));

/** The content of an entry's `entry.json`: for each array its file, shape and sha256. */
const CacheEntry = Schema.Struct({
  stage: Schema.String,
  key: Schema.String,
  /** The key's parts (what the output depends on), for people reading the cache. */
  parts: Schema.Unknown,
  /** Rows (images, samples) the output holds, when the codec counts them. */
  rows: Schema.optionalKey(Count),
  /** The codec's meta data (absent when the codec stores none). */
  meta: Schema.optionalKey(Schema.Unknown),
  arrays: Schema.Record(
    Schema.String,
    Schema.Struct({ file: Schema.String, shape: Schema.Array(Count), sha256: Schema.String }),
  ),
});
type CacheEntry = typeof CacheEntry.Type;

/**
 * A strict decoder of the `entry.json` at `path` (grood's own format): an undeclared key, a wrong
 * type or text that is not JSON is refused, naming the file (the cache then recomputes it).
 *
 * @example An extra key is refused by name
 * ```ts
 * import { Effect } from "effect";
 * import { decodeEntryJson } from "./cache.ts";
 * const text = JSON.stringify({ stage: "s", key: "k", parts: {}, arrays: {}, extra: 1 });
 * const exit = Effect.runSyncExit(decodeEntryJson("/cache/s/k/entry.json")(text));
 * if (exit._tag !== "Failure" || !String(exit.cause).includes("unknown key extra")) {
 *   throw new Error("expected the extra key refused");
 * }
 * ```
 */
export const decodeEntryJson = (
  path: string,
): (text: string) => Effect.Effect<CacheEntry, InvalidInput> => decodeJsonText(CacheEntry, path);

/** The file that marks a folder as a grood stage cache. */
export const CACHE_MARKER = "CACHEDIR.TAG";
/** Its text: a tag of the convention, and what it marks. */
export const MARKER_TEXT = "Signature: 8a477f597d28d172789f06886806bc55\n" +
  "# This file marks a grood stage cache (https://bford.info/cachedir/).\n" +
  "# `deno task cache:clear` removes only the entries of folders holding it.\n";

/** The stage cache service. */
export interface StageCacheShape {
  /** Root folder, or undefined when caching is off (`--no-cache`). */
  readonly root: string | undefined;
  /** The cached output of `stage` for `parts`, or computed, stored and returned. */
  readonly cached: <A, E, R>(
    stage: string,
    parts: unknown,
    codec: Codec<A>,
    compute: Effect.Effect<A, E, R>,
    request?: CacheRequest,
  ) => Effect.Effect<Cached<A>, E, R>;
  /** What the cache did so far. */
  readonly stats: () => CacheStats;
}

/** Why an entry on disk cannot be served. */
class Rejected extends Data.TaggedError("Rejected")<{ readonly reason: string }> {}

const rejected = (error: { readonly message: string }) => new Rejected({ reason: error.message });

const readEntry = <A>(
  dir: string,
  stage: string,
  key: string,
  codec: Codec<A>,
  request: CacheRequest,
): Effect.Effect<A | undefined, Rejected> =>
  Effect.gen(function* () {
    const entryPath = join(dir, "entry.json");
    const reject = (reason: string) => Effect.fail(new Rejected({ reason }));
    const text = yield* Effect.tryPromise({
      try: () =>
        Deno.readTextFile(entryPath).catch((error) => {
          // No entry yet (or no cache folder yet): a miss, not a damaged entry.
          if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
            return undefined;
          }
          throw error;
        }),
      catch: (cause) => new Rejected({ reason: `entry.json unreadable (${osReason(cause)})` }),
    });
    if (text === undefined) return undefined;
    const entry = yield* Effect.mapError(decodeEntryJson(entryPath)(text), rejected);
    if (entry.stage !== stage) return yield* reject(`it records stage "${entry.stage}"`);
    if (entry.key !== key) return yield* reject(`it records key ${entry.key}`);
    if (request.rows !== undefined && entry.rows !== request.rows) {
      return yield* reject(`it records ${entry.rows} rows, ${request.rows} were asked for`);
    }
    const arrays = new Map<string, Pick<NpyArray, "data" | "shape">>();
    for (const [name, { file, shape, sha256 }] of Object.entries(entry.arrays)) {
      // A path from entry.json stays inside the entry, and is a regular file (never a pipe).
      const path = yield* Effect.mapError(
        insideBase(dir, file, entryPath),
        () => new Rejected({ reason: `${file} leads outside the entry` }),
      );
      const bytes = yield* Effect.tryPromise({
        try: () => readRegularFile(path),
        catch: (cause) => new Rejected({ reason: `${file} unreadable (${osReason(cause)})` }),
      });
      if (sha256Hex(bytes) !== sha256) return yield* reject(`${file} fails its sha256 check`);
      const array = yield* Effect.mapError(decodeNpy(bytes, path), rejected);
      if (canonicalJson(array.shape) !== canonicalJson(shape)) {
        return yield* reject(`${file} has shape [${array.shape}], entry.json says [${shape}]`);
      }
      arrays.set(name, { data: array.data, shape: array.shape });
    }
    const value = yield* Effect.try({
      try: () => codec.decode(arrays, entry.meta),
      catch: (cause) => new Rejected({ reason: `cannot decode: ${String(cause)}` }),
    });
    const rows = codec.rows?.(value);
    if (request.rows !== undefined && rows !== undefined && rows !== request.rows) {
      return yield* reject(`it holds ${rows} rows, ${request.rows} were asked for`);
    }
    return value;
  });

/** Is `dir` a complete entry for `key` (written by another process)? */
const isComplete = async (dir: string, key: string): Promise<boolean> => {
  const path = join(dir, "entry.json");
  const text = await Deno.readTextFile(path).catch(() => undefined);
  if (text === undefined) return false;
  const exit = Effect.runSyncExit(decodeEntryJson(path)(text));
  return exit._tag === "Success" && exit.value.key === key;
};

const writeEntry = <A>(
  root: string,
  dir: string,
  entry: Omit<CacheEntry, "arrays" | "meta">,
  codec: Codec<A>,
  value: A,
): Effect.Effect<void, IoError> =>
  tryIo(dir, "write cache entry", async () => {
    const marker = join(root, CACHE_MARKER);
    if (!(await exists(marker))) await writeFileAtomic(marker, MARKER_TEXT);
    const tmp = `${dir}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.mkdir(tmp, { recursive: true });
    try {
      const { arrays, meta } = codec.encode(value);
      const listed: Record<string, CacheEntry["arrays"][string]> = {};
      for (const [name, { data, shape }] of Object.entries(arrays)) {
        const file = `${name}.npy`;
        const bytes = Effect.runSync(encodeNpy(data, shape, join(tmp, file)));
        await writeFileAtomic(join(tmp, file), bytes);
        listed[name] = { file, shape, sha256: sha256Hex(bytes) };
      }
      const full: CacheEntry = { ...entry, meta, arrays: listed };
      await writeFileAtomic(join(tmp, "entry.json"), JSON.stringify(full, null, 2) + "\n");
      // Another writer that finished the same entry first: its entry is as good as ours.
      await Deno.rename(tmp, dir).catch(async (error) => {
        if (!(await isComplete(dir, entry.key))) throw error;
      });
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  });

/** Move a rejected entry out of the way (another process may be doing the same). */
const discard = (dir: string): Promise<void> => {
  const trash = `${dir}.tmp-rejected-${crypto.randomUUID().slice(0, 8)}`;
  return Deno.rename(dir, trash).then(() => Deno.remove(trash, { recursive: true }), () => {})
    .catch(() => {});
};

/** Options of {@link makeStageCache}. */
export interface StageCacheOptions {
  /** Where warnings go (a rejected entry, an unwritable cache); default `Effect.logWarning`. */
  readonly warn?: (line: string) => void;
}

/** A cache rooted at `root` (or no caching when `root` is undefined). */
export function makeStageCache(
  root: string | undefined,
  options: StageCacheOptions = {},
): StageCacheShape {
  const warn = (line: string): Effect.Effect<void> =>
    options.warn === undefined ? Effect.logWarning(line) : Effect.sync(() => options.warn!(line));
  const stats = { hits: 0, computed: 0, rejected: 0, unwritten: 0 };
  let writable = true;
  return {
    root,
    stats: () => ({ ...stats }),
    cached: (stage, parts, codec, compute, request = {}) =>
      Effect.gen(function* () {
        const key = stageKey(stage, parts);
        if (root === undefined) {
          stats.computed++;
          return { value: yield* compute, key, hit: false };
        }
        const dir = join(root, stage, key);
        const found = yield* readEntry(dir, stage, key, codec, request).pipe(
          Effect.catchTag("Rejected", ({ reason }) =>
            Effect.gen(function* () {
              stats.rejected++;
              yield* warn(
                `cache: ${stage} entry ${key.slice(0, 12)} rejected (${reason}); recomputing`,
              );
              yield* Effect.promise(() => discard(dir));
              return undefined;
            })),
        );
        if (found !== undefined) {
          stats.hits++;
          return { value: found, key, hit: true };
        }
        const value = yield* compute;
        stats.computed++;
        if (!writable) {
          stats.unwritten++;
          return { value, key, hit: false };
        }
        const rows = codec.rows === undefined ? {} : { rows: codec.rows(value) };
        yield* writeEntry(root, dir, { stage, key, parts, ...rows }, codec, value).pipe(
          Effect.catchTag("IoError", (error) =>
            Effect.suspend(() => {
              stats.unwritten++;
              if (!writable) return Effect.void;
              writable = false;
              return warn(`cache: ${error.message}; the run goes on without caching`);
            })),
        );
        return { value, key, hit: false };
      }),
  };
}

/** The default cache folder (relative to the working directory). */
export const DEFAULT_CACHE_DIR = "cache";

/** The `StageCache` reference, with the layer that provides a disk cache. */
export interface StageCacheReference extends Context.Reference<StageCacheShape> {
  /** A disk cache at `root`, or none at all when `root` is `undefined` (`--no-cache`). */
  readonly layer: (root: string | undefined, options?: StageCacheOptions) => Layer.Layer<never>;
}

/**
 * The stage cache of every pipeline stage, a `Context.Reference` whose default is off (computes
 * everything, stores nothing); `GroodLive` provides the disk cache (`StageCache.layer`).
 */
export const StageCache: StageCacheReference = Object.assign(
  Context.Reference<StageCacheShape>("grood/StageCache", {
    defaultValue: () => makeStageCache(undefined),
  }),
  {
    layer: (root: string | undefined, options: StageCacheOptions = {}): Layer.Layer<never> =>
      Layer.sync(StageCache, () => makeStageCache(root, options)),
  },
);

/** One line for a run's summary: what the cache served, computed and rejected. */
export function cacheSummary(stats: CacheStats): string {
  const parts = [`${stats.hits} from cache`, `${stats.computed} computed`];
  if (stats.rejected > 0) parts.push(`${stats.rejected} damaged or mismatched entries recomputed`);
  if (stats.unwritten > 0) parts.push(`${stats.unwritten} not stored (cache not writable)`);
  return `cache: ${parts.join(", ")}`;
}
