/**
 * File helpers shared by every stage: a typed error for every fallible file operation, atomic
 * writes (a run killed mid-write never leaves a file a later run trusts), folders written as a
 * unit, checksums, and reads that refuse named pipes and devices.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { createHash } from "node:crypto";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";

/** A file operation failed: names the path, what was attempted and the OS reason (`EACCES`…). */
export class IoError extends Data.TaggedError("IoError")<{
  readonly path: string;
  readonly operation: string;
  readonly reason: string;
}> {
  /** "Cannot <operation> <path>: <reason>". */
  override get message(): string {
    return `Cannot ${this.operation} "${this.path}": ${this.reason}`;
  }
}

/** The OS reason of a thrown file error: its code (when it has one) and its message. */
export function osReason(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    // Deno appends the call and path ("…: mkdir '/x'"); the path is already in our message.
    const text = cause.message.replace(/[:,]?\s*[a-z]+\s+'[^']*'(\s*->\s*'[^']*')?$/i, "");
    return typeof code === "string" && !text.includes(code) ? `${code}: ${text}` : text;
  }
  return String(cause);
}

/**
 * Run a fallible file operation as an Effect that fails with an {@link IoError} naming `path`.
 *
 * @example A missing file is a typed error with the path and the reason
 * ```ts
 * import { Effect } from "effect";
 * import { tryIo } from "./files.ts";
 * const error = await Effect.runPromise(
 *   Effect.flip(tryIo("/no/such/file", "read", () => Deno.readFile("/no/such/file"))),
 * );
 * if (error._tag !== "IoError" || !error.message.includes("/no/such/file")) throw error;
 * ```
 */
export const tryIo = <A>(
  path: string,
  operation: string,
  run: () => Promise<A>,
): Effect.Effect<A, IoError> =>
  Effect.tryPromise({
    try: run,
    catch: (cause) => new IoError({ path, operation, reason: osReason(cause) }),
  });

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
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  await writeAtomicWith(path, (tmp) => Deno.writeFile(tmp, bytes));
}

