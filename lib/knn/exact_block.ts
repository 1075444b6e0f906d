/**
 * The exact index's search of its query blocks: the part every thread of a search runs, the
 * calling thread and each Web Worker (`search_worker.ts`) alike. Each thread takes blocks of 128
 * queries from the job's counter (`Atomics.add`); for each it runs the SIMD kernel over the point
 * blocks (norm-pruned), keeps each query's m = k + 3 best candidates by (kernel value, point
 * index), re-ranks them in float64, certifies them or searches the norm band, and writes the
 * block's rows. A block's rows depend on nothing but the block, so a search split across threads
 * returns the one-thread result bit for bit. It imports neither the index nor its threads, so a
 * worker loads the search code only.
 *
 * @module
 */
import { squaredDistance } from "../distance.ts";
import { type Matrix, rowNorms } from "../matrix.ts";
import type { SearchStats } from "./exact.ts";
import { type BlockNorms, lowerBound, pruningIsSafe, type PruningMargin } from "./norm_bound.ts";
import { bruteForceRow, EXTRA_CANDIDATES, offer, writeReranked } from "./rerank.ts";
import { bandSearch, certified, type NormOrder } from "./exact_certificate.ts";
import { instantiateKernel, POINT_BLOCK, QUERY_BLOCK, scratchOffset } from "./simd_kernel.ts";

/**
 * What every thread of a search reads, fixed when the index is built. The memory holds the
 * transposed centred float32 points (sorted by norm when pruning), their squared norms, then
 * one scratch per thread.
 */
export interface ExactLayout {
  readonly memory: WebAssembly.Memory;
  /** The original points (float64 re-ranking and band searches). */
  readonly points: Matrix;
  /** Points, rounded up to a multiple of 8 (the kernel's unit). */
  readonly nPadded: number;
  /** The point at each slot of the kernel's layout. */
  readonly order: Int32Array;
  readonly byNorm: NormOrder;
  readonly blockNorms: ReadonlyArray<BlockNorms>;
  /** The largest centred norm of any point. */
  readonly maxPointNorm: number;
  readonly margin: PruningMargin;
  readonly pruning: boolean;
}

/** One search: its queries prepared, its output, and the counters its threads share. */
export interface ExactJob {
  readonly queries: Matrix;
  readonly k: number;
  /** The queries minus the kernel's centre, in float32. */
  readonly centred: Float32Array;
  /** Query norms from the origin, and of the centred float32 queries. */
  readonly raw: Float64Array;
  readonly centredNorms: Float64Array;
  /** The order queries are searched in (by norm when pruning, so a block holds similar norms). */
  readonly order: Int32Array;
  /** The result (rows × k). */
  readonly distances: Float64Array;
  readonly indices: Int32Array;
  /** 4 per query block: point blocks visited, band searches, their points, its thread. */
  readonly blockStats: Float64Array;
  /** `[next, done, failed]`: the next query block to take, the blocks done, 1 on a failure. */
  readonly counters: Int32Array;
  /** A failed worker's reason, as UTF-16 code units (0 ends it). */
  readonly reason: Uint16Array;
}

/** Indices into {@link ExactJob.counters}. */
export const NEXT = 0;
export const DONE = 1;
export const FAILED = 2;
const REASON_LENGTH = 256;

/** Blocks of 128 queries of a search of `rows` queries. */
export const queryBlocks = (rows: number): number => Math.ceil(rows / QUERY_BLOCK);

const STATS = 4;

/** The sums of a finished job's block stats: a search's stats but the total of blocks. */
export function jobStats(job: ExactJob): Omit<SearchStats, "blocksTotal"> {
  const stats = { blocksVisited: 0, bandSearches: 0, bandPoints: 0, workerBlocks: 0 };
  for (let i = 0; i < job.blockStats.length; i += STATS) {
    stats.blocksVisited += job.blockStats[i]!;
    stats.bandSearches += job.blockStats[i + 1]!;
    stats.bandPoints += job.blockStats[i + 2]!;
    if (job.blockStats[i + 3] !== 0) stats.workerBlocks++;
  }
  return stats;
}

