/**
 * A decoder for the plainest PNGs only: 8-bit grey or RGB, not interlaced, no palette, no
 * transparency entry, no colour profile, every chunk's CRC right, inflated by native zlib to
 * the size it must have, so a 28×28 PNG decodes in tens of microseconds (why and how:
 * `docs/internals/io.md`). Anything else returns `undefined`, for sharp to decode or refuse.
 *
 * @module
 */
import * as zlib from "node:zlib";

const IHDR = 0x49484452;
const IDAT = 0x49444154;
const IEND = 0x49454e44;
/** Chunks whose presence means the pixels are not plain: palette, transparency, ICC profile. */
const NOT_PLAIN = new Set([0x504c5445, 0x74524e53, 0x69434350]);

/**
 * The pixels (row-major, `channels` bytes a pixel) of a plain PNG of `width` × `height` with
 * `channels` 1 (colour type 0) or 3 (colour type 2); `undefined` for any other PNG, or one that
 * is damaged (a CRC, the compressed data, a filter type, the data's length).
 *
 * @example
 * ```ts
 * import sharp from "sharp";
 * import { plainPngPixels } from "./plain_png.ts";
 * const grey = new Uint8Array(28 * 28).map((_, i) => i % 256);
 * const png = await sharp(grey, { raw: { width: 28, height: 28, channels: 1 } })
 *   .toColourspace("b-w").png().toBuffer();
 * const pixels = plainPngPixels(new Uint8Array(png), 28, 28, 1);
 * if (pixels === undefined || pixels.some((v, i) => v !== grey[i])) throw new Error("misread");
 * ```
 */
export function plainPngPixels(
  bytes: Uint8Array,
  width: number,
  height: number,
  channels: 1 | 3,
): Uint8Array | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 33 || view.getUint32(12) !== IHDR || view.getUint32(8) !== 13) {
    return undefined;
  }
  if (
    view.getUint32(16) !== width || view.getUint32(20) !== height || bytes[24] !== 8 ||
    bytes[25] !== (channels === 1 ? 0 : 2) || bytes[26] !== 0 || bytes[27] !== 0 ||
    bytes[28] !== 0
  ) return undefined;
  const parts: Array<Uint8Array> = [];
  let compressed = 0;
  let ended = false;
  for (let at = 8; at + 12 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = view.getUint32(at + 4);
    if (at + 12 + length > bytes.length) return undefined;
    const crc = zlib.crc32(bytes.subarray(at + 4, at + 8 + length));
    if (crc !== view.getUint32(at + 8 + length)) return undefined;
    if (type === IEND) {
      ended = true;
      break;
    }
    if (type === IDAT) {
      parts.push(bytes.subarray(at + 8, at + 8 + length));
      compressed += length;
    } else if (NOT_PLAIN.has(type)) return undefined;
    // An unknown critical chunk (upper-case first letter): not a picture this decoder knows.
    else if (type !== IHDR && (bytes[at + 4]! & 0x20) === 0) return undefined;
    at += 12 + length;
  }
  if (!ended || parts.length === 0) return undefined;
  let data = parts[0]!;
  if (parts.length > 1) {
    data = new Uint8Array(compressed);
    parts.reduce((offset, part) => (data.set(part, offset), offset + part.length), 0);
  }
  const stride = width * channels;
  // Bounded by the size the header implies: a deflate bomb fails here (then sharp reads it).
  const raw = inflateExactly(data, height * (stride + 1));
  if (raw === undefined) return undefined;
  return unfilter(raw, height, stride, channels);
}

/** The private handle of a `node:zlib` inflate stream (see `docs/internals/io.md`). */
interface ZlibHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inputOffset: number,
    inputLength: number,
    output: Uint8Array,
    outputOffset: number,
    outputLength: number,
  ): void;
  reset(): void;
  onerror: (message: string, errno: number) => void;
}

/**
 * `data` inflated, if it is one whole zlib stream of exactly `size` bytes, by one zlib stream
 * reset between images (5× cheaper than `inflateSync`); undefined where `node:zlib`'s private
 * handle is not the one expected (a check inflates a known stream first).
 */
const inflater = ((): ((data: Uint8Array, size: number) => Uint8Array | undefined) | undefined => {
  try {
    const { _handle: handle, _writeState: state } = new zlib.Inflate() as unknown as {
      _handle?: ZlibHandle;
      _writeState?: Uint32Array;
    };
    if (
      typeof handle?.writeSync !== "function" || typeof handle.reset !== "function" ||
      !(state instanceof Uint32Array) || state.length !== 2
    ) return undefined;
    let failed = false;
    handle.onerror = () => (failed = true);
    const inflate = (data: Uint8Array, size: number) => {
      // One byte more than expected: a stream that fills it is longer than the header says.
      const out = new Uint8Array(size + 1);
      failed = false;
      try {
        handle.writeSync(zlib.constants.Z_FINISH, data, 0, data.length, out, 0, out.length);
      } catch {
        failed = true;
      }
      // Z_FINISH that does not reach the stream's end (its checksum included) is an error.
      const whole = !failed && state[0] === 1 && state[1] === 0;
      handle.reset();
      return whole ? out.subarray(0, size) : undefined;
    };
    const known = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 251);
    const out = inflate(zlib.deflateSync(known), known.length);
    return out !== undefined && out.every((v, i) => v === known[i]) ? inflate : undefined;
  } catch {
    return undefined;
  }
})();

/** `data` inflated to exactly `size` bytes, never more; undefined if it is not that. */
function inflateExactly(data: Uint8Array, size: number): Uint8Array | undefined {
  if (inflater !== undefined) return inflater(data, size);
  try {
    const raw = zlib.inflateSync(data, { maxOutputLength: size, chunkSize: Math.max(64, size) });
    return raw.length === size ? raw : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Undo the per-row filters (None, Sub, Up, Average, Paeth); `undefined` on an unknown one. One
 * loop per filter type: the inner loop tests neither the filter nor the first row.
 */
function unfilter(
  raw: Uint8Array,
  height: number,
  stride: number,
  bpp: number,
): Uint8Array | undefined {
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    const up = row - stride;
    const first = y === 0; // no row above: its bytes count as 0
    // With no row above, Up is None and Paeth is Sub.
    const type = raw[src - 1];
    switch (first && type === 2 ? 0 : first && type === 4 ? 1 : type) {
      case 0:
        out.set(raw.subarray(src, src + stride), row);
        break;
      case 1:
        for (let x = 0; x < stride; x++) {
          out[row + x] = raw[src + x]! + (x >= bpp ? out[row + x - bpp]! : 0);
        }
        break;
      case 2:
        for (let x = 0; x < stride; x++) out[row + x] = raw[src + x]! + out[up + x]!;
        break;
      case 3:
        for (let x = 0; x < stride; x++) {
          const a = x >= bpp ? out[row + x - bpp]! : 0;
          const b = first ? 0 : out[up + x]!;
          out[row + x] = raw[src + x]! + ((a + b) >> 1);
        }
        break;
      case 4:
        // Paeth with no byte to the left predicts the byte above (Up).
        for (let x = 0; x < bpp && x < stride; x++) out[row + x] = raw[src + x]! + out[up + x]!;
        for (let x = bpp; x < stride; x++) {
          const a = out[row + x - bpp]!;
          const b = out[up + x]!;
          const c = out[up + x - bpp]!;
          const pa = Math.abs(b - c); // |p - a| with p = a + b - c
          const pb = Math.abs(a - c);
          const pc = Math.abs(a + b - c - c);
          out[row + x] = raw[src + x]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
        break;
      default:
        return undefined;
    }
  }
  return out;
}
