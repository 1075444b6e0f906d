/**
 * The exact k-NN index: brute force over a WebAssembly SIMD kernel (`simd_kernel.ts`), pruned by
 * norms, re-ranked in float64, each query's result certified or redone over its norm band
 * (`exact_certificate.ts`), so it is that of an exact float64 search at any scale, ties broken by
 * the lower point index. Pruning (`norm_bound.ts`) skips only blocks whose points could never
 * have entered a full scan's candidates, so `pruning: false` gives the same result bit for bit.
 * A large search is shared by the calling thread and Web Workers taking blocks of queries from
 * one counter, each block searched by the same code (`exact_block.ts`): the one-thread result,
 * bit for bit. The calling thread then waits (`Atomics.wait`), so a search stays synchronous; a
 * worker that throws, stalls or died fails it with a `SearchWorkerError`. Design and
 * measurements: docs/internals/knn.md, docs/performance.md.
 *
 * @module
 */
import { Effect } from "effect";
import { InvalidParameter } from "../errors.ts";
import { type Matrix, rowNorms } from "../matrix.ts";
import { type IndexTooLarge, type NonFiniteVector, SearchWorkerError } from "./errors.ts";
import { type BlockNorms, pruningMargin } from "./norm_bound.ts";
import { bruteForceRow, checkFinitePoints, checkSearch, wholeAtLeast } from "./rerank.ts";
import { normOrder } from "./exact_certificate.ts";
import {
  blockSearcher,
  DONE,
  type ExactJob,
  type ExactLayout,
  FAILED,
  failure,
  jobStats,
  prepareJob,
  queryBlocks,
} from "./exact_block.ts";
import { kernelMemory, POINT_BLOCK } from "./simd_kernel.ts";
import { startWorkers, WORKER_SCRIPT, type WorkerRequest } from "./search_worker.ts";
import { owner } from "./kind.ts";
import type { NearestNeighbourIndex } from "./types.ts";

/** Defaults of {@link exactIndex}'s threads (measured: `bench/exact_threads.ts`). */
export const EXACT_DEFAULTS = {
  /** Threads a large search runs on: two, where the machine has two cores. */
  threads: Math.max(1, Math.min(2, globalThis.navigator?.hardwareConcurrency ?? 1)),
  /** Queries × points × columns a search must reach before it uses the workers (2²⁸). */
  parallelWork: 2 ** 28,
} as const;

/** Options of {@link exactIndex}. */
export interface ExactIndexOptions {
  /** Names the index in errors. */
  readonly name?: string;
  /** Skip point blocks ruled out by the norm bound (default true; same results either way). */
  readonly pruning?: boolean;
  /** Threads a large search runs on (default `EXACT_DEFAULTS.threads`; same results). */
  readonly threads?: number;
  /** Work a search must reach to use the workers (default `EXACT_DEFAULTS.parallelWork`). */
  readonly parallelWork?: number;
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
  /** Blocks of 128 queries the index's workers searched (0 on one thread). */
  readonly workerBlocks: number;
}

const lastStats = new WeakMap<NearestNeighbourIndex, SearchStats>();

/**
 * What the last search of an exact index computed (undefined before the first search or for
 * another kind): the share of point blocks that norm pruning left to compute.
 */
export const searchStats = (index: NearestNeighbourIndex): SearchStats | undefined =>
  lastStats.get(index);

/**
 * Where the kernel's coordinates start: the points' mean where centring shrinks their median
 * norm, else the origin (docs/internals/knn.md); and the points' norms from there.
 */
function kernelCentre(points: Matrix, rawNorms: Float64Array) {
  const { rows: n, cols: d, data } = points;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += data[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j]! /= Math.max(n, 1);
  const centred = rowNorms(data, n, d, mean);
  const median = (values: Float64Array) => Float64Array.from(values).sort()[n >> 1] ?? 0;
  if (median(centred) < median(rawNorms)) return { centre: mean, norms: centred };
  // From the origin the float32 points are their own centred values: their norms are the raw ones.
  return { centre: new Float64Array(d), norms: rawNorms };
}

