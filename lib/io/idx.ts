/**
 * IDX: the file format of MNIST, Fashion-MNIST and our generated OOD sets, raw or gzip. Sizes
 * are checked against the header before a file is read whole or inflated past it (layout and
 * why: `docs/internals/io.md`).
 *
 * @module
 */
import { createGunzip } from "node:zlib";
import { Data, Effect } from "effect";
import { IoError, osReason, readRegularFile, readSlice } from "./files.ts";

/** A decoded IDX file: its dimensions and its values (uint8). */
export interface Idx {
  /** Size of each dimension (images, rows, columns for an image file). */
  readonly dims: ReadonlyArray<number>;
  /** The values, row-major (without the header). */
  readonly data: Uint8Array;
  /** The whole decoded file (header included, gunzipped): what checksums are taken of. */
  readonly decoded: Uint8Array;
}

/** A data file is missing: names the file and how to get it. */
export class DatasetFileMissing extends Data.TaggedError("DatasetFileMissing")<{
  readonly path: string;
  readonly hint: string;
}> {
  /** Names the file and how to get it. */
  override get message(): string {
    return `Cannot read dataset file "${this.path}": it does not exist (${this.hint})`;
  }
}

/** A data file exists but is not what it should be: names the file and what is wrong. */
export class CorruptDataset extends Data.TaggedError("CorruptDataset")<{
  readonly path: string;
  readonly problem: string;
}> {
  /** Names the file and what is wrong. */
  override get message(): string {
    return `Cannot decode dataset file "${this.path}": ${this.problem}`;
  }
}

const UBYTE = 0x08;
/** The longest IDX header: 4 bytes, then 4 per dimension (at most 255). */
const MAX_HEADER = 4 + 4 * 255;

/**
 * Decode IDX bytes (raw or gzip). `path` only names the source in errors.
 *
 * @example Round trip
 * ```ts
 * import { decodeIdx, encodeIdx } from "./idx.ts";
 * import { Effect } from "effect";
 * const bytes = encodeIdx([2, 2], new Uint8Array([1, 2, 3, 4]));
 * const idx = Effect.runSync(decodeIdx(bytes, "memory"));
 * if (idx.dims.join() !== "2,2" || idx.data[3] !== 4) throw new Error("round trip failed");
 * ```
 */
export const decodeIdx = (bytes: Uint8Array, path: string): Effect.Effect<Idx, CorruptDataset> =>
  Effect.flatMap(
    bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b
      ? Effect.tryPromise({
        try: () => gunzipBounded(bytes),
        catch: (error) =>
          new CorruptDataset({
            path,
            problem: error instanceof Error ? error.message : String(error),
          }),
      })
      : Effect.succeed(bytes),
    (raw) => decodeRaw(raw, path),
  );

/** Bytes of an IDX header's declared size, when `raw` holds the whole header. */
const declaredSize = (raw: Uint8Array): number | undefined => {
  if (raw.length < 4 || raw.length < 4 + 4 * raw[3]!) return undefined;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  let values = 1;
  for (let i = 0; i < raw[3]!; i++) values *= view.getUint32(4 + 4 * i);
  return 4 + 4 * raw[3]! + values;
};

/** `chunks` joined, or only their first `limit` bytes. */
const concat = (chunks: ReadonlyArray<Uint8Array>, limit = Infinity): Uint8Array => {
  const out = new Uint8Array(Math.min(limit, chunks.reduce((n, c) => n + c.length, 0)));
  let at = 0;
  for (const c of chunks) {
    if (at >= out.length) break;
    const part = c.subarray(0, out.length - at);
    out.set(part, at);
    at += part.length;
  }
  return out;
};

