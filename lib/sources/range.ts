/**
 * Ranged reads: images [start, end) of an opened source, without reading the images before
 * them where the source can (`OpenedSource.range`), else streamed from its first image; the
 * batches are the same either way (why: `docs/internals/io.md`).
 *
 * @module
 */
import { Data, Effect, Stream } from "effect";
import {
  imageValues,
  type OpenedSource,
  type SourceBatch,
  type SourceError,
  SourceUnlabelled,
} from "./source.ts";

/** Images [start, end) of a source. */
export interface SourceRange {
  /** Index of the first image. */
  readonly start: number;
  /** Index after the last image. */
  readonly end: number;
}

/** A range that is not inside the source (or runs backwards), naming both. */
export class SourceRangeInvalid extends Data.TaggedError("SourceRangeInvalid")<{
  readonly source: string;
  readonly start: number;
  readonly end: number;
  readonly count: number;
}> {
  /** The error as one line: the range, the source and its size. */
  override get message(): string {
    return `Cannot read images [${this.start}, ${this.end}) of "${this.source}": it holds ` +
      `${this.count} images (a range needs 0 <= start <= end <= count, whole numbers)`;
  }
}

/**
 * The (start, size) of each batch of `range`: from `range.start` in steps of `batchSize` (at
 * least 1), the last one cut at `range.end`.
 *
 * @example
 * ```ts
 * import { rangeBatchStarts } from "./range.ts";
 * const starts = [...rangeBatchStarts({ start: 10, end: 25 }, 6)];
 * if (starts.map((s) => `${s.start}+${s.size}`).join() !== "10+6,16+6,22+3") throw new Error();
 * ```
 */
export function* rangeBatchStarts(
  range: SourceRange,
  batchSize: number,
): Generator<{ start: number; size: number }> {
  const step = Math.max(1, Math.floor(batchSize));
  for (let start = range.start; start < range.end; start += step) {
    yield { start, size: Math.min(step, range.end - start) };
  }
}

/** The batches of images `range` of `source`; a range outside it is a `SourceRangeInvalid`. */
export const readRange = (
  source: OpenedSource,
  range: SourceRange,
  batchSize: number,
): Stream.Stream<SourceBatch, SourceError | SourceRangeInvalid> => {
  const { start, end } = range;
  if (!(Number.isSafeInteger(batchSize) && batchSize >= 1)) {
    // The callers' own constant, never user input: a defect, not a typed error.
    return Stream.die(new Error(`readRange: batchSize ${batchSize} is not a whole number ≥ 1`));
  }
  if (
    !Number.isInteger(start) || !Number.isInteger(end) || start < 0 || start > end ||
    end > source.count
  ) {
    return Stream.fail(
      new SourceRangeInvalid({ source: source.description, start, end, count: source.count }),
    );
  }
  if (start === end) return Stream.empty;
  return source.range !== undefined
    ? source.range(range, batchSize)
    : streamedRange(source, range, batchSize);
};

/** The fallback: stream from the first image, regrouping those in `range` as a direct read. */
const streamedRange = (
  source: OpenedSource,
  range: SourceRange,
  step: number,
): Stream.Stream<SourceBatch, SourceError> => {
  const per = imageValues(source.shape);
  const labelled = source.classNames !== undefined;
  const inRange = (batch: SourceBatch) =>
    Array.from({ length: batch.size }, (_, i) => i)
      .filter((i) => batch.start + i >= range.start && batch.start + i < range.end)
      .map((i) => ({
        pixels: batch.pixels.slice(i * per, (i + 1) * per),
        label: batch.labels?.[i],
      }));
  return source.batches(step).pipe(
    Stream.takeWhile((batch) => batch.start < range.end),
    Stream.flatMap((batch) =>
      labelled && batch.labels === undefined
        // A labelled source's batch without labels: refused, never filled with a class.
        ? Stream.fail(
          new SourceUnlabelled({
            source: source.description,
            role: `a labelled source (its batch at image ${batch.start} came without labels)`,
          }),
        )
        : Stream.fromIterable(inRange(batch))
    ),
    Stream.grouped(step),
    Stream.zipWithIndex,
    Stream.map(([images, g]): SourceBatch => {
      const pixels = new Uint8Array(images.length * per);
      images.forEach((image, i) => pixels.set(image.pixels, i * per));
      const labels = labelled ? { labels: Uint8Array.from(images, (image) => image.label!) } : {};
      return { start: range.start + g * step, size: images.length, pixels, ...labels };
    }),
  );
};

/** `OpenedSource.range` for a kind that reads any run of images with `readBatch(start, size)`. */
export const rangeOfBatches = (
  readBatch: (start: number, size: number) => Effect.Effect<SourceBatch, SourceError>,
): (range: SourceRange, batchSize: number) => Stream.Stream<SourceBatch, SourceError> =>
(range, batchSize) =>
  Stream.fromIterable(rangeBatchStarts(range, batchSize)).pipe(
    Stream.mapEffect(({ start, size }) => readBatch(start, size)),
  );

/** `batches` and `range` of a source of `count` images read with `readBatch(start, size)`. */
export const batchesOf = (
  count: number,
  readBatch: (start: number, size: number) => Effect.Effect<SourceBatch, SourceError>,
): Pick<OpenedSource, "batches" | "range"> => {
  const range = rangeOfBatches(readBatch);
  return { batches: (batchSize) => range({ start: 0, end: count }, batchSize), range };
};
