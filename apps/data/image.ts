/**
 * Image helpers shared by the OOD set builders: decoders (GIMP `.pat`, PNG, JPEG) to one RGBA
 * form and conversions to gray (the crops and the area-average resize down to 28×28 are in
 * `geometry.ts`).
 *
 * Conventions (docs/benchmarks.md): gray is BT.601 luma (0.299 R + 0.587 G + 0.114 B); values
 * stay float (0..255) until the final 28×28 image is rounded to uint8, so rounding happens once.
 *
 * @module
 */
import { decode as decodePngRaw } from "fast-png";
import jpeg from "jpeg-js";
import { Resvg } from "@resvg/resvg-js";
import { Data, Effect } from "effect";

// The crops and the resize live in `geometry.ts`; exported here too, where tests take them.
export { areaResize, cropWrap, inkBounds, padToSquare } from "./geometry.ts";

/** An 8-bit RGBA image, row-major, 4 bytes per pixel (alpha 255 = opaque). */
export interface RgbaImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** A one-channel float image, row-major, values in 0..255. */
export interface GrayImage {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

/** A source image could not be decoded: names the file and what is wrong. */
export class ImageDecodeFailed extends Data.TaggedError("ImageDecodeFailed")<{
  readonly path: string;
  readonly problem: string;
}> {
  override get message(): string {
    return `Cannot decode image "${this.path}": ${this.problem}`;
  }
}

const describe = (error: unknown): string => error instanceof Error ? error.message : String(error);

/** BT.601 luma of one RGB triple. */
export function luma(r: number, g: number, b: number): number {
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

// ---------------------------------------------------------------------------------------------
// Decoders

/**
 * Decode a GIMP pattern (`.pat`): a big-endian header (header size, version 1, width, height,
 * bytes per pixel, magic `GPAT`, NUL-terminated name) followed by raw pixels at `header size`.
 * Bytes per pixel: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
 */
export const decodePat = (
  bytes: Uint8Array,
  path: string,
): Effect.Effect<RgbaImage, ImageDecodeFailed> =>
  Effect.suspend(() => {
    const fail = (problem: string) => Effect.fail(new ImageDecodeFailed({ path, problem }));
    if (bytes.length < 24) return fail(`${bytes.length} bytes is shorter than a .pat header`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headerSize = view.getUint32(0);
    const version = view.getUint32(4);
    const width = view.getUint32(8);
    const height = view.getUint32(12);
    const bpp = view.getUint32(16);
    const magic = String.fromCharCode(bytes[20]!, bytes[21]!, bytes[22]!, bytes[23]!);
    if (magic !== "GPAT") return fail(`magic is "${magic}", expected "GPAT"`);
    if (version !== 1) return fail(`version ${version} is not 1`);
    if (bpp < 1 || bpp > 4) return fail(`bytes per pixel ${bpp} is not 1..4`);
    if (width === 0 || height === 0) return fail(`size ${width}×${height} is empty`);
    const need = headerSize + width * height * bpp;
    if (bytes.length < need) return fail(`${bytes.length} bytes, ${need} needed (truncated)`);
    const px = bytes.subarray(headerSize);
    const out = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) {
      const s = i * bpp;
      const o = i * 4;
      if (bpp <= 2) {
        const v = px[s]!;
        out[o] = v;
        out[o + 1] = v;
        out[o + 2] = v;
        out[o + 3] = bpp === 2 ? px[s + 1]! : 255;
      } else {
        out[o] = px[s]!;
        out[o + 1] = px[s + 1]!;
        out[o + 2] = px[s + 2]!;
        out[o + 3] = bpp === 4 ? px[s + 3]! : 255;
      }
    }
    return Effect.succeed({ width, height, data: out });
  });

/**
 * Width and height from a PNG's IHDR chunk, without decoding it (used to skip huge files
 * before spending seconds on them). Undefined when the bytes are not a PNG.
 */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || sig.some((b, i) => bytes[i] !== b)) return undefined;
  if (String.fromCharCode(bytes[12]!, bytes[13]!, bytes[14]!, bytes[15]!) !== "IHDR") {
    return undefined;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** Unpack one sample of `depth` bits (1, 2, 4, 8) from packed rows. */
function sample(data: ArrayLike<number>, rowBytes: number, depth: number, x: number, y: number) {
  if (depth === 8) return data[y * rowBytes + x]!;
  const bit = x * depth;
  const byte = data[y * rowBytes + (bit >> 3)]!;
  return (byte >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
}

/**
 * Decode a PNG (any colour type and bit depth, with palette and tRNS transparency) to RGBA.
 * 16-bit samples are reduced to 8 bits; sub-byte gray is scaled to 0..255.
 */
export const decodePng = (
  bytes: Uint8Array,
  path: string,
): Effect.Effect<RgbaImage, ImageDecodeFailed> =>
  Effect.try({
    try: (): RgbaImage => {
      const png = decodePngRaw(bytes);
      const { width, height, depth, channels } = png;
      const n = width * height;
      const out = new Uint8Array(n * 4);
      if (png.palette) {
        const palette = png.palette;
        const rowBytes = Math.ceil((width * depth) / 8);
        for (let y = 0; y < height; y++) {
          for (let x = 0; x < width; x++) {
            const c = palette[sample(png.data, rowBytes, depth, x, y)] ?? [0, 0, 0, 0];
            const o = (y * width + x) * 4;
            out[o] = c[0] ?? 0;
            out[o + 1] = c[1] ?? 0;
            out[o + 2] = c[2] ?? 0;
            out[o + 3] = c[3] ?? 255;
          }
        }
        return { width, height, data: out };
      }
      // Gray or truecolour with a tRNS chunk: one colour (in source bit depth) is transparent.
      const key = png.transparency && png.transparency.length > 0 ? png.transparency : undefined;
      if (depth < 8) {
        if (channels !== 1) throw new Error(`${channels} channels at ${depth} bits`);
        const rowBytes = Math.ceil((width * depth) / 8);
        const scale = 255 / ((1 << depth) - 1);
        for (let y = 0; y < height; y++) {
          for (let x = 0; x < width; x++) {
            const s = sample(png.data, rowBytes, depth, x, y);
            const v = Math.round(s * scale);
            const o = (y * width + x) * 4;
            out[o] = v;
            out[o + 1] = v;
            out[o + 2] = v;
            out[o + 3] = key && key[0] === s ? 0 : 255;
          }
        }
        return { width, height, data: out };
      }
      const data = png.data;
      const shift = depth === 16 ? 8 : 0;
      for (let i = 0; i < n; i++) {
        const s = i * channels;
        const o = i * 4;
        if (channels <= 2) {
          const raw = data[s]!;
          const v = raw >> shift;
          out[o] = v;
          out[o + 1] = v;
          out[o + 2] = v;
          out[o + 3] = channels === 2 ? data[s + 1]! >> shift : key && key[0] === raw ? 0 : 255;
        } else {
          const r = data[s]!, g = data[s + 1]!, b = data[s + 2]!;
          out[o] = r >> shift;
          out[o + 1] = g >> shift;
          out[o + 2] = b >> shift;
          out[o + 3] = channels === 4
            ? data[s + 3]! >> shift
            : key && key[0] === r && key[1] === g && key[2] === b
            ? 0
            : 255;
        }
      }
      return { width, height, data: out };
    },
    catch: (error) => new ImageDecodeFailed({ path, problem: describe(error) }),
  });

/**
 * Decode a baseline or progressive JPEG to RGBA with jpeg-js. `maxResolutionInMP` guards
 * against multi-megapixel wallpapers that take many seconds in pure JS.
 */
export const decodeJpeg = (
  bytes: Uint8Array,
  path: string,
  maxResolutionInMP = 40,
): Effect.Effect<RgbaImage, ImageDecodeFailed> =>
  Effect.try({
    try: (): RgbaImage => {
      const img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP,
        maxMemoryUsageInMB: 1024,
      });
      return { width: img.width, height: img.height, data: img.data };
    },
    catch: (error) => new ImageDecodeFailed({ path, problem: describe(error) }),
  });

/**
 * Render an SVG with resvg so that its longer side is `maxSide` pixels. System fonts are not
 * loaded, so the output does not depend on the machine's fonts (text elements are dropped).
 * resvg returns premultiplied RGBA; it is converted back to straight alpha here.
 */
export const decodeSvg = (
  bytes: Uint8Array,
  path: string,
  maxSide = 256,
): Effect.Effect<RgbaImage, ImageDecodeFailed> =>
  Effect.try({
    try: (): RgbaImage => {
      const svg = new TextDecoder().decode(bytes);
      const intrinsic = new Resvg(svg, { font: { loadSystemFonts: false } });
      const mode = intrinsic.width >= intrinsic.height ? "width" : "height";
      const rendered = new Resvg(svg, {
        fitTo: { mode, value: maxSide },
        font: { loadSystemFonts: false },
      }).render();
      const data = new Uint8Array(rendered.pixels);
      for (let o = 0; o < data.length; o += 4) {
        const a = data[o + 3]!;
        if (a === 0 || a === 255) continue;
        for (let c = 0; c < 3; c++) {
          data[o + c] = Math.min(255, Math.round((data[o + c]! * 255) / a));
        }
      }
      return { width: rendered.width, height: rendered.height, data };
    },
    catch: (error) => new ImageDecodeFailed({ path, problem: describe(error) }),
  });

/** Decode by file extension: `.pat`, `.png`, `.jpg`/`.jpeg`, `.svg`. */
export const decodeImage = (
  bytes: Uint8Array,
  path: string,
): Effect.Effect<RgbaImage, ImageDecodeFailed> => {
  const ext = path.toLowerCase().split(".").pop();
  if (ext === "pat") return decodePat(bytes, path);
  if (ext === "png") return decodePng(bytes, path);
  if (ext === "jpg" || ext === "jpeg") return decodeJpeg(bytes, path);
  if (ext === "svg") return decodeSvg(bytes, path);
  return Effect.fail(new ImageDecodeFailed({ path, problem: `unsupported file type ".${ext}"` }));
};

// ---------------------------------------------------------------------------------------------
// Conversions to gray

/** Luma composited over black: `v = α·luma` (textures, photos, Tux Paint stamps). */
export function lumaOverBlack(img: RgbaImage): GrayImage {
  const n = img.width * img.height;
  const out = new Float32Array(n);
  const d = img.data;
  for (let i = 0; i < n; i++) {
    const o = i * 4;
    out[i] = (luma(d[o]!, d[o + 1]!, d[o + 2]!) * d[o + 3]!) / 255;
  }
  return { width: img.width, height: img.height, data: out };
}

/**
 * Inverted luma times alpha: `v = α·(255 − luma)`. Used for line-art clipart drawn dark on a
 * white or transparent background, so that the drawing becomes bright ink on black as in MNIST.
 */
export function inkFromLineArt(img: RgbaImage): GrayImage {
  const n = img.width * img.height;
  const out = new Float32Array(n);
  const d = img.data;
  for (let i = 0; i < n; i++) {
    const o = i * 4;
    out[i] = ((255 - luma(d[o]!, d[o + 1]!, d[o + 2]!)) * d[o + 3]!) / 255;
  }
  return { width: img.width, height: img.height, data: out };
}
