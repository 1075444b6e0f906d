/**
 * The exact k-NN index: brute force over a WebAssembly SIMD kernel, pruned by norms.
 *
 * Distances are ranked with ‖q − p‖² = ‖q‖² + ‖p‖² − 2 q·p, where the q·p products come from a
 * small hand-assembled WebAssembly SIMD kernel (`simd_kernel.ts`: f32x4, 4 queries × 8 points
 * per step over cache-sized blocks, ~12 GMAC/s on one core, ~5× the best plain-TS loop
 * measured). Points are centred on their mean first (distances are translation invariant, and
 * smaller norms mean less float32 cancellation). The kernel keeps the best k + 3 candidates
 * per query, which are then re-ranked with distances recomputed directly as Σ(qᵢ − pᵢ)² in
 * float64 from the original values. Then each query's result is either certified or redone:
 * `exact_certificate.ts` proves from the kernel's error bound that no other point can be as near
 * as the k-th re-ranked neighbour, or else ranks in float64 every point whose norm lies within
 * that neighbour's distance of the query's norm. So the result is that of an exact float64
 * search at any scale (descriptors 10⁻¹³ apart included), ties broken by the lower point index.
 *
 * **Norm pruning** (on by default): points are stored sorted by norm, queries are searched in
 * blocks of similar norm, and each block of queries visits the point blocks nearest its norms
 * first. A point block is skipped for the whole query block when, for every query, the lower
 * bound of `norm_bound.ts` on the kernel's own float32 value (|‖q‖ − ‖p‖|² − ‖q‖², less a
 * proven float32 margin) exceeds the query's current (k + 3)-th candidate. A skipped point could
 * therefore never have entered the candidate list of a full scan, and the result is that of
 * `pruning: false` (every block, in index order) bit for bit (tests/knn_pruning_test.ts). GROOD
 * descriptors, whose norms span orders of magnitude, gain most (see docs/performance.md).
 *
 * @module
 */
import { Effect } from "effect";
import type { Matrix } from "../matrix.ts";
import { IndexTooLarge, NonFiniteVector } from "./errors.ts";
import { type BlockNorms, lowerBound, pruningIsSafe, pruningMargin } from "./norm_bound.ts";
import { bruteForceRow, checkSearch, firstNonFiniteRow, writeReranked } from "./rerank.ts";
import { bandSearch, certified, kthSquaredDistance, normOrder } from "./exact_certificate.ts";
import { owner } from "./owner.ts";
import { instantiateKernel, type KernelBlock } from "./simd_kernel.ts";
import type { NearestNeighbourIndex } from "./types.ts";

/** Queries per kernel call, and points per kernel call (the output block is QB × PB floats). */
const QUERY_BLOCK = 128;
const POINT_BLOCK = 512; // 512 × 64 columns × 4 B = 128 KiB of points: stays in L2
/** Extra candidates kept per query before the float64 re-ranking (see module doc). */
const EXTRA_CANDIDATES = 3;
const PAGE = 65536;
const MAX_PAGES = 65536;

/** Options of {@link exactIndex}. */
export interface ExactIndexOptions {
  /** Names the index in errors. */
  readonly name?: string;
  /** Skip point blocks ruled out by the norm bound (default true; same results either way). */
  readonly pruning?: boolean;
}

/** An exact index: it keeps its points (for saving, and for the float64 re-ranking). */
export interface ExactIndex extends NearestNeighbourIndex {
  /** The registered kind that made it. */
  readonly kind: "exact";
  /** The indexed points, one per row (N × D). */
  readonly points: Matrix;
}

/** The indexes {@link exactIndex} made (what the exact kind may save). */
export const exactIndexes = owner<ExactIndex>();

/** How much of the index the last search of an exact index computed (see {@link searchStats}). */
export interface SearchStats {
  /** Point blocks (of 512 points) the kernel computed, summed over the blocks of 128 queries. */
  readonly blocksVisited: number;
  /** Point blocks a full scan computes: blocks × query blocks. */
  readonly blocksTotal: number;
  /** Queries whose candidates could not be certified, searched in their norm band instead. */
  readonly bandSearches: number;
  /** Points those band searches ranked in float64, in all. */
  readonly bandPoints: number;
}

const lastStats = new WeakMap<NearestNeighbourIndex, SearchStats>();

/**
 * What the last search of an exact index computed (undefined before the first search or for
 * another kind): the share of point blocks that norm pruning left to compute.
 */
export const searchStats = (index: NearestNeighbourIndex): SearchStats | undefined =>
  lastStats.get(index);