/**
 * Exact k-NN index (brute force, WebAssembly SIMD, norm-pruned; see the module doc).
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
): Effect.Effect<ExactIndex, NonFiniteVector | IndexTooLarge | InvalidParameter> =>
  exactIndexWith(points, options, WORKER_SCRIPT);

/** {@link exactIndex} with its workers running `script` (tests run one that fails). */
export const exactIndexWith = (
  points: Matrix,
  options: ExactIndexOptions,
  script: URL,
): Effect.Effect<ExactIndex, NonFiniteVector | IndexTooLarge | InvalidParameter> =>
  Effect.gen(function* () {
    const indexName = options.name ?? `exact index (${points.rows}×${points.cols}, in memory)`;
    const pruning = options.pruning ?? true;
    const threads = options.threads ?? EXACT_DEFAULTS.threads;
    const parallelWork = options.parallelWork ?? EXACT_DEFAULTS.parallelWork;
    yield* wholeAtLeast(`${indexName}: threads`, threads, 1);
    if (!(parallelWork >= 0)) {
      const name = `${indexName}: parallelWork`;
      return yield* new InvalidParameter({ name, value: parallelWork, expected: "a number ≥ 0" });
    }
    yield* checkFinitePoints(indexName, points);
    const n = points.rows;
    const d = points.cols;
    const nPadded = Math.ceil(n / 8) * 8;
    const memory = yield* kernelMemory(nPadded, d, threads, indexName);
    const transposed = new Float32Array(memory.buffer, 0, nPadded * d);
    const pn = new Float32Array(memory.buffer, nPadded * d * 4, nPadded).fill(Infinity); // pads never win
    const rawNorms = rowNorms(points.data, n, d);
    // The centred float32 points' norms bound the kernel's rounding; the raw norms order the
    // points when pruning (ties by index).
    const { centre: mean, norms: centredNorms } = kernelCentre(points, rawNorms);
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
    const blocks = Math.ceil(nPadded / POINT_BLOCK);
    // Norm ranges of the real points of each block (the certificate reads them unpruned too).
    const blockNorms: Array<BlockNorms> = Array.from({ length: blocks }, (_, b) => {
      let centredHigh = 0;
      let rawLow = Infinity;
      let rawHigh = 0;
      for (let s = b * POINT_BLOCK; s < Math.min(n, (b + 1) * POINT_BLOCK); s++) {
        const i = order[s]!;
        centredHigh = Math.max(centredHigh, centredNorms[i]!);
        rawLow = Math.min(rawLow, rawNorms[i]!);
        rawHigh = Math.max(rawHigh, rawNorms[i]!);
      }
      return { rawLow, rawHigh, centredHigh };
    });
    const layout: ExactLayout = {
      memory,
      points,
      nPadded,
      order,
      byNorm,
      blockNorms,
      maxPointNorm: blockNorms.reduce((max, b) => Math.max(max, b.centredHigh), 0),
      margin: pruningMargin(d),
      pruning,
    };
    // What holds the WebAssembly memory, dropped by dispose(). The workers start on the first
    // search large enough for them, over a shared copy of the points.
    let local: ((job: ExactJob) => void) | undefined = blockSearcher(layout, 0);
    let pool: ReturnType<typeof exactPool> | undefined;
    const index: ExactIndex = {
      kind: "exact",
      size: n,
      dim: d,
      name: indexName,
      points,
      // Threads change no result, so they are no setting of the index.
      settings: {},
      dispose: () => {
        pool?.dispose();
        pool = undefined;
        local = undefined;
      },
      search: (queries, k) =>
        Effect.gen(function* () {
          yield* checkSearch(index, queries, k);
          if (local === undefined) return yield* Effect.die(new Error(`${indexName} was disposed`));
          const rows = queries.rows;
          if (d === 0) {
            const result = {
              distances: new Float64Array(rows * k),
              indices: new Int32Array(rows * k),
            };
            for (let q = 0; q < rows; q++) bruteForceRow(queries, q, points, k, result);
            return { rows, k, ...result };
          }
          const blocksOfQueries = queryBlocks(rows);
          const helpers = blocksOfQueries >= 2 && rows * n * d >= parallelWork
            ? Math.min(threads - 1, blocksOfQueries - 1)
            : 0;
          const { job, buffer } = prepareJob(queries, k, mean, pruning, helpers > 0);
          if (helpers > 0) {
            if (pool === undefined) {
              const shared = new Float32Array(new SharedArrayBuffer(n * d * 4));
              shared.set(points.data.subarray(0, n * d));
              const sharedLayout = { ...layout, points: { rows: n, cols: d, data: shared } };
              pool = exactPool(sharedLayout, threads - 1, indexName, script);
            }
            const failed = pool.start(job, buffer as SharedArrayBuffer, helpers);
            if (failed !== undefined) return yield* failed;
          }
          // The calling thread takes blocks too, then waits for those the workers took.
          local(job);
          const failed = helpers > 0 ? awaitBlocks(job, indexName) : undefined;
          if (failed !== undefined) return yield* failed;
          lastStats.set(index, { ...jobStats(job), blocksTotal: blocks * blocksOfQueries });
          // Copies: the result owns plain buffers of its own, whatever the threads shared.
          return { rows, k, distances: job.distances.slice(), indices: job.indices.slice() };
        }),
    };
    return exactIndexes.mark(index);
  });

/** A search waits this long for a worker's block before it gives up on the worker. */
const STALL_MS = 300_000;

/** The `workers` workers of an exact index over `layout` (shared), worker i on scratch i + 1. */
function exactPool(layout: ExactLayout, workers: number, name: string, script: URL) {
  // Why the pool can no longer search (a worker died); every later search fails with it.
  let broken: string | undefined;
  const init = (i: number): WorkerRequest => ({ type: "exact", layout, thread: i + 1 });
  const pool = startWorkers(script, workers, init, (reason) => broken ??= reason);
  return {
    /** Hand the job on `buffer` to `helpers` workers; a `SearchWorkerError` if one has died. */
    start: (job: ExactJob, buffer: SharedArrayBuffer, helpers: number) => {
      if (broken !== undefined) return new SearchWorkerError({ index: name, reason: broken });
      const request: WorkerRequest = { type: "search", buffer, rows: job.queries.rows, k: job.k };
      for (const worker of pool.workers.slice(0, helpers)) worker.postMessage(request);
      return undefined;
    },
    dispose: () => {
      broken ??= "the index was disposed";
      pool.stop();
    },
  };
}

/** Block until every query block of `job` is done; a `SearchWorkerError` if a worker failed. */
function awaitBlocks(job: ExactJob, name: string): SearchWorkerError | undefined {
  const { counters } = job;
  const total = queryBlocks(job.queries.rows);
  let seen = -1;
  let since = performance.now();
  for (;;) {
    if (Atomics.load(counters, FAILED) !== 0) {
      return new SearchWorkerError({ index: name, reason: failure(job) });
    }
    const done = Atomics.load(counters, DONE);
    if (done >= total) return undefined;
    const now = performance.now();
    if (done !== seen) {
      seen = done;
      since = now;
    } else if (now - since > STALL_MS) {
      const reason = `no query block finished in ${STALL_MS / 1000} s (${done} of ${total} done)`;
      return new SearchWorkerError({ index: name, reason });
    }
    Atomics.wait(counters, DONE, done, 1000);
  }
}
