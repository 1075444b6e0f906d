/**
 * A source whose images are already in memory (a decoded IDX file, a registered dataset, a
 * generated OOD set): batches are views of its arrays, converted only when the model wants
 * another shape, and the arrays themselves are handed over when the shape already fits.
 *
 * @module
 */
import { Effect } from "effect";
import { conformRaw } from "./conform.ts";
import { rangeOfBatches } from "./range.ts";
import {
  type ImageShape,
  memoryBatches,
  type OpenContext,
  type OpenedSource,
  sameShape,
  type SourceBatch,
} from "./source.ts";

/** What an in-memory source holds. */
export interface InMemoryImages {
  /** What errors and reports name (a path, a set name). */
  readonly description: string;
  readonly count: number;
  /** The stored images' shape (uint8 NHWC). */
  readonly shape: ImageShape;
  readonly pixels: Uint8Array;
  readonly labels?: Uint8Array;
  readonly classNames?: ReadonlyArray<string>;
}

/** The `OpenedSource` of images in memory, at the shape `ctx` asks for. */
export const inMemorySource = (images: InMemoryImages, ctx: OpenContext): OpenedSource => {
  const { description, count, shape, pixels, labels, classNames } = images;
  const per = shape.height * shape.width * shape.channels;
  return {
    description,
    count,
    shape: ctx.shape,
    ...(classNames === undefined ? {} : { classNames }),
    ...(sameShape(shape, ctx.shape)
      ? { inMemory: { pixels, ...(labels === undefined ? {} : { labels }) } }
      : {}),
    batches: (batchSize) =>
      memoryBatches(
        count,
        per,
        pixels,
        labels,
        batchSize,
        (run, size) => conformRaw(run, size, shape, ctx.shape, description),
      ),
    // A range is a run of views: the images before it are never touched.
    range: rangeOfBatches((start, size) =>
      Effect.map(
        conformRaw(
          pixels.subarray(start * per, (start + size) * per),
          size,
          shape,
          ctx.shape,
          description,
        ),
        (converted): SourceBatch => ({
          start,
          size,
          pixels: converted,
          ...(labels === undefined ? {} : { labels: labels.subarray(start, start + size) }),
        }),
      )
    ),
  };
};
