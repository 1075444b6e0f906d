/**
 * Checksums on every read at no cost on the next run: a memo file remembers each hashed file's
 * size, mtime and digest, and a file whose size and mtime still match is not hashed again (a
 * write changes the mtime). Only an accelerator: a memo that cannot be read, is not a memo
 * (decoded strictly) or cannot be written just means every file is hashed.
 *
 * @module
 */
import { Data, Effect, Schema } from "effect";
import { fileURLToPath } from "node:url";
import { writeJsonAtomic } from "./files.ts";
import { readOptionalJson } from "./json_file.ts";

/** The default memo file: `.data/verified.json` at the project root. */
const DEFAULT_VERIFIED_MEMO: string = fileURLToPath(
  new URL("../../.data/verified.json", import.meta.url),
);

const MemoLine = Schema.Struct({
  size: Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0))),
  mtimeMs: Schema.Finite,
  digest: Schema.String,
});

/** The memo file: for each `<kind>:<path>`, the file's size, mtime and digest. */
const VerifiedMemo = Schema.Record(Schema.String, MemoLine);
type VerifiedMemo = typeof VerifiedMemo.Type;

/** A memo file that cannot be read or is not a memo: names the file and what is wrong. */
export class VerifiedMemoInvalid extends Data.TaggedError("VerifiedMemoInvalid")<{
  readonly path: string;
  readonly problem: string;
}> {
  override get message(): string {
    return `Cannot use the checksum memo "${this.path}": ${this.problem}`;
  }
}

/** Read and strictly decode the memo at `path`; a missing memo is empty. */
export const readVerifiedMemo = (
  path: string,
): Effect.Effect<VerifiedMemo, VerifiedMemoInvalid> =>
  readOptionalJson(VerifiedMemo, path, (problem) => new VerifiedMemoInvalid({ path, problem }))
    .pipe(Effect.map((memo) => memo ?? {}));

/** The memo's lines to start from: none when it cannot be used (then every file is hashed). */
const readMemo = (memo: string): Promise<Record<string, VerifiedMemo[string]>> =>
  Effect.runPromise(
    readVerifiedMemo(memo).pipe(
      Effect.map((lines) => ({ ...lines })),
      Effect.orElseSucceed(() => ({})),
    ),
  );

/**
 * The digest of the file at `path` whose content is `bytes`, computed by `digest` unless the
 * memo holds it for the file's size and mtime. `kind` separates digests of one file (raw bytes
 * vs gunzipped bytes).
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
    const line = (await readMemo(memo))[id];
    const known = stat !== undefined && mtimeMs !== undefined && stat.size === bytes.length;
    if (known && line?.size === stat.size && line.mtimeMs === mtimeMs) return line.digest;
    const value = digest(bytes);
    if (known) {
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
