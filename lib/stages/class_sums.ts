/**
 * Per-class float64 sums of features, added the one way every GROOD fit adds them: image by image
 * within a chunk of {@link FIT_CHUNK} images, then chunk by chunk, in order, into the totals. The
 * extraction pass, GROOD's chunk map and its ordered reduce all sum this way, so a fit's class
 * prototypes depend on the chunk size only, never on whether features were held, streamed or
 * mapped on a cluster.
 *
 * @module
 */

/** Images per chunk of GROOD's fit (and of the extraction's class sums) when none is given. */
export const FIT_CHUNK = 1000;

/** Add row i of `rows` into the row of class `labels[i]` of `sums` (C × width), counting it. */
export const addRowsByClass = (
  sums: Float64Array,
  counts: Float64Array,
  labels: ArrayLike<number>,
  rows: ArrayLike<number>,
  width: number,
): void => {
  for (let i = 0; i < labels.length; i++) {
    const c = labels[i]!;
    counts[c]! += 1;
    const at = c * width;
    const from = i * width;
    for (let j = 0; j < width; j++) sums[at + j]! += rows[from + j]!;
  }
};

/** The ordered reduce's step: `total += part`, element by element. */
export const addInto = (total: Float64Array, part: Float64Array): void => {
  for (let i = 0; i < total.length; i++) total[i]! += part[i]!;
};

/** Per-class sums added in chunks of `chunk` images (see the module doc). */
export interface ChunkedSums {
  /** Add the next rows (following the ones added so far), with their labels. */
  readonly add: (labels: Uint8Array, rows: Float32Array) => void;
  /** The totals, once every image is in (the last, partial chunk added). */
  readonly finish: () => { readonly sums: Float64Array; readonly counts: Float64Array };
}

/**
 * Sums of `width`-value rows over `classes` classes, fed in order (any batch size), added into
 * the totals every `chunk` images (≥ 1, checked by callers): the bits of {@link addRowsByClass}
 * per chunk reduced in order with {@link addInto}.
 *
 * @example Chunks of two: ((0 + (1 + 2)) + (4 + 8)) for class 0
 * ```ts
 * import { chunkedSums } from "./class_sums.ts";
 * const sums = chunkedSums(1, 1, 2);
 * sums.add(Uint8Array.of(0, 0, 0), Float32Array.of(1, 2, 4));
 * sums.add(Uint8Array.of(0), Float32Array.of(8));
 * const { sums: total, counts } = sums.finish();
 * if (total[0] !== 15 || counts[0] !== 4) throw new Error("wrong sums");
 * ```
 */
export const chunkedSums = (classes: number, width: number, chunk: number): ChunkedSums => {
  const sums = new Float64Array(classes * width);
  const counts = new Float64Array(classes);
  const partSums = new Float64Array(classes * width);
  const partCounts = new Float64Array(classes);
  let inPart = 0;
  const flush = () => {
    addInto(sums, partSums);
    addInto(counts, partCounts);
    partSums.fill(0);
    partCounts.fill(0);
    inPart = 0;
  };
  const add = (labels: Uint8Array, rows: Float32Array) => {
    for (let i = 0; i < labels.length;) {
      const take = Math.min(labels.length - i, chunk - inPart);
      addRowsByClass(
        partSums,
        partCounts,
        labels.subarray(i, i + take),
        rows.subarray(i * width, (i + take) * width),
        width,
      );
      inPart += take;
      i += take;
      if (inPart === chunk) flush();
    }
  };
  const finish = () => {
    if (inPart > 0) flush();
    return { sums, counts };
  };
  return { add, finish };
};
