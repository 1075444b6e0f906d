/**
 * Output folders: the one place where a task decides that it may write, or replace, a folder.
 * Every task that writes a folder (`fit --out`, `reproduce --out`, `ablate --out`, …) goes
 * through {@link writeOutputFolder} (a folder written as a unit) or {@link prepareOutputRoot}
 * (a folder that collects such units, e.g. `results/`).
 *
 * The rules:
 * - A task writes only into a folder that is absent, empty, or one grood made before as the same
 *   kind of output: it holds the {@link OUTPUT_MARKER} file (as the stage cache holds
 *   `CACHEDIR.TAG`) naming that kind, or, for folders written before the marker existed, all the
 *   files a task names as its own (`recognise`).
 * - A folder written as a unit lists every file and folder it held in its marker. Replacing it
 *   deletes only those and the ones the new output writes again: a file anyone added later is a
 *   refusal naming it, checked before the task computes anything and again before the swap.
 * - A folder that collects units ({@link prepareOutputRoot}, e.g. a multi-detector fit's) is
 *   never replaced by one unit: the folders of its kind it holds are named in the refusal, before
 *   the task computes. Such a root is checked with {@link checkOutputRoot}.
 * - Never inside a folder written as a unit (a fitted detector, a benchmark's results): writing
 *   there would change a folder whose contents grood vouches for.
 * - Never the current folder or one of its ancestors, never a symbolic link, never a folder that
 *   is, holds or lies inside one of the task's inputs (training images, the model's folder).
 * - Replacement is atomic: the new folder is filled as a temporary sibling and renamed into
 *   place, so a run that fails or is killed leaves the complete old folder or the complete new
 *   one, and nothing of the user's is kept or deleted besides the folder grood made.
 * - Temporary siblings left by a killed run are removed by the next write beside them; if a run
 *   was killed between its two renames (the old folder moved aside, the new one not yet in
 *   place), the old folder is put back first.
 *
 * A task writing one file (`score --out`, `export-onnx --out`) checks it with
 * {@link checkOutputFile}: never one of its inputs, nor inside an input folder, nor a folder, and
 * an existing file only when the user asked for it to be replaced.
 *
 * Every refusal is an {@link OutputFolderRefused} naming the path and the reason.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { basename, dirname, join, resolve } from "node:path";
import { exists, type IoError, processAlive, tidyProbes, tryIo, writeDirAtomic } from "./files.ts";
import {
  enclosingUnit,
  entriesOf,
  markerText,
  OUTPUT_MARKER,
  readMarker,
  someOf,
  unitsInside,
} from "./output_marker.ts";
import { isWithin } from "./paths.ts";

export { creationTime, OUTPUT_MARKER } from "./output_marker.ts";

/** A folder a task will not write into, and why. */
export class OutputFolderRefused extends Data.TaggedError("OutputFolderRefused")<{
  readonly path: string;
  readonly reason: string;
}> {
  /** Names the folder and why it is refused. */
  override get message(): string {
    return `Refusing to write "${this.path}": ${this.reason}`;
  }
}

/** What a task tells the rules about the folder it writes. */
export interface OutputFolderOptions {
  /** What the folder is (recorded in the marker), e.g. `fitted detector`. */
  readonly kind: string;
  /** The files and folders the task reads: the output may neither be, hold nor lie inside one. */
  readonly inputs?: ReadonlyArray<string>;
  /**
   * File names a folder written by grood before the marker existed holds (all of them), e.g.
   * `["detector.json"]`: such a folder may be replaced too.
   */
  readonly recognise?: ReadonlyArray<string>;
  /** The folder the command was typed in (default: `INIT_CWD`, else the working folder). */
  readonly cwd?: string;
}

/** `path` with links resolved as far as it exists (the rest appended as given). */
const realish = async (path: string): Promise<string> => {
  const rest: Array<string> = [];
  let at = resolve(path);
  for (;;) {
    try {
      return join(await Deno.realPath(at), ...rest.reverse());
    } catch {
      const up = dirname(at);
      if (up === at) return resolve(path);
      rest.push(basename(at));
      at = up;
    }
  }
};

/** The folders a command counts as "current": where it was typed and where it runs. */
const currentFolders = (cwd: string | undefined): ReadonlyArray<string> =>
  cwd !== undefined ? [cwd] : [Deno.env.get("INIT_CWD"), Deno.cwd()].filter(
    (x): x is string => x !== undefined && x !== "",
  );

