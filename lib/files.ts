/**
 * File helpers shared by every stage: atomic writes and checksums.
 *
 * Why atomic: a run killed mid-write must never leave a file that a later run trusts, so
 * every artefact is written to a temporary sibling and renamed into place (rename is atomic
 * on POSIX file systems).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { dirname } from "node:path";

/**
 * Write `data` to `path` atomically: temp file in the same folder, fsync, then rename.
 *
 * @example Write and read back
 * ```ts
 * import { writeFileAtomic } from "./files.ts";
 * const path = await Deno.makeTempFile();
 * await writeFileAtomic(path, new TextEncoder().encode("hello"));
 * if (await Deno.readTextFile(path) !== "hello") throw new Error("not written");
 * ```
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  try {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** Write a JSON value atomically, pretty-printed with a trailing newline. */
export function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  return writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/** Hex sha256 of some bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** True when `path` exists (file or folder). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
