/**
 * Checksums on every read at no cost on the next run: a small memo file remembers, for each
 * file whose checksum was computed, its size, modification time and digest. A file whose size
 * and mtime still match its memo line is not hashed again; any write to the file (which
 * changes its mtime) makes it hashed afresh, so a corrupted file is caught on its next load.
 *
 * The memo is only an accelerator: if it cannot be read or written, files are hashed every
 * time and nothing else changes.
 *
 * @module
 */
import { Effect } from "effect";
import { fileURLToPath } from "node:url";
import { writeJsonAtomic } from "./files.ts";

/** The default memo file: `.data/verified.json` at the project root. */
export const DEFAULT_VERIFIED_MEMO: string = fileURLToPath(
  new URL("../../.data/verified.json", import.meta.url),
);

interface MemoLine {
  readonly size: number;
  readonly mtimeMs: number;
  readonly digest: string;
}

const readMemo = async (memo: string): Promise<Record<string, MemoLine>> => {
  try {
    const value = JSON.parse(await Deno.readTextFile(memo));
    return value !== null && typeof value === "object" ? value : {};
  } catch {
    return {};
  }
};

/**
 * The digest of the file at `path` whose content is `bytes`, computed by `digest` unless the
 * memo already holds it for the file's current size and mtime. `kind` separates digests of
 * different kinds of the same file (e.g. raw bytes vs gunzipped bytes).
 *
 * @example The second call is served from the memo
 * ```ts
 * import { Effect } from "effect";
 * import { sha256Hex } from "./files.ts";
 * import { memoDigest } from "./verified.ts";
 * const dir = await Deno.makeTempDir();
 * const path = `${dir}/data.bin`;
 * await Deno.writeFile(path, new Uint8Array([1, 2, 3]));
 * let hashed = 0;
 * const digest = (b: Uint8Array) => (hashed++, sha256Hex(b));
 * const bytes = await Deno.readFile(path);
 * const memo = `${dir}/verified.json`;
 * const a = await Effect.runPromise(memoDigest(path, bytes, "raw", digest, memo));
 * const b = await Effect.runPromise(memoDigest(path, bytes, "raw", digest, memo));
 * if (a !== b || hashed !== 1) throw new Error("memo not used");
 * ```
 */
export const memoDigest = (
  path: string,
  bytes: Uint8Array,
  kind: string,
  digest: (bytes: Uint8Array) => string,
  memo: string = DEFAULT_VERIFIED_MEMO,
): Effect.Effect<string> =>
  Effect.promise(async () => {
    // Only an accelerator: every failure below falls back to hashing, never to trusting.
    const stat = await Deno.stat(path).catch(() => undefined);
    const mtimeMs = stat?.mtime?.getTime();
    const id = `${kind}:${path}`;
    const lines = await readMemo(memo);
    const line = lines[id];
    if (
      stat !== undefined && mtimeMs !== undefined && line !== undefined &&
      line.size === stat.size && line.size === bytes.length && line.mtimeMs === mtimeMs
    ) {
      return line.digest;
    }
    const value = digest(bytes);
    if (stat !== undefined && mtimeMs !== undefined && stat.size === bytes.length) {
      const fresh = await readMemo(memo);
      fresh[id] = { size: stat.size, mtimeMs, digest: value };
      // Forget files that are gone (e.g. temporary files of tests).
      for (const key of Object.keys(fresh)) {
        const file = key.slice(key.indexOf(":") + 1);
        if (!(await Deno.stat(file).then(() => true, () => false))) delete fresh[key];
      }
      await writeJsonAtomic(memo, fresh).catch(() => {});
    }
    return value;
  });
