/**
 * A source whose images are already in memory (IDX, the built-in sets): batches are views of
 * its arrays, converted only to another shape; the arrays are handed over when it fits.
 *
 * @module
 */
import { Effect } from "effect";
import { conformRaw } from "./conform.ts";
import { batchesOf } from "./range.ts";
import {
  type ImageShape,
  imageValues,
  type OpenContext,
  type OpenedSource,
  sameShape,
  sourceBatch,
} from "./source.ts";

/** The `OpenedSource` of images in memory (uint8 NHWC at `shape`), at the shape `ctx` asks for. */
export const inMemorySource = (
  images: {
    /** What errors and reports name (a path, a set name). */
    readonly description: string;
    readonly count: number;
    readonly shape: ImageShape;
    readonly pixels: Uint8Array;
    readonly labels?: Uint8Array;
    readonly classNames?: ReadonlyArray<string>;
  },
  ctx: OpenContext,
): OpenedSource => {
  const { description, count, shape, pixels, labels, classNames } = images;
  const per = imageValues(shape);
  return {
    description,
    count,
    shape: ctx.shape,
    ...(classNames === undefined ? {} : { classNames }),
    ...(sameShape(shape, ctx.shape)
      ? { inMemory: { pixels, ...(labels === undefined ? {} : { labels }) } }
      : {}),
    // A range is a run of views: the images before it are never touched.
    ...batchesOf(count, (start, size) =>
      Effect.map(
        conformRaw(
          pixels.subarray(start * per, (start + size) * per),
          size,
          shape,
          ctx.shape,
          description,
        ),
        (converted) => sourceBatch(start, size, converted, labels),
      )),
  };
};
