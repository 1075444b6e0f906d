/**
 * NumPy `.npy` files: how grood exports arrays (features, descriptors, scores, labels) for
 * `numpy.load`. The writer reproduces `numpy.save` (format 1.0) byte for byte; the reader takes
 * versions 1.0 to 3.0 of the dtypes in {@link NpyDtype}, C order, in the host byte order
 * (little-endian wherever Deno runs). The layout and why the header is padded as it is:
 * `docs/internals/io.md`.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { readRegularFile, writeFileAtomic } from "./files.ts";

/** The NumPy dtypes grood reads and writes; `<i8` (NumPy's default for integers) is read only. */
export type NpyDtype = "<f8" | "<f4" | "<i4" | "<i8" | "|u1";

/** The typed arrays that map onto {@link NpyDtype}s. */
export type NpyData = Float64Array | Float32Array | Int32Array | Uint8Array;

/** A decoded `.npy` array: dtype, shape (row-major) and values. */
export interface NpyArray {
  /** The element type, as `.npy` writes it (`<f4`, `|u1`, …). */
  readonly dtype: NpyDtype;
  /** The array's shape (its product is `data.length`). */
  readonly shape: ReadonlyArray<number>;
  /** The values, row-major. */
  readonly data: NpyData;
}

/** A shape that does not describe the data (wrong element count, or not whole numbers). */
export class NpyShapeMismatch extends Data.TaggedError("NpyShapeMismatch")<{
  readonly path: string;
  readonly shape: ReadonlyArray<number>;
  readonly length: number;
}> {
  /** Names the file, the shape and the number of values. */
  override get message(): string {
    const shape = this.shape.join(", ");
    return `Cannot write "${this.path}": shape (${shape}) does not hold ${this.length} values ` +
      "(dimensions must be non-negative integers whose product is the length)";
  }
}

/** A `.npy` file that is not valid, or uses a dtype/layout grood does not read. */
export class CorruptNpy extends Data.TaggedError("CorruptNpy")<{
  readonly path: string;
  readonly problem: string;
}> {
  /** Names the file and what is wrong. */
  override get message(): string {
    return `Cannot decode .npy file "${this.path}": ${this.problem}`;
  }
}