/** Square roots of the float64 squared norms of the rows of a row-major float32 buffer. */
function rowNorms(data: Float32Array, rows: number, d: number): Float64Array {
  const norms = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let sum = 0;
    for (let j = 0; j < d; j++) sum += data[i * d + j]! * data[i * d + j]!;
    norms[i] = Math.sqrt(sum);
  }
  return norms;
}

/** Norms of the rows of `points` after subtracting `centre` and rounding to float32. */
function centredRowNorms(points: Matrix, centre: Float64Array): Float64Array {
  const { rows: n, cols: d, data } = points;
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < d; j++) {
      const v = Math.fround(data[i * d + j]! - centre[j]!);
      sum += v * v;
    }
    norms[i] = Math.sqrt(sum);
  }
  return norms;
}

/** The median of a copy of `values`. */
const median = (values: Float64Array): number => {
  const sorted = Float64Array.from(values).sort();
  return sorted.length === 0 ? 0 : sorted[sorted.length >> 1]!;
};

/**
 * Where the kernel's coordinates start: the points' mean where centring shrinks their typical
 * (median) norm, so float32 cancellation is smaller (features with a common offset), else the
 * origin (GROOD's descriptors: mostly tiny beside a few large ones, whose mean would make every
 * tiny one as large as the mean and its float32 error as large as that).
 */