/** Why grood may not write `dir` (as a unit, or a root collecting units), or undefined. */
const refusal = async (
  dir: string,
  options: OutputFolderOptions,
  as: "unit" | "root",
): Promise<string | undefined> => {
  const real = await realish(dir);
  for (const cwd of currentFolders(options.cwd)) {
    const here = await realish(cwd);
    if (here === real) return "it is the current folder";
    if (isWithin(real, here)) return `it holds the current folder "${cwd}"`;
  }
  for (const input of options.inputs ?? []) {
    const path = await realish(input);
    if (path === real) return `it is an input of this run ("${input}")`;
    if (isWithin(real, path)) return `it holds an input of this run ("${input}")`;
    if (isWithin(path, real)) return `it lies inside an input of this run ("${input}")`;
  }
  const unit = await enclosingUnit(dirname(real));
  if (unit !== undefined) {
    return `it lies inside "${unit.dir}", a ${unit.kind} grood wrote as a whole: writing ` +
      "there would change it; give a folder outside it";
  }
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(dir);
  } catch (error) {
    // Absent, or under a file: nothing of anyone's to lose (the write reports the latter).
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw error;
  }
  if (info.isSymlink) return "it is a symbolic link; give the folder it points to";
  if (!info.isDirectory) return "it is a file, not a folder";
  const names = new Set<string>();
  for await (const entry of Deno.readDir(dir)) names.add(entry.name);
  if (names.size === 0) return undefined;
  if (names.has(OUTPUT_MARKER)) {
    const read = await readMarker(dir);
    if ("problem" in read) {
      return `its ${OUTPUT_MARKER} marker is not one grood wrote (${read.problem}); ` +
        "give a new or empty folder";
    }
    if ("absent" in read) return `its ${OUTPUT_MARKER} marker cannot be read`;
    if (read.marker.kind !== options.kind) {
      return `grood wrote it as a ${read.marker.kind}, not a ${options.kind}; give another folder`;
    }
    if (read.marker.files === undefined) {
      // A root (its units: folders of its kind in it), or a unit from before markers listed
      // files (none of its entries is one): one unit written there would replace a root's units.
      const units = as === "unit" ? await unitsInside(dir, options.kind) : [];
      return units.length === 0 ? undefined : "it collects folders grood wrote, each a " +
        `${options.kind} (${someOf(units)}); one ${options.kind} written there would replace ` +
        "them: give one of them, or another folder";
    }
    const listed = new Set(read.marker.files);
    const added = (await entriesOf(dir)).filter((path) => !listed.has(path));
    return added.length === 0 ? undefined : `it holds files grood did not write there ` +
      `(${someOf(added)}); move them out, or give another folder`;
  }
  const recognise = options.recognise ?? [];
  if (recognise.length > 0 && recognise.every((name) => names.has(name))) return undefined;
  return `it holds files grood did not write (no ${OUTPUT_MARKER} marker); ` +
    "give a new or empty folder, or one grood wrote";
};

/**
 * Check that a task may write (or replace) `dir` under the rules of this module; fails with an
 * {@link OutputFolderRefused} naming the folder and the reason. Tasks call it before any
 * computation, so a refusal costs nothing; {@link writeOutputFolder} checks again when writing.
 *
 * @example A folder of the user's files is refused
 * ```ts
 * import { Effect } from "effect";
 * import { checkOutputFolder } from "./output_folder.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/thesis.txt`, "years of work");
 * const error = await Effect.runPromise(
 *   Effect.flip(checkOutputFolder(dir, { kind: "fitted detector" })),
 * );
 * if (error._tag !== "OutputFolderRefused") throw error;
 * ```
 */
export const checkOutputFolder = (
  dir: string,
  options: OutputFolderOptions,
): Effect.Effect<void, OutputFolderRefused | IoError> => check(dir, options, "unit");

/**
 * Check that a task may collect output folders in `dir` ({@link prepareOutputRoot}), before any
 * computation: the rules of {@link checkOutputFolder}, except that the folders of `options.kind`
 * it already holds (written by earlier runs into this root) are no refusal.
 */
export const checkOutputRoot = (
  dir: string,
  options: OutputFolderOptions,
): Effect.Effect<void, OutputFolderRefused | IoError> => check(dir, options, "root");

