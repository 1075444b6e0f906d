/**
 * The files of a saved index, shared by every kind: each written atomically, recorded in
 * `index.json` with its sha256 ({@link FileEntry}) and checked against it on load.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { join } from "node:path";
import { readRegularFile, sha256Hex, writeAtomicWith, writeFileAtomic } from "../io/files.ts";
import { decodeNpy, encodeNpy } from "../io/npy.ts";
import type { Matrix } from "../matrix.ts";
import { CorruptIndex, IndexIoError } from "./errors.ts";

/** A file of a saved index: its name inside the index folder and its sha256 (lower-case hex). */
export const FileEntry: Schema.Struct<{
  readonly file: Schema.String;
  readonly sha256: Schema.String;
}> = Schema.Struct({
  /** A plain file name (no folder: a saved index never points outside its folder). */
  file: Schema.String.pipe(Schema.check(Schema.isPattern(/^(?!\.\.?$)[A-Za-z0-9._-]+$/))),
  sha256: Schema.String.pipe(Schema.check(Schema.isPattern(/^[0-9a-f]{64}$/))),
});
/** A file of a saved index. */
export type FileEntry = typeof FileEntry.Type;

/** The points' file name. */
const POINTS_FILE = "points.npy";

/** Run a file-system call, failing with an {@link IndexIoError} naming `path`. */
export const io = <A>(path: string, run: () => Promise<A>): Effect.Effect<A, IndexIoError> =>
  Effect.tryPromise({ try: run, catch: (cause) => new IndexIoError({ path, cause }) });

/** Read the regular file `path` (a named pipe in its place is refused, not waited on). */
export const readRegular = (path: string): Effect.Effect<Uint8Array, IndexIoError> =>
  io(path, () => readRegularFile(path));

/** Write `matrix` as the `.npy` file `name` (float32, rows × cols) into `dir`; its entry. */
export const writeMatrixFile = (
  matrix: Matrix,
  dir: string,
  name: string,
): Effect.Effect<FileEntry, IndexIoError> =>
  Effect.gen(function* () {
    const path = join(dir, name);
    const bytes = yield* encodeNpy(matrix.data, [matrix.rows, matrix.cols], path).pipe(
      Effect.mapError((cause) => new IndexIoError({ path, cause })),
    );
    yield* io(path, () => writeFileAtomic(path, bytes));
    return { file: name, sha256: sha256Hex(bytes) };
  });

/** Write `points` as `points.npy` (float32, rows × cols) into `dir`; its entry. */
export const writePoints = (points: Matrix, dir: string): Effect.Effect<FileEntry, IndexIoError> =>
  writeMatrixFile(points, dir, POINTS_FILE);

/** Write the file `name` into `dir` with `write` (a writer taking a path), whole or absent. */
export const writeFileWith = (
  dir: string,
  name: string,
  write: (path: string) => Promise<void>,
): Effect.Effect<FileEntry, IndexIoError> =>
  Effect.gen(function* () {
    const path = join(dir, name);
    yield* io(path, () => writeAtomicWith(path, write));
    const bytes = yield* io(path, () => Deno.readFile(path));
    return { file: name, sha256: sha256Hex(bytes) };
  });

/** Read the file of `entry` in `dir`, checked against its sha256; its path and bytes. */
export const readChecked = (
  dir: string,
  entry: FileEntry,
): Effect.Effect<
  { readonly path: string; readonly bytes: Uint8Array },
  CorruptIndex | IndexIoError
> =>
  Effect.gen(function* () {
    const path = join(dir, entry.file);
    const bytes = yield* readRegular(path);
    if (sha256Hex(bytes) !== entry.sha256) {
      const problem = `${entry.file} does not match its sha256 in index.json`;
      return yield* new CorruptIndex({ path: dir, problem });
    }
    return { path, bytes };
  });

/** Read a matrix saved by {@link writeMatrixFile}, checked against `entry` and `rows` × `dim`. */
export const readMatrixFile = (
  dir: string,
  entry: FileEntry,
  rows: number,
  dim: number,
): Effect.Effect<Matrix, CorruptIndex | IndexIoError> =>
  Effect.gen(function* () {
    const { path, bytes } = yield* readChecked(dir, entry);
    const array = yield* decodeNpy(bytes, path).pipe(
      Effect.mapError((error) => new CorruptIndex({ path: dir, problem: error.message })),
    );
    const [r, c] = array.shape;
    if (array.dtype !== "<f4" || array.shape.length !== 2 || r !== rows || c !== dim) {
      const found = `${entry.file} is ${array.dtype} (${array.shape.join(", ")})`;
      const problem = `${found}, index.json says <f4 (${rows}, ${dim})`;
      return yield* new CorruptIndex({ path: dir, problem });
    }
    return { rows, cols: dim, data: array.data as Float32Array };
  });
