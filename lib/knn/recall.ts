/**
 * Recall@k: how many of the exact neighbours an approximate search finds.
 *
 * @module
 */
import type { Neighbours } from "./types.ts";

/**
 * Recall@k of an approximate search against an exact one: the mean share of each query's exact
 * k neighbours found among its approximate k (`k`: by default the smaller of the two). Throws
 * RangeError if the row counts differ (a programming error).
 *
 * @example
 * ```ts
 * import { recallAtK } from "./recall.ts";
 * const exact = { rows: 2, k: 1, distances: new Float64Array(2), indices: Int32Array.of(4, 7) };
 * const approx = { ...exact, indices: Int32Array.of(4, 9) };
 * if (recallAtK(approx, exact) !== 0.5) throw new Error("wrong recall");
 * ```
 */
export function recallAtK(
  approx: Neighbours,
  exact: Neighbours,
  k = Math.min(approx.k, exact.k),
): number {
  if (approx.rows !== exact.rows) {
    throw new RangeError(`Cannot compare ${approx.rows} with ${exact.rows} query rows`);
  }
  if (approx.rows === 0) return 1;
  let hits = 0;
  for (let q = 0; q < exact.rows; q++) {
    const found = new Set(approx.indices.subarray(q * approx.k, q * approx.k + k));
    for (let r = 0; r < k; r++) if (found.has(exact.indices[q * exact.k + r]!)) hits++;
  }
  return hits / (exact.rows * k);
}