/** Reading or writing a `.npy` file (or the manifest) failed at the file-system level. */
export class NpyIoError extends Data.TaggedError("NpyIoError")<{
  readonly path: string;
  readonly cause: unknown;
}> {
  /** Names the file and the cause. */
  override get message(): string {
    return `Cannot access "${this.path}": ${String(this.cause)}`;
  }
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const PREAMBLE = 10; // magic (6) + version (2) + uint16 header length (2)

/** Bytes per value and typed array of each dtype (`<i8` is read into an `Int32Array`). */
const DTYPES = {
  "<f8": [8, Float64Array],
  "<f4": [4, Float32Array],
  "<i4": [4, Int32Array],
  "|u1": [1, Uint8Array],
  "<i8": [8, Int32Array],
} as const;

/**
 * The header bytes (magic … `\n`) that `numpy.save` writes for a C-order array.
 *
 * @example
 * ```ts
 * import { npyHeader } from "./npy.ts";
 * const header = npyHeader("<f4", [2, 3]);
 * if (header.length % 64 !== 0) throw new Error("not aligned");
 * ```
 */
export function npyHeader(dtype: NpyDtype, shape: ReadonlyArray<number>): Uint8Array {
  // Python's repr of the shape tuple: `()`, `(3,)`, `(2, 3)`.
  const repr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${repr}, }`;
  // Spare room to grow the first axis in place, then padding to 64 bytes, as numpy.save does.
  if (shape.length > 0) dict += " ".repeat(21 - String(shape[0]).length);
  const text = dict + " ".repeat(64 - ((PREAMBLE + dict.length + 1) % 64)) + "\n";
  const out = new Uint8Array(PREAMBLE + text.length);
  out.set([...MAGIC, 1, 0]); // version 1.0
  new DataView(out.buffer).setUint16(8, text.length, true);
  for (let i = 0; i < text.length; i++) out[PREAMBLE + i] = text.charCodeAt(i);
  return out;
}

/**
 * Encode values with a shape as `.npy` bytes. `path` only names the target in errors.
 *
 * @example Round trip
 * ```ts
 * import { decodeNpy, encodeNpy } from "./npy.ts";
 * import { Effect } from "effect";
 * const bytes = Effect.runSync(encodeNpy(new Int32Array([1, 2, 3, 4]), [2, 2]));
 * const back = Effect.runSync(decodeNpy(bytes, "memory"));
 * if (back.shape.join() !== "2,2" || back.data[3] !== 4) throw new Error("round trip failed");
 * ```
 */
export const encodeNpy = (
  data: NpyData,
  shape: ReadonlyArray<number>,
  path = "<memory>",
): Effect.Effect<Uint8Array, NpyShapeMismatch> =>
  Effect.suspend(() => {
    const holds = shape.every((n) => Number.isSafeInteger(n) && n >= 0) &&
      shape.reduce((a, b) => a * b, 1) === data.length;
    if (!holds) {
      return Effect.fail(new NpyShapeMismatch({ path, shape: [...shape], length: data.length }));
    }
    const dtype = (["<f8", "<f4", "<i4"] as const).find((d) => data instanceof DTYPES[d][1]);
    const header = npyHeader(dtype ?? "|u1", shape);
    const out = new Uint8Array(header.length + data.byteLength);
    out.set(header, 0);
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), header.length);
    return Effect.succeed(out);
  });

const KEY_VALUE = /'(descr|fortran_order|shape)':\s*('[^']*'|True|False|\([\d\s,]*\))/g;

/** Parse the header dict (keys in any order, as the spec allows); a string is the problem. */
function parseHeader(
  text: string,
): { descr: string; fortran: boolean; shape: number[] } | string {
  const body = text.trim();
  if (!body.startsWith("{") || !body.endsWith("}")) return `header is not a dict: ${body}`;
  if (!/^[\s,]*$/.test(body.slice(1, -1).replace(KEY_VALUE, ""))) {
    return `header has unexpected content: ${body}`;
  }
  const entries = new Map(Array.from(body.matchAll(KEY_VALUE), (m) => [m[1]!, m[2]!]));
  const [descr, fortran, shape] = ["descr", "fortran_order", "shape"].map((k) => entries.get(k));
  if (descr === undefined || fortran === undefined || shape === undefined) {
    return `header lacks descr, fortran_order or shape: ${body}`;
  }
  const dims = shape.slice(1, -1).split(",").map((s) => s.trim()).filter((s) => s !== "");
  return { descr: descr.slice(1, -1), fortran: fortran === "True", shape: dims.map(Number) };
}

/** What a `.npy` header says: dtype, shape, where the values start and how wide each one is. */
export interface NpyHeader {
  /** The element type. */
  readonly dtype: NpyDtype;
  /** The array's shape. */
  readonly shape: ReadonlyArray<number>;
  /** Byte offset of the first value (after magic, version, length and header text). */
  readonly dataOffset: number;
  /** Bytes per value. */
  readonly itemSize: number;
}

/**
 * Decode the header of a `.npy` file from its first bytes, which may stop anywhere after it (so
 * a reader can stream the values). `path` only names the source in errors.
 */
export const decodeNpyHeader = (
  bytes: Uint8Array,
  path: string,
): Effect.Effect<NpyHeader, CorruptNpy> =>
  Effect.suspend(() => {
    const fail = (problem: string) => Effect.fail(new CorruptNpy({ path, problem }));
    if (bytes.length < PREAMBLE || MAGIC.some((b, i) => bytes[i] !== b)) {
      return fail("missing the \\x93NUMPY magic bytes");
    }
    const major = bytes[6]!;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (major < 1 || major > 3) {
      return fail(`format version ${major}.${bytes[7]} is not 1.0, 2.0 or 3.0`);
    }
    if (major > 1 && bytes.length < 12) return fail("header length is truncated");
    // Version 1.0 counts the header's length in 2 bytes, later ones in 4.
    const headerStart = major === 1 ? 10 : 12;
    const dataOffset = headerStart +
      (major === 1 ? view.getUint16(8, true) : view.getUint32(8, true));
    if (bytes.length < dataOffset) return fail("header is truncated");
    const decoder = new TextDecoder(major === 3 ? "utf-8" : "latin1");
    const header = parseHeader(decoder.decode(bytes.subarray(headerStart, dataOffset)));
    if (typeof header === "string") return fail(header);
    if (header.fortran) return fail("fortran_order True (column-major) is not supported");
    const dtype = header.descr === "<u1" ? "|u1" : header.descr;
    if (!Object.hasOwn(DTYPES, dtype)) {
      return fail(`dtype '${header.descr}' is not one of '<f8', '<f4', '<i4', '<i8', '|u1'`);
    }
    const itemSize = DTYPES[dtype as NpyDtype][0];
    return Effect.succeed({ dtype: dtype as NpyDtype, shape: header.shape, dataOffset, itemSize });
  });

/** Decode `.npy` bytes into a copy (`<i8` into an `Int32Array`); `path` names them in errors. */
export const decodeNpy = (bytes: Uint8Array, path: string): Effect.Effect<NpyArray, CorruptNpy> =>
  Effect.flatMap(decodeNpyHeader(bytes, path), ({ dtype, shape, dataOffset, itemSize }) => {
    const fail = (problem: string) => Effect.fail(new CorruptNpy({ path, problem }));
    const needed = shape.reduce((a, b) => a * b, 1) * itemSize;
    const actual = bytes.length - dataOffset;
    if (actual !== needed) {
      return fail(`shape (${shape.join(", ")}) needs ${needed} data bytes, file has ${actual}`);
    }
    // slice() copies into a fresh, aligned buffer (the data offset need not be aligned in v2/v3).
    const raw = bytes.slice(dataOffset).buffer;
    if (dtype !== "<i8") {
      return Effect.succeed<NpyArray>({ dtype, shape, data: new DTYPES[dtype][1](raw) });
    }
    const wide = new BigInt64Array(raw);
    const data = new Int32Array(wide.length);
    for (let i = 0; i < wide.length; i++) {
      const value = wide[i]!;
      if (value < -2147483648n || value > 2147483647n) {
        return fail(`int64 value ${value} at index ${i} does not fit in 32 bits`);
      }
      data[i] = Number(value);
    }
    return Effect.succeed<NpyArray>({ dtype, shape, data });
  });

/** Read and decode a `.npy` file. */
export const readNpy = (path: string): Effect.Effect<NpyArray, CorruptNpy | NpyIoError> =>
  Effect.tryPromise({
    try: () => readRegularFile(path),
    catch: (cause) => new NpyIoError({ path, cause }),
  }).pipe(Effect.flatMap((bytes) => decodeNpy(bytes, path)));

/**
 * Write values with a shape to `path` as `.npy`, atomically.
 *
 * @example
 * ```ts
 * import { readNpy, writeNpyAtomic } from "./npy.ts";
 * import { Effect } from "effect";
 * const path = (await Deno.makeTempDir()) + "/x.npy";
 * await Effect.runPromise(writeNpyAtomic(path, new Float32Array([1, 2, 3]), [3]));
 * const back = await Effect.runPromise(readNpy(path));
 * if (back.data[2] !== 3) throw new Error("not written");
 * ```
 */
export const writeNpyAtomic = (
  path: string,
  data: NpyData,
  shape: ReadonlyArray<number>,
): Effect.Effect<void, NpyShapeMismatch | NpyIoError> =>
  encodeNpy(data, shape, path).pipe(
    Effect.flatMap((bytes) =>
      Effect.tryPromise({
        try: () => writeFileAtomic(path, bytes),
        catch: (cause) => new NpyIoError({ path, cause }),
      })
    ),
  );