/** Both checks: the refusal, if any, as an {@link OutputFolderRefused}. */
const check = (dir: string, options: OutputFolderOptions, as: "unit" | "root") =>
  Effect.gen(function* () {
    const reason = yield* tryIo(dir, "inspect", () => refusal(dir, options, as));
    if (reason !== undefined) return yield* new OutputFolderRefused({ path: dir, reason });
  });

/**
 * Check that a task may write the file `path`: it is not one of `inputs` (a `score --out` over
 * the images it scores), nor inside an input folder or a folder grood wrote as a whole, nor a
 * folder, pipe or device; fails with an {@link OutputFolderRefused} naming the file and the
 * reason. An existing regular file is replaced (atomically, by the file writers) only when
 * `overwrite` is set (the command line's `--overwrite`): grood cannot tell its own earlier
 * output from a user's file of that name. Temporary files that killed writes of this file left
 * beside it are removed.
 *
 * @example An input is never an output
 * ```ts
 * import { Effect } from "effect";
 * import { checkOutputFile } from "./output_folder.ts";
 * const input = await Deno.makeTempFile({ suffix: ".npy" });
 * const error = await Effect.runPromise(
 *   Effect.flip(checkOutputFile(input, { inputs: [input] })),
 * );
 * if (error._tag !== "OutputFolderRefused") throw error;
 * ```
 */
export const checkOutputFile = (
  path: string,
  options: { readonly inputs: ReadonlyArray<string>; readonly overwrite?: boolean },
): Effect.Effect<void, OutputFolderRefused | IoError> =>
  Effect.gen(function* () {
    const reason = yield* tryIo(path, "inspect", async () => {
      const real = await realish(path);
      for (const input of options.inputs) {
        const at = await realish(input);
        if (at === real) return `it is an input of this run ("${input}")`;
        if (isWithin(at, real)) return `it lies inside an input of this run ("${input}")`;
      }
      const unit = await enclosingUnit(dirname(real));
      if (unit !== undefined) {
        return `it lies inside "${unit.dir}", a ${unit.kind} grood wrote as a whole; ` +
          "give a path outside it";
      }
      try {
        const info = await Deno.stat(path);
        if (!info.isFile) return "it exists and is not a regular file";
        if (options.overwrite !== true) {
          return "it exists; give --overwrite to replace it, or another path";
        }
      } catch (error) {
        if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
          return undefined;
        }
        throw error;
      }
      return undefined;
    });
    if (reason !== undefined) return yield* new OutputFolderRefused({ path, reason });
    // Temporary files of killed writes of this file (`writeFileAtomic`'s `NAME.PID.ID.tmp`).
    yield* tryIo(dirname(path), "tidy leftovers in", async () => {
      const pattern = new RegExp(`^${literal(basename(path))}\\.(\\d+)\\.[0-9a-f]{8}\\.tmp$`);
      const entries = await Array.fromAsync(Deno.readDir(dirname(path))).catch(() => []);
      for (const entry of entries) {
        const m = pattern.exec(entry.name);
        const leftover = join(dirname(path), entry.name);
        if (m !== null && !(await processAlive(Number(m[1]), leftover))) {
          await Deno.remove(leftover);
        }
      }
    });
  });

