/**
 * What a loaded detector scores: images decoded to its model's input size (`decodeImage`), as
 * uint8 NHWC pixels, stacked into one batch by `imageBatch`.
 *
 * @module
 */
import { Effect } from "effect";
import type { ImageShape } from "../sources/source.ts";
import { ImageBatchMismatch } from "./errors.ts";

/** `count` images of `shape`, NHWC uint8 (0–255), one after another in `pixels`. */
export interface ImageBatch {
  /** Number of images. */
  readonly count: number;
  /** Height, width and channels of every image. */
  readonly shape: ImageShape;
  /** `count × height × width × channels` values, image after image. */
  readonly pixels: Uint8Array;
}

/** What `scoreImages` takes: uint8 NHWC images of this shape (see `decodeImage`). */
export interface ScoreInputSpec {
  /** Image height in pixels. */
  readonly height: number;
  /** Image width in pixels. */
  readonly width: number;
  /** 1 (greyscale) or 3 (RGB). */
  readonly channels: 1 | 3;
  /** The three above as one `ImageShape` (what `decodeImage` takes). */
  readonly shape: ImageShape;
  /** Pixel type. */
  readonly dtype: "uint8";
  /** Axis order of a batch: images, rows, columns, channels. */
  readonly layout: "NHWC";
  /** Pixel value range. */
  readonly range: readonly [0, 255];
}

/** Describe a shape for errors: `28×28×1 uint8`. */
export const describeShape = (shape: ImageShape): string =>
  `${shape.height}×${shape.width}×${shape.channels} uint8`;

/**
 * Stack decoded images (each of `shape`) into one batch; an image of another size fails with
 * `ImageBatchMismatch` naming its position and `name` (the detector or request).
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { imageBatch } from "./batch.ts";
 * const shape = { height: 2, width: 2, channels: 1 } as const;
 * const batch = Effect.runSync(imageBatch([new Uint8Array(4), new Uint8Array(4)], shape));
 * if (batch.count !== 2 || batch.pixels.length !== 8) throw new Error("not stacked");
 * const bad = Effect.runSync(Effect.flip(imageBatch([new Uint8Array(3)], shape)));
 * if (bad._tag !== "ImageBatchMismatch") throw new Error("accepted 3 values");
 * ```
 */
export const imageBatch = (
  images: ReadonlyArray<Uint8Array>,
  shape: ImageShape,
  name = "images",
): Effect.Effect<ImageBatch, ImageBatchMismatch> => {
  const per = shape.height * shape.width * shape.channels;
  const bad = images.findIndex((image) => image.length !== per);
  if (bad >= 0) {
    return Effect.fail(
      new ImageBatchMismatch({
        detector: name,
        expected: `images of ${describeShape(shape)} (${per} values each)`,
        actual: `${images[bad]!.length} values for image ${bad}`,
      }),
    );
  }
  const pixels = new Uint8Array(images.length * per);
  images.forEach((image, i) => pixels.set(image, i * per));
  return Effect.succeed({ count: images.length, shape, pixels });
};
