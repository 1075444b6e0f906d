/**
 * Output folders: the one place where a task decides that it may write, or replace, a folder
 * (written as a unit, or a root collecting units such as `results/`) or a file. The rules:
 * `docs/reliability.md` (Output folders); every refusal is an {@link OutputFolderRefused}.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { basename, dirname, join, resolve } from "node:path";
import {
  exists,
  type IoError,
  missingFolders,
  processAlive,
  tidyProbes,
  tryIo,
  writeDirAtomic,
} from "./files.ts";
import {
  enclosingUnit,
  entriesOf,
  markerText,
  OUTPUT_MARKER,
  readMarker,
  someOf,
  unitsInside,
} from "./output_marker.ts";
import { isWithin, realPathSoFar } from "./paths.ts";

export { creationTime, OUTPUT_MARKER } from "./output_marker.ts";

/**
 * The kind of the folders grood makes only to hold an output (`results/` for
 * `results/ablations` or `results/notebooks`): every task may collect its outputs there.
 */
const HOLDER_KIND = "folder of outputs";

/** Make the missing folders above `path`, each one marked as a holder of outputs. */
const makeHoldersAbove = async (path: string): Promise<void> => {
  const parent = dirname(resolve(path));
  const created = await missingFolders(parent);
  await Deno.mkdir(parent, { recursive: true });
  for (const folder of created) {
    await Deno.writeTextFile(join(folder, OUTPUT_MARKER), markerText(HOLDER_KIND));
  }
};

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
  /** The files a folder grood wrote before markers existed holds, e.g. `["detector.json"]`. */
  readonly recognise?: ReadonlyArray<string>;
  /** The folder the command was typed in (default: `INIT_CWD`, else the working folder). */
  readonly cwd?: string;
}

/** For `.catch`: absent, or under a file (no folder there), is undefined. */
const absentAsNone = (error: unknown): undefined => {
  if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
    return undefined;
  }
  throw error;
};

/** Why `real` may not be written for being, holding or lying in an input or a unit. */
const placeProblem = async (
  real: string,
  inputs: ReadonlyArray<string>,
  folder: boolean,
): Promise<string | undefined> => {
  for (const input of inputs) {
    const path = await realPathSoFar(input);
    if (path === real) return `it is an input of this run ("${input}")`;
    if (folder && isWithin(real, path)) return `it holds an input of this run ("${input}")`;
    if (isWithin(path, real)) return `it lies inside an input of this run ("${input}")`;
  }
  const unit = await enclosingUnit(dirname(real));
  if (unit === undefined) return undefined;
  return `it lies inside "${unit.dir}", a ${unit.kind} grood wrote as a whole` +
    (folder
      ? ": writing there would change it; give a folder outside it"
      : "; give a path outside it");
};

