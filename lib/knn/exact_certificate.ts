/**
 * What makes the exact index exact at any scale: a per-query certificate that the float64
 * re-ranking of the kernel's candidates is the true k nearest (every other point's kernel value
 * is ≥ the m-th candidate's, which the kernel's error bound turns into a lower bound on its true
 * distance), and, where it cannot be given, an exact float64 search over the band of points whose
 * norms lie within the k-th distance of the query's (triangle inequality). Proof:
 * docs/internals/knn.md.
 *
 * @module
 */
import { squaredDistance } from "../distance.ts";
import type { Matrix } from "../matrix.ts";
import type { BlockNorms, PruningMargin, QueryNorms } from "./norm_bound.ts";
import { offer } from "./rerank.ts";

/** Relative slack for float64 evaluation of the certificate and of the band's radius. */
const SLACK = 1e-12;

/** Point indices sorted by their float64 norm from the origin (ties by index), and the norms. */
export interface NormOrder {
  readonly indices: Int32Array;
  readonly norms: Float64Array;
}

/** The norm order of `rawNorms` (float64 norms of the points from the origin). */
export function normOrder(rawNorms: Float64Array): NormOrder {
  const indices = Int32Array.from({ length: rawNorms.length }, (_, i) => i);
  indices.sort((a, b) => rawNorms[a]! - rawNorms[b]! || a - b);
  return { indices, norms: Float64Array.from(indices, (i) => rawNorms[i]!) };
}

/**
 * One query's search: the m-th smallest kernel value (+∞ when every point is a candidate), its
 * norms, and whether the kernel's values can be trusted for it (no float32 overflow).
 */
export interface CandidateBound {
  readonly mthValue: number;
  readonly query: QueryNorms;
  readonly kernelSafe: boolean;
}

/**
 * Whether no point outside the candidates can be nearer than, or as near as, the k-th
 * re-ranked neighbour at squared distance `u` (block by block, the larger of the norm gap and
 * the kernel value's bound).
 *
 * @example
 * ```ts
 * import { certified } from "./exact_certificate.ts";
 * import { pruningMargin } from "./norm_bound.ts";
 * const margin = pruningMargin(2);
 * const blocks = [{ rawLow: 0, rawHigh: 10, centredHigh: 10 }];
 * // Kernel values ≥ 100 outside the candidates (so squared distances ≥ 100 + ‖q̃‖² − error),
 * // a k-th neighbour at squared distance 1: certified. Kernel values ≥ 0 allow a tie: not.
 * const bound = { mthValue: 100, query: { raw: 1, centred: 1 }, kernelSafe: true };
 * if (!certified(bound, blocks, 1, margin)) throw new Error("should be certified");
 * if (certified({ ...bound, mthValue: 0 }, blocks, 1, margin)) throw new Error("should not be");
 * ```
 */
export function certified(
  bound: CandidateBound,
  blocks: ReadonlyArray<BlockNorms>,
  u: number,
  margin: PruningMargin,
): boolean {
  const { mthValue, query, kernelSafe } = bound;
  if (mthValue === Infinity) return true;
  const useKernel = kernelSafe && Number.isFinite(mthValue);
  const r = query.centred;
  const needed = u * (1 + SLACK) / (1 - SLACK);
  for (const block of blocks) {
    const gap = Math.max(0, block.rawLow - query.raw, query.raw - block.rawHigh) -
      margin.norms * (query.raw + block.rawHigh);
    let lower = Math.max(0, gap);
    if (useKernel && lower * lower <= needed) {
      const a = block.centredHigh;
      const kernelError = margin.relative * (a * a + 2 * r * a) + margin.absolute;
      const centred = Math.sqrt(Math.max(0, mthValue - kernelError + r * r));
      lower = Math.max(lower, centred - (margin.centring * (r + a) + margin.centringAbsolute));
    }
    if (!(lower * lower > needed)) return false;
  }
  return true;
}

/**
 * The exact k nearest of row `qi` among the points whose norms lie within √u (plus rounding)
 * of the query's norm `queryNorm`, written into the output (ranked by float64 distance, then
 * index). `u` is a squared distance some k points reach, so the band holds the answer. Returns
 * how many points the band held.
 */
export function bandSearch(
  queries: Matrix,
  qi: number,
  points: Matrix,
  k: number,
  out: { distances: Float64Array; indices: Int32Array },
  order: NormOrder,
  queryNorm: number,
  u: number,
  margin: PruningMargin,
): number {
  const reach = Math.sqrt(u) * (1 + SLACK);
  const radius = reach + margin.norms * (2 * queryNorm + reach) + Number.MIN_VALUE;
  const lo = firstAbove(order.norms, queryNorm - radius, false);
  const hi = firstAbove(order.norms, queryNorm + radius, true);
  // The k smallest (d², index), kept sorted by insertion: no allocation per point.
  const d = points.cols;
  const bestD = new Float64Array(k).fill(Infinity);
  const bestI = new Int32Array(k).fill(-1);
  const limit = u * (1 + SLACK);
  for (let s = lo; s < hi; s++) {
    const i = order.indices[s]!;
    const d2 = squaredDistance(queries.data, qi * d, points.data, i * d, d);
    if (d2 <= limit) offer(bestD, bestI, 0, k, d2, i);
  }
  for (let r = 0; r < k; r++) {
    out.distances[qi * k + r] = Math.sqrt(bestD[r]!);
    out.indices[qi * k + r] = bestI[r]!;
  }
  return hi - lo;
}

/** Index of the first value > v (`strictly`) or ≥ v in an ascending array. */
function firstAbove(a: Float64Array, v: number, strictly: boolean): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < v || (strictly && a[mid] === v)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
