/**
 * The one squared Euclidean distance kernel of grood's TypeScript (k-NN re-ranking, gradient
 * descriptors, the Mahalanobis detectors); the exact k-NN index's wasm SIMD kernel is its
 * float32 counterpart for bulk search, its candidates re-ranked by this one.
 *
 * @module
 */

/**
 * Squared Euclidean distance between `length` values of `a` from `aOffset` and of `b` from
 * `bOffset`, summed in float64 in index order.
 *
 * @example
 * ```ts
 * import { squaredDistance } from "./distance.ts";
 * // Rows 1 of [[0, 0], [3, 4]] and 0 of [[0, 0]]: 3² + 4².
 * if (squaredDistance([0, 0, 3, 4], 2, [0, 0], 0, 2) !== 25) throw new Error("wrong distance");
 * ```
 */
export function squaredDistance(
  a: ArrayLike<number>,
  aOffset: number,
  b: ArrayLike<number>,
  bOffset: number,
  length: number,
): number {
  let sum = 0;
  for (let j = 0; j < length; j++) {
    const diff = a[aOffset + j]! - b[bOffset + j]!;
    sum += diff * diff;
  }
  return sum;
}