function kernelCentre(
  points: Matrix,
  rawNorms: Float64Array,
): { readonly centre: Float64Array; readonly norms: Float64Array } {
  const { rows: n, cols: d, data } = points;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += data[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= Math.max(n, 1);
  const centred = centredRowNorms(points, mean);
  if (median(centred) < median(rawNorms)) return { centre: mean, norms: centred };
  // From the origin the float32 points are their own centred values: their norms are the raw ones.
  return { centre: new Float64Array(d), norms: rawNorms };
}

/**
 * Exact k-NN index (brute force, WebAssembly SIMD, norm-pruned; see the module doc for
 * accuracy and for why pruning does not change results).
 *
 * @example
 * ```ts
 * import { exactIndex } from "./exact.ts";
 * import { matrix } from "../matrix.ts";
 * import { Effect } from "effect";
 * const index = Effect.runSync(exactIndex(matrix(3, 2, [0, 0, 3, 4, 10, 10])));
 * const { distances, indices } = Effect.runSync(index.search(matrix(1, 2, [3, 3]), 1));
 * if (indices[0] !== 1 || distances[0] !== 1) throw new Error("wrong neighbour");
 * ```
 */
export const exactIndex = (
  points: Matrix,
  options: ExactIndexOptions = {},
): Effect.Effect<ExactIndex, NonFiniteVector | IndexTooLarge> =>
  Effect.suspend((): Effect.Effect<ExactIndex, NonFiniteVector | IndexTooLarge> => {
    const indexName = options.name ?? `exact index (${points.rows}×${points.cols}, in memory)`;
    const pruning = options.pruning ?? true;
    const bad = firstNonFiniteRow(points);
    if (bad >= 0) {
      return Effect.fail(new NonFiniteVector({ index: indexName, what: "point", row: bad }));
    }
    const n = points.rows;
    const d = points.cols;
    const nPadded = Math.ceil(n / 8) * 8;
    const ptBytes = nPadded * d * 4;
    const pnBytes = nPadded * 4;
    const qBytes = QUERY_BLOCK * d * 4;
    const outBytes = QUERY_BLOCK * POINT_BLOCK * 4;
    const totalBytes = ptBytes + pnBytes + qBytes + outBytes;
    const pages = Math.max(1, Math.ceil(totalBytes / PAGE));
    if (pages > MAX_PAGES) {
      return Effect.fail(new IndexTooLarge({ index: indexName, bytes: totalBytes }));
    }
    const memory = new WebAssembly.Memory({ initial: pages });
    const transposed = new Float32Array(memory.buffer, 0, nPadded * d);
    const pn = new Float32Array(memory.buffer, ptBytes, nPadded).fill(Infinity); // pads never win
    // Everything holding the WebAssembly memory, so dispose() can drop it in one go.
    let kernelState: { block: KernelBlock; queries: Float32Array; out: Float32Array } | undefined =
      {
        block: instantiateKernel(memory),
        queries: new Float32Array(memory.buffer, ptBytes + pnBytes, QUERY_BLOCK * d),
        out: new Float32Array(memory.buffer, ptBytes + pnBytes + qBytes, QUERY_BLOCK * POINT_BLOCK),
      };

    const rawNorms = rowNorms(points.data, n, d);
    const centre = kernelCentre(points, rawNorms);
    const mean = centre.centre;
    // Norms of the centred float32 points, as the kernel sees them (they bound its rounding);
    // the raw norms, from the origin, order the points when pruning (ties by index).
    const centredNorms = centre.norms;
    const byNorm = normOrder(rawNorms);
    const order = pruning ? byNorm.indices : Int32Array.from({ length: n }, (_, i) => i);
    for (let s = 0; s < n; s++) {
      const i = order[s]!;
      const base = (s >> 2) * d * 4 + (s & 3);
      let norm = 0;
      for (let j = 0; j < d; j++) {
        const v = Math.fround(points.data[i * d + j]! - mean[j]!);
        transposed[base + j * 4] = v;
        norm += v * v;
      }
      pn[s] = norm;
    }
    const margin = pruningMargin(d);
    const blocks = Math.ceil(nPadded / POINT_BLOCK);
    // Norm ranges of the real points of each block.
    const blockNorms: Array<BlockNorms> = Array.from({ length: blocks }, (_, b) => {
      const first = b * POINT_BLOCK;
      const end = Math.min(n, first + POINT_BLOCK);
      // The range of raw norms of the block's points (sorted when pruning; any order else,
      // where the exactness certificate still reads the range).
      let centredHigh = 0;
      let rawLow = Infinity;
      let rawHigh = 0;
      for (let s = first; s < end; s++) {
        const i = order[s]!;
        centredHigh = Math.max(centredHigh, centredNorms[i]!);
        rawLow = Math.min(rawLow, rawNorms[i]!);
        rawHigh = Math.max(rawHigh, rawNorms[i]!);
      }
      return { rawLow, rawHigh, centredHigh };
    });
    const maxPointNorm = blockNorms.reduce((max, b) => Math.max(max, b.centredHigh), 0);

    const index: ExactIndex = {
      kind: "exact",
      size: n,
      dim: d,
      name: indexName,
      points,
      settings: {},
      dispose: () => {
        kernelState = undefined;
      },
      search: (queries, k) =>
        Effect.flatMap(checkSearch(index, queries, k), () => {
          if (kernelState === undefined) {
            return Effect.die(new Error(`${indexName} was disposed`));
          }
          const { block, queries: queryBuffer, out } = kernelState;
          const rows = queries.rows;
          const result = {
            distances: new Float64Array(rows * k),
            indices: new Int32Array(rows * k),
          };
          if (d === 0) {
            for (let q = 0; q < rows; q++) bruteForceRow(queries, q, points, k, result);
            return Effect.succeed({ rows, k, ...result });
          }
          // Centred float32 queries (as the kernel sees them), their norms, and the search
          // order of the queries (by norm when pruning, so a block holds similar norms).
          const centredQueries = new Float32Array(rows * d);
          for (let q = 0; q < rows; q++) {
            for (let j = 0; j < d; j++) {
              centredQueries[q * d + j] = queries.data[q * d + j]! - mean[j]!;
            }
          }
          const queryCentred = rowNorms(centredQueries, rows, d);
          const queryRaw = rowNorms(queries.data, rows, d);
          const queryOrder = Int32Array.from({ length: rows }, (_, i) => i);
          if (pruning) queryOrder.sort((a, b) => queryRaw[a]! - queryRaw[b]! || a - b);

          const m = Math.min(n, k + EXTRA_CANDIDATES);
          const candidates = new Int32Array(m);
          const bestD = new Float64Array(QUERY_BLOCK * m);
          const bestI = new Int32Array(QUERY_BLOCK * m);
          const bound = new Float64Array(QUERY_BLOCK);
          const blockOrder = Int32Array.from({ length: blocks }, (_, b) => b);
          const blockGap = new Float64Array(blocks);
          let blocksVisited = 0;
          let bandSearches = 0;
          let bandPoints = 0;
          for (let q0 = 0; q0 < rows; q0 += QUERY_BLOCK) {
            const nq = Math.min(QUERY_BLOCK, rows - q0);
            const nq4 = Math.ceil(nq / 4) * 4;
            let maxQueryNorm = 0;
            for (let r = 0; r < nq; r++) {
              const q = queryOrder[q0 + r]!;
              queryBuffer.set(centredQueries.subarray(q * d, (q + 1) * d), r * d);
              maxQueryNorm = Math.max(maxQueryNorm, queryCentred[q]!);
            }
            queryBuffer.fill(0, nq * d, nq4 * d);
            bestD.fill(Infinity);
            bestI.fill(-1);
            const prune = pruning && pruningIsSafe(maxQueryNorm, maxPointNorm, margin);
            if (prune) {
              // Visit the point blocks whose norms are nearest the block's median query norm
              // first, so the candidate lists tighten early.
              const median = queryRaw[queryOrder[q0 + (nq >> 1)]!]!;
              for (let b = 0; b < blocks; b++) {
                const { rawLow, rawHigh } = blockNorms[b]!;
                blockGap[b] = Math.max(0, rawLow - median, median - rawHigh);
              }
              blockOrder.sort((a, b) => blockGap[a]! - blockGap[b]! || a - b);
            }
            for (let visit = 0; visit < blocks; visit++) {
              const b = blockOrder[visit]!;
              const p0 = b * POINT_BLOCK;
              let needed = nq;
              if (prune) {
                // The block can only matter to queries whose bound is at most their m-th
                // candidate; skip it if there are none.
                needed = 0;
                for (let r = 0; r < nq; r++) {
                  const q = queryOrder[q0 + r]!;
                  const L = lowerBound(
                    { raw: queryRaw[q]!, centred: queryCentred[q]! },
                    blockNorms[b]!,
                    margin,
                  );
                  bound[r] = L;
                  if (!(L > bestD[r * m + m - 1]!)) needed++;
                }
                if (needed === 0) continue;
              }
              blocksVisited++;
              const length = Math.min(POINT_BLOCK, nPadded - p0);
              block(
                ptBytes + pnBytes,
                nq4,
                p0 * d * 4,
                ptBytes + p0 * 4,
                length / 8,
                d,
                ptBytes + pnBytes + qBytes,
                POINT_BLOCK * 4,
              );
              const real = Math.min(length, n - p0);
              for (let r = 0; r < nq; r++) {
                const base = r * m;
                const last = base + m - 1;
                // No value of this block can beat this query's candidates (bound proven).
                if (prune && bound[r]! > bestD[last]!) continue;
                const row = r * POINT_BLOCK;
                let worst = bestD[last]!;
                let worstIndex = bestI[last]!;
                for (let p = 0; p < real; p++) {
                  const v = out[row + p]!;
                  if (v > worst || !(v <= worst)) continue; // also skips NaN
                  const i = order[p0 + p]!;
                  // Candidates are the m smallest by (value, point index), whatever the
                  // visiting order: an equal value enters only with a lower index.
                  if (v === worst && (worstIndex < 0 || i > worstIndex)) continue;
                  let s = last;
                  while (
                    s > base && (bestD[s - 1]! > v || (bestD[s - 1]! === v && bestI[s - 1]! > i))
                  ) {
                    bestD[s] = bestD[s - 1]!;
                    bestI[s] = bestI[s - 1]!;
                    s--;
                  }
                  bestD[s] = v;
                  bestI[s] = i;
                  worst = bestD[last]!;
                  worstIndex = bestI[last]!;
                }
              }
            }
            for (let r = 0; r < nq; r++) {
              const q = queryOrder[q0 + r]!;
              candidates.set(bestI.subarray(r * m, (r + 1) * m));
              // Fewer than k candidates only if float32 overflowed to NaN: redo in float64.
              if (!writeReranked(queries, q, points, candidates, k, result)) {
                bruteForceRow(queries, q, points, k, result);
                continue;
              }
              // Exact at any scale: certify the candidates, else search the norm band.
              const u = kthSquaredDistance(queries, q, points, k, result.indices);
              const bound = {
                mthValue: m < n ? bestD[r * m + m - 1]! : Infinity,
                query: { raw: queryRaw[q]!, centred: queryCentred[q]! },
                kernelSafe: pruningIsSafe(queryCentred[q]!, maxPointNorm, margin),
              };
              if (!certified(bound, blockNorms, u, margin)) {
                bandSearches++;
                bandPoints += bandSearch(
                  queries,
                  q,
                  points,
                  k,
                  result,
                  byNorm,
                  queryRaw[q]!,
                  u,
                  margin,
                );
              }
            }
          }
          lastStats.set(index, {
            blocksVisited,
            blocksTotal: blocks * Math.ceil(rows / QUERY_BLOCK),
            bandSearches,
            bandPoints,
          });
          return Effect.succeed({ rows, k, ...result });
        }),
    };
    return Effect.succeed(exactIndexes.mark(index));
  });
