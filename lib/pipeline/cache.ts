/**
 * The stage cache: each stage's output stored on disk under a key derived from everything that
 * determines it (model weights hash, data checksum, the stage's parameters, the stage's code
 * version and the keys of its inputs). A grid over k reuses features, prototypes and
 * descriptors; a changed parameter changes the key, so a stale result is never reused.
 *
 * An entry is a folder `<root>/<stage>/<key>/` of `.npy` arrays plus `entry.json` (the meta
 * data and each array's sha256). It is written in a temporary sibling folder and renamed into
 * place in one step, and every read re-checks the checksums: a run killed mid-write leaves only
 * a `*.tmp-*` folder, which no later run trusts.
 *
 * @module
 */
import { Context, Effect, Layer } from "effect";
import { join } from "node:path";
import { exists, sha256Hex, writeFileAtomic, writeJsonAtomic } from "../files.ts";
import { decodeNpy, encodeNpy, type NpyData } from "../report/npy.ts";

/**
 * Code version of each cached stage: bump a stage's number whenever its code changes what it
 * computes, so entries made by the old code are not reused.
 */
export const STAGE_VERSIONS: Readonly<Record<string, number>> = {
  features: 1,
  prototypes: 1,
  "ood-prototype": 1,
  descriptors: 1,
  scores: 1,
};

/** How a stage output is stored: named arrays plus JSON meta data. */
export interface Codec<A> {
  readonly encode: (value: A) => {
    readonly arrays: Readonly<Record<string, { data: NpyData; shape: ReadonlyArray<number> }>>;
    readonly meta: unknown;
  };
  readonly decode: (
    arrays: ReadonlyMap<string, { data: NpyData; shape: ReadonlyArray<number> }>,
    meta: unknown,
  ) => A;
}

/** A cache hit or a freshly computed value, with its key. */
export interface Cached<A> {
  readonly value: A;
  readonly key: string;
  readonly hit: boolean;
}

interface EntryJson {
  readonly stage: string;
  readonly key: string;
  readonly parts: unknown;
  readonly meta: unknown;
  readonly arrays: Readonly<Record<string, { file: string; sha256: string }>>;
}

/** Stable JSON (object keys sorted), so equal parts give equal keys. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The cache key of a stage output: sha256 of the stage, its code version and its inputs. */
export function stageKey(stage: string, parts: unknown): string {
  const version = STAGE_VERSIONS[stage] ?? 0;
  return sha256Hex(new TextEncoder().encode(canonicalJson({ stage, version, parts })));
}

/** The stage cache service. */
export interface StageCacheShape {
  /** Root folder, or undefined when caching is off (`--no-cache`). */
  readonly root: string | undefined;
  /**
   * Return the cached output of `stage` for `parts`, or compute, store and return it.
   * A damaged entry is reported in the log and recomputed.
   */
  readonly cached: <A, E, R>(
    stage: string,
    parts: unknown,
    codec: Codec<A>,
    compute: Effect.Effect<A, E, R>,
  ) => Effect.Effect<Cached<A>, E, R>;
}

const readEntry = <A>(dir: string, codec: Codec<A>): Effect.Effect<A | undefined> =>
  Effect.promise(async () => {
    const entryPath = join(dir, "entry.json");
    if (!(await exists(entryPath))) return undefined;
    try {
      const entry = JSON.parse(await Deno.readTextFile(entryPath)) as EntryJson;
      const arrays = new Map<string, { data: NpyData; shape: ReadonlyArray<number> }>();
      for (const [name, { file, sha256 }] of Object.entries(entry.arrays)) {
        const path = join(dir, file);
        const bytes = await Deno.readFile(path);
        if (sha256Hex(bytes) !== sha256) return undefined;
        const array = Effect.runSync(decodeNpy(bytes, path));
        arrays.set(name, { data: array.data, shape: array.shape });
      }
      return codec.decode(arrays, entry.meta);
    } catch {
      return undefined;
    }
  });

const writeEntry = <A>(
  dir: string,
  stage: string,
  key: string,
  parts: unknown,
  codec: Codec<A>,
  value: A,
): Effect.Effect<void> =>
  Effect.promise(async () => {
    const tmp = `${dir}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.mkdir(tmp, { recursive: true });
    try {
      const { arrays, meta } = codec.encode(value);
      const listed: Record<string, { file: string; sha256: string }> = {};
      for (const [name, { data, shape }] of Object.entries(arrays)) {
        const file = `${name}.npy`;
        const bytes = Effect.runSync(encodeNpy(data, shape, join(tmp, file)));
        await writeFileAtomic(join(tmp, file), bytes);
        listed[name] = { file, sha256: sha256Hex(bytes) };
      }
      const entry: EntryJson = { stage, key, parts, meta, arrays: listed };
      await writeJsonAtomic(join(tmp, "entry.json"), entry);
      if (await exists(dir)) await Deno.remove(dir, { recursive: true });
      await Deno.rename(tmp, dir);
    } catch (error) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      throw error;
    }
  });

/** A cache rooted at `root` (or no caching when `root` is undefined). */
export function makeStageCache(root: string | undefined): StageCacheShape {
  return {
    root,
    cached: (stage, parts, codec, compute) =>
      Effect.gen(function* () {
        const key = stageKey(stage, parts);
        if (root === undefined) return { value: yield* compute, key, hit: false };
        const dir = join(root, stage, key);
        const hit = yield* readEntry(dir, codec);
        if (hit !== undefined) return { value: hit, key, hit: true };
        const value = yield* compute;
        yield* writeEntry(dir, stage, key, parts, codec, value);
        return { value, key, hit: false };
      }),
  };
}

/** Remove every entry (and any leftover temporary folder) under `root`. */
export async function clearStageCache(root: string): Promise<void> {
  if (await exists(root)) await Deno.remove(root, { recursive: true });
}

/** The default cache folder (relative to the working directory). */
export const DEFAULT_CACHE_DIR = "cache";

/** The stage cache every pipeline stage stores its outputs in. */
export class StageCache extends Context.Service<StageCache, StageCacheShape>()("grood/StageCache") {
  /** A disk cache at `root`, or none (`undefined`: `--no-cache`). */
  static layer(root: string | undefined = DEFAULT_CACHE_DIR): Layer.Layer<StageCache> {
    return Layer.succeed(StageCache, makeStageCache(root));
  }
}
