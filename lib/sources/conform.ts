/**
 * Bring images to the model's input shape with npm `sharp` (libvips): resize by stretching to
 * height × width (`fit: "fill"`), flatten any alpha onto black, and convert to grey (libvips
 * `b-w`, luma) or sRGB. Every source kind goes through the same calls, so a PNG folder and an
 * array of the same pictures give the same pixels. Images already at the shape are not touched.
 *
 * @module
 */
import sharp from "sharp";
import { Effect } from "effect";
import { CorruptDataset } from "../io/idx.ts";
import { plainPngPixels } from "./plain_png.ts";
import { type ImageShape, imageValues, sameShape } from "./source.ts";

/** A sharp pipeline (the default export's namespace types are not visible through Deno's import). */
export type Sharp = ReturnType<typeof sharp>;
type OutputInfo = Awaited<ReturnType<Sharp["toUint8Array"]>>["info"];

/** The sharp pipeline that turns any decodable input into `shape` (raw NHWC uint8). */
export function toShape(image: Sharp, shape: ImageShape): Sharp {
  return image
    .flatten({ background: "#000000" })
    .resize(shape.width, shape.height, { fit: "fill" })
    .toColourspace(shape.channels === 1 ? "b-w" : "srgb")
    .raw();
}

/**
 * Decode an encoded image (PNG, JPEG, WebP, …) to `shape`. A file sharp cannot decode, or one
 * that comes out with other channels, fails with `CorruptDataset` naming `path`. A plain PNG
 * already at `shape` skips sharp (same pixels, decoded faster: see `pngAlreadyAtShape`).
 */
export const decodeImage = (
  bytes: Uint8Array,
  path: string,
  shape: ImageShape,
): Effect.Effect<Uint8Array, CorruptDataset> => {
  const ready = pngAlreadyAtShape(bytes, shape);
  return ready === undefined ? decodeWithSharp(bytes, path, shape) : Effect.succeed(ready);
};

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The pixels of a PNG that sharp's pipeline would leave as they are (8-bit, already `shape`'s
 * size and channels, plain: `plain_png.ts`), decoded many times faster than by sharp; anything
 * else returns `undefined`. An RGB PNG with R = G = B everywhere counts as grey for a
 * one-channel shape, as libvips' `b-w` maps it (`docs/internals/io.md`).
 */
export function pngAlreadyAtShape(bytes: Uint8Array, shape: ImageShape): Uint8Array | undefined {
  if (bytes.length < 29 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) return undefined;
  // Colour type (IHDR, the first chunk) 0 is grey; anything else must be RGB (type 2), which
  // is also read for a grey shape and kept if it is grey.
  const channels = shape.channels === 1 && bytes[25] === 0 ? 1 : 3;
  const pixels = plainPngPixels(bytes, shape.width, shape.height, channels);
  if (pixels === undefined) return undefined; // sharp decodes it or names the problem
  return channels !== shape.channels ? greyOfRgb(pixels) : pixels;
}

/** The one channel of RGB pixels that are all grey (R = G = B); undefined if one is not. */
function greyOfRgb(rgb: Uint8Array): Uint8Array | undefined {
  const grey = new Uint8Array(rgb.length / 3);
  for (let i = 0, j = 0; i < grey.length; i++, j += 3) {
    const v = rgb[j]!;
    if (rgb[j + 1] !== v || rgb[j + 2] !== v) return undefined;
    grey[i] = v;
  }
  return grey;
}

const decodeWithSharp = (bytes: Uint8Array, path: string, shape: ImageShape) =>
  Effect.tryPromise({
    try: () => toShape(sharp(bytes), shape).toUint8Array(),
    catch: (error) =>
      new CorruptDataset({
        path,
        problem: `not a decodable PNG, JPEG or WebP image (sharp: ${
          error instanceof Error ? error.message : String(error)
        })`,
      }),
  }).pipe(Effect.flatMap(({ data, info }) => checkOutput(data, info, path, shape)));

const checkOutput = (data: Uint8Array, info: OutputInfo, path: string, shape: ImageShape) =>
  info.channels === shape.channels && data.length === imageValues(shape)
    ? Effect.succeed(data)
    : Effect.fail(
      new CorruptDataset({
        path,
        problem: `decoded to ${info.width}x${info.height}x${info.channels}, expected ` +
          `${shape.width}x${shape.height}x${shape.channels}`,
      }),
    );

/** Convert `count` raw images (NHWC uint8) from shape `from` to `to` (the input when equal). */
export const conformRaw = (
  pixels: Uint8Array,
  count: number,
  from: ImageShape,
  to: ImageShape,
  path: string,
): Effect.Effect<Uint8Array, CorruptDataset> => {
  if (sameShape(from, to)) return Effect.succeed(pixels);
  const inPer = imageValues(from);
  const outPer = imageValues(to);
  const out = new Uint8Array(count * outPer);
  return Effect.forEach(
    Array.from({ length: count }, (_, i) => i),
    (i) =>
      Effect.tryPromise({
        try: () =>
          toShape(sharp(pixels.subarray(i * inPer, (i + 1) * inPer), { raw: from }), to)
            .toUint8Array(),
        catch: (error) =>
          new CorruptDataset({ path, problem: `cannot convert image ${i}: ${String(error)}` }),
      }).pipe(
        Effect.flatMap(({ data, info }) => checkOutput(data, info, path, to)),
        Effect.map((image) => out.set(image, i * outPer)),
      ),
    { concurrency: 4, discard: true },
  ).pipe(Effect.as(out));
};

/** `count` images stored as planes (NCHW) with their values interleaved (NHWC). */
export function interleave(planar: Uint8Array, count: number, shape: ImageShape): Uint8Array {
  const per = imageValues(shape);
  const plane = shape.height * shape.width;
  const out = new Uint8Array(count * per);
  for (let n = 0; n < count; n++) {
    for (let c = 0; c < shape.channels; c++) {
      const from = n * per + c * plane;
      for (let p = 0; p < plane; p++) out[n * per + p * shape.channels + c] = planar[from + p]!;
    }
  }
  return out;
}