/** Inflate a gzip IDX file as a stream, refused as soon as it inflates past its header's size. */
function gunzipBounded(bytes: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const gunzip = createGunzip({ chunkSize: 64 * 1024 });
    const chunks: Array<Uint8Array> = [];
    let total = 0;
    let limit: number | undefined;
    let done = false;
    const fail = (message: string) => {
      if (done) return;
      done = true;
      gunzip.destroy();
      reject(new Error(message));
    };
    gunzip.on("data", (chunk: Uint8Array) => {
      chunks.push(chunk);
      total += chunk.length;
      limit ??= declaredSize(concat(chunks, MAX_HEADER));
      if (limit !== undefined && total > limit) {
        fail(
          `gzip stream inflates to more than the ${limit} bytes its header declares ` +
            `(trailing bytes, or not an IDX file); stopped after ${total} bytes`,
        );
      }
    });
    gunzip.on("end", () => {
      if (done) return;
      done = true;
      resolve(concat(chunks));
    });
    gunzip.on("error", (error: Error) => fail(`gzip stream is damaged (${String(error)})`));
    gunzip.end(bytes);
  });
}

const decodeRaw = (raw: Uint8Array, path: string): Effect.Effect<Idx, CorruptDataset> => {
  const fail = (problem: string) => Effect.fail(new CorruptDataset({ path, problem }));
  if (raw.length < 4) return fail(`file has ${raw.length} bytes, fewer than an IDX header`);
  if (raw[0] !== 0 || raw[1] !== 0) {
    return fail(`wrong magic: first bytes are ${raw[0]},${raw[1]}, expected 0,0`);
  }
  if (raw[2] !== UBYTE) {
    return fail(`element type 0x${raw[2]!.toString(16)} is not uint8 (0x08)`);
  }
  const rank = raw[3]!;
  const headerLength = 4 + 4 * rank;
  if (rank === 0) return fail("rank is 0");
  if (raw.length < headerLength) return fail(`header of rank ${rank} is truncated`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = raw.length - headerLength;
  if (actual !== expected) {
    return fail(
      `dims [${dims.join(", ")}] need ${expected} values but the file holds ${actual}` +
        (actual < expected ? " (truncated)" : " (trailing bytes)"),
    );
  }
  return Effect.succeed({ dims, data: raw.subarray(headerLength), decoded: raw });
};

/**
 * Read a data file's bytes: a missing file is a {@link DatasetFileMissing} with `hint` (how to
 * get it), any other failure (a named pipe is refused, not waited on) an {@link IoError}.
 */
export const readDatasetBytes = (
  path: string,
  hint: string,
): Effect.Effect<Uint8Array, DatasetFileMissing | IoError> =>
  Effect.tryPromise({
    try: () => readRegularFile(path),
    catch: (cause) =>
      cause instanceof Deno.errors.NotFound
        ? new DatasetFileMissing({ path, hint })
        : new IoError({ path, operation: "read", reason: osReason(cause) }),
  });

/** Read and decode an IDX file (raw or gzip); a raw one of the wrong size before reading it. */
export const readIdx = (
  path: string,
  hint = "run the setup command",
): Effect.Effect<Idx, DatasetFileMissing | CorruptDataset | IoError> =>
  Effect.gen(function* () {
    // Unreadable here: the whole read below reports why.
    const first = yield* Effect.promise(() =>
      readSlice(path, 0, MAX_HEADER).catch(() => undefined)
    );
    const head = first?.bytes;
    if (head !== undefined && head[0] === 0 && head[1] === 0 && head[2] === UBYTE && head[3]) {
      const declared = declaredSize(head);
      if (declared !== undefined && declared !== first!.size) {
        return yield* new CorruptDataset({
          path,
          problem: `its header declares ${declared} bytes but the file holds ${first!.size}` +
            (first!.size < declared ? " (truncated)" : " (trailing bytes)"),
        });
      }
    }
    return yield* decodeIdx(yield* readDatasetBytes(path, hint), path);
  });

/** Encode uint8 values with the given dims as raw (uncompressed) IDX bytes. */
export function encodeIdx(dims: ReadonlyArray<number>, data: Uint8Array): Uint8Array {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== data.length) {
    throw new RangeError(
      `Cannot encode IDX: dims [${dims.join(", ")}] need ${expected} values, got ${data.length}`,
    );
  }
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = UBYTE;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(data, 4 + 4 * dims.length);
  return out;
}
