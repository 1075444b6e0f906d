/**
 * In-memory image sets, the value the load stage hands to the model: pixels stay uint8 (4x
 * smaller than floats); batches are converted to model input one at a time.
 *
 * @module
 */

/** Side of the square grayscale images every grood dataset holds. */
export const IMAGE_SIDE = 28;
/** Values per image. */
export const IMAGE_SIZE = IMAGE_SIDE * IMAGE_SIDE;

/** Height, width and channels of the images of a set (NHWC). */
export interface SetShape {
  /** Rows of pixels. */
  readonly height: number;
  /** Columns of pixels. */
  readonly width: number;
  /** Values per pixel (1 grey, 3 RGB). */
  readonly channels: number;
}

/**
 * `count` uint8 images, NHWC, optionally labelled: 28×28 grey (grood's own benchmarks) unless
 * `shape` says otherwise (a user's model and data).
 */
export interface ImageSet {
  /** Names the set in errors, reports and cache keys. */
  readonly name: string;
  /** Number of images N. */
  readonly count: number;
  /** N × height × width × channels values (NHWC), row-major. */
  readonly pixels: Uint8Array;
  /** Shape of one image; absent = 28×28×1. */
  readonly shape?: SetShape;
  /** Class index per image, for labelled (ID) sets. */
  readonly labels?: Uint8Array;
}

/** A labelled split of an ID dataset. */
export interface LabelledSet extends ImageSet {
  /** Class index per image (below `classNames.length`). */
  readonly labels: Uint8Array;
  /** Class names, by class index. */
  readonly classNames: ReadonlyArray<string>;
}

/** One batch: where it starts in the set, how many images, and a view of their pixels. */
export interface Batch {
  /** Index of the batch's first image in the set. */
  readonly start: number;
  /** Number of images in the batch. */
  readonly size: number;
  /** Their values (a view of the set's `pixels`, no copy). */
  readonly pixels: Uint8Array;
}

/** Values per image of a set (height × width × channels). */
export function valuesPerImage(set: ImageSet): number {
  return set.shape === undefined
    ? IMAGE_SIZE
    : set.shape.height * set.shape.width * set.shape.channels;
}

/** Channels per pixel of a set. */
export function channelsOf(set: ImageSet): number {
  return set.shape?.channels ?? 1;
}

/** Yield consecutive batches of `set` (views, no copies). */
export function* batches(set: ImageSet, batchSize: number): Generator<Batch> {
  const per = valuesPerImage(set);
  for (let start = 0; start < set.count; start += batchSize) {
    const size = Math.min(batchSize, set.count - start);
    yield { start, size, pixels: set.pixels.subarray(start * per, (start + size) * per) };
  }
}

/** The images at `indices`, copied into a new set (labels too when present). */
export function subset<S extends ImageSet>(set: S, indices: ArrayLike<number>, name?: string): S {
  const per = valuesPerImage(set);
  const pixels = new Uint8Array(indices.length * per);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    pixels.set(set.pixels.subarray(j * per, (j + 1) * per), i * per);
  }
  const labels = set.labels;
  return {
    ...set,
    name: name ?? set.name,
    count: indices.length,
    pixels,
    ...(labels && { labels: Uint8Array.from(indices, (j) => labels[j]!) }),
  };
}

/** Concatenate image sets of one shape (labels dropped) into one set called `name`. */
export function concatSets(sets: ReadonlyArray<ImageSet>, name: string): ImageSet {
  const count = sets.reduce((n, s) => n + s.count, 0);
  const shape = sets[0]?.shape;
  const pixels = new Uint8Array(count * (sets[0] === undefined ? 0 : valuesPerImage(sets[0])));
  let offset = 0;
  for (const s of sets) {
    pixels.set(s.pixels, offset);
    offset += s.pixels.length;
  }
  return { name, count, pixels, ...(shape === undefined ? {} : { shape }) };
}