/** Why grood may not write `dir` (as a unit, or a root collecting units), or undefined. */
const refusal = async (
  dir: string,
  options: OutputFolderOptions,
  as: "unit" | "root",
): Promise<string | undefined> => {
  const real = await realPathSoFar(dir);
  // A given cwd is checked as given ("" is the process's folder); else both folders a user
  // may call current: the one npm started in (INIT_CWD) and the process's.
  const cwds = options.cwd !== undefined
    ? [options.cwd]
    : [Deno.env.get("INIT_CWD"), Deno.cwd()].filter((x): x is string => !!x);
  for (const cwd of cwds) {
    const here = await realPathSoFar(cwd);
    if (here === real) return "it is the current folder";
    if (isWithin(real, here)) return `it holds the current folder "${cwd}"`;
  }
  const place = await placeProblem(real, options.inputs ?? [], true);
  if (place !== undefined) return place;
  // Absent, or under a file: nothing of anyone's to lose (the write reports the latter).
  const info = await Deno.lstat(dir).catch(absentAsNone);
  if (info === undefined) return undefined;
  if (info.isSymlink) return "it is a symbolic link; give the folder it points to";
  if (!info.isDirectory) return "it is a file, not a folder";
  const names = new Set<string>();
  for await (const entry of Deno.readDir(dir)) names.add(entry.name);
  if (names.size === 0) return undefined;
  if (!names.has(OUTPUT_MARKER)) {
    const recognise = options.recognise ?? [];
    if (recognise.length > 0 && recognise.every((name) => names.has(name))) return undefined;
    return `it holds files grood did not write (no ${OUTPUT_MARKER} marker); ` +
      "give a new or empty folder, or one grood wrote";
  }
  const read = await readMarker(dir);
  if ("problem" in read) {
    return `its ${OUTPUT_MARKER} marker is not one grood wrote (${read.problem}); ` +
      "give a new or empty folder";
  }
  if ("absent" in read) return `its ${OUTPUT_MARKER} marker cannot be read`;
  const holder = read.marker.kind === HOLDER_KIND && read.marker.files === undefined;
  if (read.marker.kind !== options.kind && !holder) {
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
};

/** Fail with an {@link OutputFolderRefused} for the reason `find` gives, if any. */
const refuseIf = (path: string, find: () => Promise<string | undefined>) =>
  Effect.gen(function* () {
    const reason = yield* tryIo(path, "inspect", find);
    if (reason !== undefined) return yield* new OutputFolderRefused({ path, reason });
  });

/**
 * Check that a task may write (or replace) `dir`, before any computation, so a refusal costs
 * nothing; {@link writeOutputFolder} checks again when writing.
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
): Effect.Effect<void, OutputFolderRefused | IoError> =>
  refuseIf(dir, () => refusal(dir, options, "unit"));

/** {@link checkOutputFolder} for a root collecting units: the units of its kind are fine. */
export const checkOutputRoot = (
  dir: string,
  options: OutputFolderOptions,
): Effect.Effect<void, OutputFolderRefused | IoError> =>
  refuseIf(dir, () => refusal(dir, options, "root"));

/** `text` as a literal inside a regular expression. */
const literal = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * Check that a task may write the file `path`: not an input nor inside one or a unit, not a
 * folder or pipe, an existing file only with `overwrite`. Killed writes' temporaries are removed.
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
    yield* refuseIf(path, async () => {
      const place = await placeProblem(await realPathSoFar(path), options.inputs, false);
      if (place !== undefined) return place;
      const info = await Deno.stat(path).catch(absentAsNone);
      if (info === undefined) return undefined;
      if (!info.isFile) return "it exists and is not a regular file";
      return options.overwrite === true
        ? undefined
        : "it exists; give --overwrite to replace it, or another path";
    });
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

/**
 * {@link checkOutputFile}, then the folders missing on the way to `path` made, each marked as a
 * folder of outputs (as {@link writeOutputFolder} makes them): a file written into a new
 * `results/` (`results/engines.json`) does not leave it a folder grood did not write, refused by
 * the next task collecting its outputs there.
 */
export const prepareOutputFile = (
  path: string,
  options: { readonly inputs: ReadonlyArray<string>; readonly overwrite?: boolean },
): Effect.Effect<void, OutputFolderRefused | IoError> =>
  Effect.gen(function* () {
    yield* checkOutputFile(path, options);
    yield* tryIo(dirname(path), "create", () => makeHoldersAbove(path));
  });

/**
 * Tidy what killed runs left beside `dir`: temporary siblings and probes removed, an old folder
 * moved aside put back when `dir` is missing (died between two renames). Returns those handled.
 */
export const recoverOutputFolder = (dir: string): Effect.Effect<ReadonlyArray<string>, IoError> =>
  tryIo(dirname(dir), "tidy leftovers in", async () => {
    const parent = dirname(dir);
    const pattern = new RegExp(`^\\.${literal(basename(dir))}\\.(tmp|old)-(\\d+)-[0-9a-f]{8}$`);
    const entries = await Array.fromAsync(Deno.readDir(parent)).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    });
    if (entries === undefined) return [];
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
 * The last check before a swap: why `dir` may not be replaced by an output writing `written`,
 * for holding an entry it does not write again and the marker does not list (added since, or
 * a folder from before markers listed files).
 */
const addedSince = async (dir: string, written: ReadonlyArray<string>) => {
  if (!(await exists(dir))) return undefined;
  const read = await readMarker(dir);
  const keep = new Set([...written, ...("marker" in read ? read.marker.files ?? [] : [])]);
  const added = (await entriesOf(dir)).filter((path) => !keep.has(path));
  return added.length === 0 ? undefined : "it holds files this run does not write and grood " +
    `did not list as its own (${someOf(added)}); move them out, or give another folder`;
};

/**
 * Write `dir` as a unit: checked, filled as a temporary sibling (marker first) by `fill`, its
 * entries listed in the marker, checked again, renamed into place; a failure leaves it as it was.
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
    yield* tryIo(dirname(dir), "create", () => makeHoldersAbove(dir));
    return yield* writeDirAtomic(dir, (tmp) =>
      Effect.gen(function* () {
        const marker = join(tmp, OUTPUT_MARKER);
        yield* tryIo(tmp, "write", () => Deno.writeTextFile(marker, markerText(options.kind)));
        const value = yield* fill(tmp);
        const written = yield* tryIo(tmp, "list", () => entriesOf(tmp));
        yield* tryIo(tmp, "write", () =>
          Deno.writeTextFile(marker, markerText(options.kind, written)));
        yield* refuseIf(dir, () =>
          addedSince(dir, written));
        return value;
      }));
  });

/** Make `dir` ready to collect output folders: {@link checkOutputRoot}, then made with a marker. */
export const prepareOutputRoot = (
  dir: string,
  options: OutputFolderOptions,
): Effect.Effect<void, OutputFolderRefused | IoError> =>
  Effect.gen(function* () {
    yield* checkOutputRoot(dir, options);
    yield* tryIo(dir, "create", async () => {
      await makeHoldersAbove(dir);
      await Deno.mkdir(dir, { recursive: true });
      const marker = join(dir, OUTPUT_MARKER);
      if (!(await exists(marker))) await Deno.writeTextFile(marker, markerText(options.kind));
    });
  });
