/**
 * In-memory image sets: the value the load stage hands to the model. Pixels stay uint8 (as on
 * disk, 4x smaller than floats); batches are converted to model input one at a time.
 *
 * @module
 */

/** Side of the square grayscale images every grood dataset holds. */
export const IMAGE_SIDE = 28;
/** Values per image. */
export const IMAGE_SIZE = IMAGE_SIDE * IMAGE_SIDE;

/** `count` 28×28 uint8 images (ink bright on dark), optionally labelled. */
export interface ImageSet {
  readonly name: string;
  readonly count: number;
  readonly pixels: Uint8Array;
  /** Class index per image, for labelled (ID) sets. */
  readonly labels?: Uint8Array;
}

/** A labelled split of an ID dataset. */
export interface LabelledSet extends ImageSet {
  readonly labels: Uint8Array;
  readonly classNames: ReadonlyArray<string>;
}

/** One batch: where it starts in the set, how many images, and a view of their pixels. */
export interface Batch {
  readonly start: number;
  readonly size: number;
  readonly pixels: Uint8Array;
}

/** Yield consecutive batches of `set` (views, no copies). */
export function* batches(set: ImageSet, batchSize: number): Generator<Batch> {
  for (let start = 0; start < set.count; start += batchSize) {
    const size = Math.min(batchSize, set.count - start);
    yield {
      start,
      size,
      pixels: set.pixels.subarray(start * IMAGE_SIZE, (start + size) * IMAGE_SIZE),
    };
  }
}

/** The images at `indices`, copied into a new set (labels too when present). */
export function subset<S extends ImageSet>(set: S, indices: ArrayLike<number>, name?: string): S {
  const pixels = new Uint8Array(indices.length * IMAGE_SIZE);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    pixels.set(set.pixels.subarray(j * IMAGE_SIZE, (j + 1) * IMAGE_SIZE), i * IMAGE_SIZE);
  }
  const labels = set.labels === undefined
    ? undefined
    : Uint8Array.from({ length: indices.length }, (_, i) => set.labels![indices[i]!]!);
  return {
    ...set,
    name: name ?? set.name,
    count: indices.length,
    pixels,
    ...(labels === undefined ? {} : { labels }),
  };
}

/** Concatenate image sets (labels dropped) into one set called `name`. */
export function concatSets(sets: ReadonlyArray<ImageSet>, name: string): ImageSet {
  const count = sets.reduce((n, s) => n + s.count, 0);
  const pixels = new Uint8Array(count * IMAGE_SIZE);
  let offset = 0;
  for (const s of sets) {
    pixels.set(s.pixels, offset);
    offset += s.pixels.length;
  }
  return { name, count, pixels };
}