/** `text` as a literal inside a regular expression. */
const literal = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Tidy what killed runs left beside `dir`: temporary siblings (`.<name>.tmp-<pid>-<id>`) of
 * processes that no longer run are removed; an old folder moved aside (`.<name>.old-<pid>-<id>`)
 * is put back when `dir` is missing (the run died between its two renames), else removed;
 * writability probes of killed checks (`ensureWritable`'s, exactly as grood writes them) are
 * removed. Returns the leftovers handled.
 */
export const recoverOutputFolder = (dir: string): Effect.Effect<ReadonlyArray<string>, IoError> =>
  tryIo(dirname(dir), "tidy leftovers in", async () => {
    const parent = dirname(dir);
    const pattern = new RegExp(`^\\.${literal(basename(dir))}\\.(tmp|old)-(\\d+)-[0-9a-f]{8}$`);
    let entries: Array<Deno.DirEntry>;
    try {
      entries = await Array.fromAsync(Deno.readDir(parent));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    const handled: Array<string> = [...await tidyProbes(parent)];
    // Old folders first: one may have to take `dir`'s place again.
    const leftovers = entries.flatMap((e) => {
      const m = pattern.exec(e.name);
      return m === null ? [] : [{ name: e.name, kind: m[1]!, pid: Number(m[2]) }];
    }).sort((a, b) => (a.kind === b.kind ? 0 : a.kind === "old" ? -1 : 1));
    for (const { name, kind, pid } of leftovers) {
      const path = join(parent, name);
      if (await processAlive(pid, path)) continue;
      if (kind === "old" && !(await exists(dir))) await Deno.rename(path, dir);
      else await Deno.remove(path, { recursive: true });
      handled.push(path);
    }
    return handled;
  });

/**
 * Refuse to replace `dir` when it holds an entry that the new output (`written`) does not
 * write again and its marker does not list: a file added since, or one of a folder written
 * before the marker listed its files. The last check before the swap.
 */
const checkReplaceable = (dir: string, written: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const added = yield* tryIo(dir, "inspect", async () => {
      if (!(await exists(dir))) return [];
      const read = await readMarker(dir);
      const keep = new Set([...written, ...("marker" in read ? read.marker.files ?? [] : [])]);
      return (await entriesOf(dir)).filter((path) => !keep.has(path));
    });
    if (added.length > 0) {
      return yield* new OutputFolderRefused({
        path: dir,
        reason: `it holds files this run does not write and grood did not list as its own ` +
          `(${someOf(added)}); move them out, or give another folder`,
      });
    }
  });

/**
 * Write `dir` as a unit under the rules of this module: check it ({@link checkOutputFolder}),
 * tidy leftovers of killed runs beside it, fill a temporary sibling (which holds the
 * {@link OUTPUT_MARKER} from the start) with `fill`, list what it holds in the marker, check
 * once more that the old folder holds nothing else (nothing anyone added since), then rename it
 * into place. A failure or an interruption anywhere leaves the previous complete folder, or
 * none.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { writeOutputFolder } from "./output_folder.ts";
 * const dir = `${await Deno.makeTempDir()}/results`;
 * await Effect.runPromise(writeOutputFolder(dir, { kind: "results" }, (tmp) =>
 *   Effect.promise(() => Deno.writeTextFile(`${tmp}/a.txt`, "1"))));
 * await Effect.runPromise(writeOutputFolder(dir, { kind: "results" }, (tmp) =>
 *   Effect.promise(() => Deno.writeTextFile(`${tmp}/a.txt`, "2"))));
 * if (await Deno.readTextFile(`${dir}/a.txt`) !== "2") throw new Error("not replaced");
 * ```
 */
export const writeOutputFolder = <A, E, R>(
  dir: string,
  options: OutputFolderOptions,
  fill: (tmp: string) => Effect.Effect<A, E, R>,
): Effect.Effect<A, E | OutputFolderRefused | IoError, R> =>
  Effect.gen(function* () {
    yield* recoverOutputFolder(dir);
    yield* checkOutputFolder(dir, options);
    return yield* writeDirAtomic(dir, (tmp) =>
      Effect.gen(function* () {
        const marker = join(tmp, OUTPUT_MARKER);
        yield* tryIo(tmp, "write", () => Deno.writeTextFile(marker, markerText(options.kind)));
        const value = yield* fill(tmp);
        const written = yield* tryIo(tmp, "list", () => entriesOf(tmp));
        yield* tryIo(tmp, "write", () =>
          Deno.writeTextFile(marker, markerText(options.kind, written)));
        yield* checkReplaceable(dir, written);
        return value;
      }));
  });

/**
 * Make `dir` ready to collect output folders (e.g. `results/`, which holds one folder per
 * benchmark and the results page): checked as {@link checkOutputFolder} does, then created
 * with the {@link OUTPUT_MARKER} when absent or empty. Files grood writes directly into it go
 * through the atomic file writers; folders through {@link writeOutputFolder}.
 */
export const prepareOutputRoot = (
  dir: string,
  options: OutputFolderOptions,
): Effect.Effect<void, OutputFolderRefused | IoError> =>
  Effect.gen(function* () {
    yield* checkOutputRoot(dir, options);
    yield* tryIo(dir, "create", async () => {
      // Every folder made here is grood's (e.g. `results/` when `results/ablations` is made).
      const created: Array<string> = [];
      for (let d = resolve(dir); !(await exists(d)) && dirname(d) !== d; d = dirname(d)) {
        created.push(d);
      }
      await Deno.mkdir(dir, { recursive: true });
      for (const folder of new Set([resolve(dir), ...created])) {
        const marker = join(folder, OUTPUT_MARKER);
        if (!(await exists(marker))) await Deno.writeTextFile(marker, markerText(options.kind));
      }
    });
  });