/** Record in `job` that a worker failed, why, and wake the calling thread. */
export function failJob(job: ExactJob, reason: string): void {
  const length = Math.min(reason.length, REASON_LENGTH - 1);
  for (let i = 0; i < length; i++) job.reason[i] = reason.charCodeAt(i);
  job.reason[length] = 0;
  Atomics.store(job.counters, FAILED, 1);
  Atomics.notify(job.counters, DONE);
}

/** A failed worker's reason, as {@link failJob} recorded it. */
export const failure = (job: ExactJob): string =>
  String.fromCharCode(...job.reason).split("\0")[0]!;

/** Bytes of a job's buffer for `rows` queries of `d` columns and `k` neighbours. */
const jobBytes = (rows: number, d: number, k: number): number =>
  8 * (2 * rows + rows * k + STATS * queryBlocks(rows)) +
  4 * (2 * rows * d + rows + rows * k + 3) + 2 * REASON_LENGTH;

/** A job's arrays over `buffer` (laid out by {@link jobBytes}): 8-byte, 4-byte, then 2-byte ones. */
export function jobViews(buffer: ArrayBufferLike, rows: number, d: number, k: number): ExactJob {
  let at = 0;
  const take = <T extends { readonly byteLength: number }>(
    make: new (b: ArrayBufferLike, at: number, n: number) => T,
    n: number,
  ): T => {
    const view = new make(buffer, at, n);
    at += view.byteLength;
    return view;
  };
  // Taken in order (properties are evaluated in order): 8-byte arrays first, so all are aligned.
  return {
    raw: take(Float64Array, rows),
    centredNorms: take(Float64Array, rows),
    distances: take(Float64Array, rows * k),
    blockStats: take(Float64Array, STATS * queryBlocks(rows)),
    queries: { rows, cols: d, data: take(Float32Array, rows * d) },
    centred: take(Float32Array, rows * d),
    order: take(Int32Array, rows),
    indices: take(Int32Array, rows * k),
    counters: take(Int32Array, 3),
    reason: take(Uint16Array, REASON_LENGTH),
    k,
  };
}

/**
 * A search of `queries` prepared for the threads: copied, centred on `mean` in float32, their
 * norms, their search order; in a `SharedArrayBuffer` when workers will share it.
 */
export function prepareJob(
  queries: Matrix,
  k: number,
  mean: Float64Array,
  pruning: boolean,
  shared: boolean,
): { readonly job: ExactJob; readonly buffer: ArrayBufferLike } {
  const { rows, cols: d } = queries;
  const bytes = jobBytes(rows, d, k);
  const buffer = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  const job = jobViews(buffer, rows, d, k);
  job.queries.data.set(queries.data.subarray(0, rows * d));
  const { centred } = job;
  for (let q = 0; q < rows; q++) {
    for (let j = 0; j < d; j++) centred[q * d + j] = queries.data[q * d + j]! - mean[j]!;
  }
  job.centredNorms.set(rowNorms(centred, rows, d));
  job.raw.set(rowNorms(queries.data, rows, d));
  const { order, raw } = job;
  for (let q = 0; q < rows; q++) order[q] = q;
  if (pruning) order.sort((a, b) => raw[a]! - raw[b]! || a - b);
  return { job, buffer };
}