/** Make `path` whole or not at all: `write` fills a temporary sibling, synced and renamed. */
export async function writeAtomicWith(
  path: string,
  write: (tmp: string) => Promise<void>,
): Promise<void> {
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    await write(tmp);
    const file = await Deno.open(tmp, { write: true });
    try {
      await file.sync(); // the data on disk before the rename
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

/** {@link writeFileAtomic} as an Effect with a typed {@link IoError}. */
export const writeFile = (path: string, data: Uint8Array | string): Effect.Effect<void, IoError> =>
  tryIo(path, "write", () => writeFileAtomic(path, data));

/** {@link writeJsonAtomic} as an Effect with a typed {@link IoError}. */
export const writeJson = (path: string, value: unknown): Effect.Effect<void, IoError> =>
  tryIo(path, "write", () => writeJsonAtomic(path, value));

/** Read a whole file, failing with an {@link IoError} naming the path. */
export const readFile = (path: string): Effect.Effect<Uint8Array, IoError> =>
  tryIo(path, "read", () => Deno.readFile(path));

/** Hex sha256 of some bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * `path` as a results file should record it: relative to `root` (the checkout, under
 * `deno task`) when it lies inside, so results read the same in every clone; else absolute.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { portablePath } from "./files.ts";
 * strictEqual(portablePath("/repo/fixtures/models/mnist", "/repo"), "fixtures/models/mnist");
 * strictEqual(portablePath("/repo-2/model.onnx", "/repo"), "/repo-2/model.onnx");
 * ```
 */
export function portablePath(path: string, root: string = Deno.cwd()): string {
  const inside = relative(resolve(root), resolve(path));
  return inside === "" || inside.startsWith("..") || isAbsolute(inside) ? resolve(path) : inside;
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

const PROBE_TEXT = "grood write probe: removed when the check ends\n";

/** What a probe named `name` holds if grood's (older probes held one zero byte), or undefined. */
const probeContent = (name: string): { pid: number; bytes: Uint8Array } | undefined => {
  const m = /^\.grood-write-probe-(\d+)-[0-9a-f]{8}$/.exec(name);
  if (m !== null) return { pid: Number(m[1]), bytes: new TextEncoder().encode(PROBE_TEXT) };
  const old = /^\.write-probe-(\d+)-[0-9a-f]{8}$/.exec(name);
  return old === null ? undefined : { pid: Number(old[1]), bytes: new Uint8Array(1) };
};

/** True when process `pid` runs (no `/proc`: when `leftover`, what it left, is under a day old). */
export const processAlive = async (pid: number, leftover: string): Promise<boolean> => {
  if (pid === Deno.pid) return true;
  if (await exists("/proc/self").catch(() => false)) return await exists(`/proc/${pid}`);
  const info = await Deno.lstat(leftover);
  return Date.now() - (info.mtime?.getTime() ?? 0) < 24 * 3600 * 1000;
};

/**
 * Remove the writability probes killed checks left in `dir`: regular files named and filled
 * exactly as grood writes them, of dead processes; nothing else. Returns those removed.
 */
export async function tidyProbes(dir: string): Promise<ReadonlyArray<string>> {
  const removed: Array<string> = [];
  const entries = await Array.fromAsync(Deno.readDir(dir)).catch((error) => {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return [];
    }
    throw error;
  });
  for (const entry of entries) {
    const probe = probeContent(entry.name);
    if (probe === undefined || !entry.isFile) continue;
    const path = join(dir, entry.name);
    const info = await Deno.lstat(path);
    if (!info.isFile || info.size !== probe.bytes.length) continue;
    const bytes = await Deno.readFile(path);
    if (!bytes.every((b, i) => b === probe.bytes[i])) continue;
    if (await processAlive(probe.pid, path)) continue;
    await Deno.remove(path);
    removed.push(path);
  }
  return removed;
}

/** The folders of `dir` and its parents that do not exist yet, deepest first. */
export const missingFolders = async (dir: string): Promise<Array<string>> => {
  const missing: Array<string> = [];
  for (let d = dir; !(await exists(d)) && dirname(d) !== d; d = dirname(d)) missing.push(d);
  return missing;
};

/**
 * Check that `dir` can be created and written before any computation: creates it, writes and
 * removes a probe file, then removes the folders it created.
 *
 * @example A folder under a regular file cannot be written, even by root
 * ```ts
 * import { Effect } from "effect";
 * import { ensureWritable } from "./files.ts";
 * const file = await Deno.makeTempFile();
 * const error = await Effect.runPromise(Effect.flip(ensureWritable(`${file}/results`)));
 * if (error._tag !== "IoError") throw error;
 * ```
 */
export const ensureWritable = (dir: string): Effect.Effect<void, IoError> =>
  tryIo(dir, "write into", async () => {
    const created = await missingFolders(dir);
    await Deno.mkdir(dir, { recursive: true });
    try {
      await tidyProbes(dir);
      const probe = join(dir, `.grood-write-probe-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`);
      // `createNew`: a file of that name (however unlikely) is never overwritten nor removed.
      const file = await Deno.open(probe, { write: true, createNew: true });
      try {
        await file.write(new TextEncoder().encode(PROBE_TEXT));
      } finally {
        file.close();
        await Deno.remove(probe);
      }
    } finally {
      // A folder another process filled meanwhile is not empty: leave it.
      for (const d of created) await Deno.remove(d).catch(() => {});
    }
  });

/**
 * Write a folder as a unit: `fill` writes a temporary sibling of `dir`, which then replaces it
 * by renames; a failure or interruption leaves `dir` as it was.
 */
export const writeDirAtomic = <A, E, R>(
  dir: string,
  fill: (tmp: string) => Effect.Effect<A, E, R>,
): Effect.Effect<A, E | IoError, R> => {
  const suffix = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${suffix}`);
  const old = join(dirname(dir), `.${basename(dir)}.old-${suffix}`);
  return Effect.acquireUseRelease(
    tryIo(tmp, "create folder", () => Deno.mkdir(tmp, { recursive: true })),
    () =>
      Effect.gen(function* () {
        const value = yield* fill(tmp);
        // One uninterruptible step: an interruption between the renames would leave neither
        // folder in place (tests/output_folder_properties_test.ts).
        const had = yield* Effect.uninterruptible(Effect.gen(function* () {
          const had = yield* tryIo(dir, "read", () => exists(dir));
          if (had) yield* tryIo(dir, "move aside", () => Deno.rename(dir, old));
          yield* tryIo(dir, "rename into place", () => Deno.rename(tmp, dir)).pipe(
            // Put the previous results back when the new ones cannot take their place.
            Effect.tapError(() =>
              had ? Effect.promise(() => Deno.rename(old, dir).catch(() => {})) : Effect.void
            ),
          );
          return had;
        }));
        if (had) yield* Effect.promise(() => Deno.remove(old, { recursive: true }).catch(() => {}));
        return value;
      }),
    // After success the folder is already renamed away.
    () => Effect.promise(() => Deno.remove(tmp, { recursive: true }).catch(() => {})),
  );
};

const FILE_KINDS: ReadonlyArray<[keyof Deno.FileInfo, string]> = [
  ["isDirectory", "a folder"],
  ["isFifo", "a named pipe"],
  ["isSocket", "a socket"],
  ["isCharDevice", "a device"],
  ["isBlockDevice", "a device"],
];

const notRegularProblem = (info: Deno.FileInfo): string =>
  `it is ${FILE_KINDS.find(([key]) => info[key] === true)?.[1] ?? "not a regular file"}, ` +
  "not a regular file";

/**
 * Why `path` is not a regular file grood may read, or undefined (also when missing). A named
 * pipe is refused before it is opened: opening it would wait for a writer forever.
 *
 * @example
 * ```ts
 * import { regularFileProblem } from "./files.ts";
 * if (await regularFileProblem("/dev/null") === undefined) throw new Error("a device passed");
 * ```
 */
export async function regularFileProblem(path: string): Promise<string | undefined> {
  const info = await Deno.stat(path).catch(() => undefined);
  return info === undefined || info.isFile ? undefined : notRegularProblem(info);
}

/**
 * The stat of the regular file `path`, in one call: `Deno.errors.NotFound` when it is missing,
 * {@link NotRegularFile} when it is something else.
 */
export async function statRegularFile(path: string): Promise<Deno.FileInfo> {
  const info = await Deno.stat(path);
  if (!info.isFile) throw new NotRegularFile(path, notRegularProblem(info));
  return info;
}

/** A file a reader needs is not a regular file (a named pipe, a device, a folder). */
export class NotRegularFile extends Error {
  constructor(readonly path: string, readonly problem: string) {
    super(problem);
    this.name = "NotRegularFile";
  }

  override toString(): string {
    return this.problem;
  }
}

/** Fail (throw a {@link NotRegularFile}) unless `path` is a regular file or missing. */
export async function assertRegularFile(path: string): Promise<void> {
  const problem = await regularFileProblem(path);
  if (problem !== undefined) throw new NotRegularFile(path, problem);
}

/** The bytes of the regular file `path` (a named pipe there is {@link NotRegularFile}, not read). */
export async function readRegularFile(path: string): Promise<Uint8Array> {
  await assertRegularFile(path);
  return await Deno.readFile(path);
}

/** The text of the regular file `path`, as {@link readRegularFile}. */
export async function readRegularText(path: string): Promise<string> {
  await assertRegularFile(path);
  return await Deno.readTextFile(path);
}

/** The text of `path` as {@link readRegularText}, or `undefined` when there is no such file. */
export function readOptionalText(path: string): Promise<string | undefined> {
  return readRegularText(path).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
}

/** Up to `length` bytes of the regular file `path` from `offset`, and the file's size. */
export async function readSlice(
  path: string,
  offset: number,
  length: number,
): Promise<{ readonly bytes: Uint8Array; readonly size: number }> {
  await assertRegularFile(path);
  const file = await Deno.open(path);
  try {
    const size = (await file.stat()).size;
    await file.seek(offset, Deno.SeekMode.Start);
    const bytes = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
    let got = 0;
    while (got < bytes.length) {
      const n = await file.read(bytes.subarray(got));
      if (n === null) break;
      got += n;
    }
    return { bytes: bytes.subarray(0, got), size };
  } finally {
    file.close();
  }
}