/** The searcher of thread `thread` (its scratch) over `layout`: it runs a job's query blocks. */
export function blockSearcher(layout: ExactLayout, thread: number): (job: ExactJob) => void {
  const { memory, points, nPadded, order, byNorm, blockNorms, maxPointNorm, margin, pruning } =
    layout;
  const n = points.rows;
  const d = points.cols;
  const block = instantiateKernel(memory);
  const ptBytes = nPadded * d * 4;
  const qOffset = scratchOffset(nPadded, d, thread);
  const outOffset = qOffset + QUERY_BLOCK * d * 4;
  const queryBuffer = new Float32Array(memory.buffer, qOffset, QUERY_BLOCK * d);
  const out = new Float32Array(memory.buffer, outOffset, QUERY_BLOCK * POINT_BLOCK);
  const blocks = blockNorms.length;

  return (job) => {
    const { queries, k, centred, raw, centredNorms, order: queryOrder } = job;
    const rows = queries.rows;
    const result = { distances: job.distances, indices: job.indices };
    const m = Math.min(n, k + EXTRA_CANDIDATES);
    const candidates = new Int32Array(m);
    const bestD = new Float64Array(QUERY_BLOCK * m);
    const bestI = new Int32Array(QUERY_BLOCK * m);
    const bound = new Float64Array(QUERY_BLOCK);
    const blockOrder = Int32Array.from({ length: blocks }, (_, b) => b);
    const blockGap = new Float64Array(blocks);
    for (;;) {
      const taken = Atomics.add(job.counters, NEXT, 1);
      const q0 = taken * QUERY_BLOCK;
      if (q0 >= rows) break;
      let blocksVisited = 0;
      let bandSearches = 0;
      let bandPoints = 0;
      const nq = Math.min(QUERY_BLOCK, rows - q0);
      const nq4 = Math.ceil(nq / 4) * 4;
      let maxQueryNorm = 0;
      for (let r = 0; r < nq; r++) {
        const q = queryOrder[q0 + r]!;
        queryBuffer.set(centred.subarray(q * d, (q + 1) * d), r * d);
        maxQueryNorm = Math.max(maxQueryNorm, centredNorms[q]!);
      }
      queryBuffer.fill(0, nq * d, nq4 * d);
      bestD.fill(Infinity);
      bestI.fill(-1);
      const prune = pruning && pruningIsSafe(maxQueryNorm, maxPointNorm, margin);
      if (prune) {
        // Visit the point blocks whose norms are nearest the block's median query norm
        // first, so the candidate lists tighten early.
        const median = raw[queryOrder[q0 + (nq >> 1)]!]!;
        for (let b = 0; b < blocks; b++) {
          const { rawLow, rawHigh } = blockNorms[b]!;
          blockGap[b] = Math.max(0, rawLow - median, median - rawHigh);
        }
        blockOrder.sort((a, b) => blockGap[a]! - blockGap[b]! || a - b);
      } else {
        for (let b = 0; b < blocks; b++) blockOrder[b] = b;
      }
      for (let visit = 0; visit < blocks; visit++) {
        const b = blockOrder[visit]!;
        const p0 = b * POINT_BLOCK;
        if (prune) {
          // The block can only matter to queries whose bound is at most their m-th
          // candidate; skip it if there are none.
          let needed = 0;
          for (let r = 0; r < nq; r++) {
            const q = queryOrder[q0 + r]!;
            const query = { raw: raw[q]!, centred: centredNorms[q]! };
            bound[r] = lowerBound(query, blockNorms[b]!, margin);
            if (!(bound[r]! > bestD[r * m + m - 1]!)) needed++;
          }
          if (needed === 0) continue;
        }
        blocksVisited++;
        const length = Math.min(POINT_BLOCK, nPadded - p0);
        block(
          qOffset,
          nq4,
          p0 * d * 4,
          ptBytes + p0 * 4,
          length / 8,
          d,
          outOffset,
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
          for (let p = 0; p < real; p++) {
            const v = out[row + p]!;
            if (v > worst || !(v <= worst)) continue; // also skips NaN
            offer(bestD, bestI, base, m, v, order[p0 + p]!);
            worst = bestD[last]!;
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
        const kth = result.indices[q * k + k - 1]!;
        const u = squaredDistance(queries.data, q * d, points.data, kth * d, d);
        const query = { raw: raw[q]!, centred: centredNorms[q]! };
        const mthValue = m < n ? bestD[r * m + m - 1]! : Infinity;
        const kernelSafe = pruningIsSafe(query.centred, maxPointNorm, margin);
        if (!certified({ mthValue, query, kernelSafe }, blockNorms, u, margin)) {
          bandSearches++;
          bandPoints += bandSearch(queries, q, points, k, result, byNorm, query.raw, u, margin);
        }
      }
      job.blockStats.set([blocksVisited, bandSearches, bandPoints, thread], STATS * taken);
      // The block's rows and stats are written before it counts as done (Atomics order them).
      Atomics.add(job.counters, DONE, 1);
      Atomics.notify(job.counters, DONE);
    }
  };
}
