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
 * **Threads** (`threads`, default {@link EXACT_DEFAULTS}): a search of two blocks of 128 queries
 * or more whose nominal work (queries × points × columns) reaches `parallelWork` is shared by
 * the calling thread and up to `threads − 1` Web Workers, each taking query blocks from a shared
 * counter and writing their rows of the result (`exact_threads.ts`); every block is searched by
 * the same code (`exact_block.ts`) whichever thread takes it, so the result is the one-thread
 * result bit for bit. Smaller searches (the `score` path's batches) stay on the calling thread:
 * handing blocks over costs more than it saves there (`bench/exact_threads.json`). The workers
 * start on the first search that uses them; `dispose()` terminates them.
 *
 * @module
 */
import { Effect } from "effect";
import { InvalidParameter } from "../errors.ts";
import type { Matrix } from "../matrix.ts";
import { IndexTooLarge, NonFiniteVector, type SearchWorkerError } from "./errors.ts";
import { type BlockNorms, pruningMargin } from "./norm_bound.ts";
import {
  bruteForceRow,
  checkPoints,
  checkSearch,
  firstNonFiniteRow,
  wholeAtLeast,
} from "./rerank.ts";
import { normOrder } from "./exact_certificate.ts";
import {
  blockSearcher,
  type ExactJob,
  type ExactLayout,
  jobStats,
  prepareJob,
  queryBlocks,
  rowNorms,
} from "./exact_block.ts";
import { kernelMemory, POINT_BLOCK } from "./simd_kernel.ts";
import { awaitBlocks, type ExactPool, exactPool } from "./exact_threads.ts";
import { WORKER_SCRIPT } from "./search_worker.ts";
import { owner } from "./kind.ts";
import type { NearestNeighbourIndex, Neighbours } from "./types.ts";

/** Defaults of {@link exactIndex}'s threads (see the module doc and `bench/exact_threads.ts`). */
export const EXACT_DEFAULTS = {
  /** Threads a large search runs on: two, where the machine has two cores. */
  threads: Math.max(1, Math.min(2, globalThis.navigator?.hardwareConcurrency ?? 1)),
  /**
   * Queries × points × columns a search must reach before it uses more than the calling thread
   * (2²⁸: about 20 ms of kernel work on one core, unpruned). A 256-query batch against 9,000
   * 64-d descriptors (1.5·10⁸) stays on one thread; 336 queries against 60,000 do not.
   */
  parallelWork: 2 ** 28,
} as const;

/** Options of {@link exactIndex}. */
export interface ExactIndexOptions {
  /** Names the index in errors. */
  readonly name?: string;
  /** Skip point blocks ruled out by the norm bound (default true; same results either way). */
  readonly pruning?: boolean;
  /**
   * Threads a large search runs on (default `EXACT_DEFAULTS.threads`): the calling thread and
   * `threads − 1` Web Workers. Results do not depend on it.
   */
  readonly threads?: number;
  /**
   * Queries × points × columns a search (of two query blocks or more) must reach before it
   * uses the workers (default `EXACT_DEFAULTS.parallelWork`). Results do not depend on it.
   */
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
  /**
   * Blocks of 128 queries the index's workers searched (the calling thread searched the rest;
   * 0 on one thread). Which thread searched a block changes nothing in the result.
   */
  readonly workerBlocks: number;
}

const lastStats = new WeakMap<NearestNeighbourIndex, SearchStats>();

/**
 * What the last search of an exact index computed (undefined before the first search or for
 * another kind): the share of point blocks that norm pruning left to compute.
 */
export const searchStats = (index: NearestNeighbourIndex): SearchStats | undefined =>
  lastStats.get(index);

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
): Effect.Effect<ExactIndex, NonFiniteVector | IndexTooLarge | InvalidParameter> =>
  exactIndexWith(points, options, WORKER_SCRIPT);

/**
 * {@link exactIndex} with its workers running `script` (tests run one that fails; not in the
 * barrel).
 */
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
      return yield* new InvalidParameter({
        name: `${indexName}: parallelWork`,
        value: parallelWork,
        expected: "a number ≥ 0",
      });
    }
    yield* checkPoints(indexName, points);
    const bad = firstNonFiniteRow(points);
    if (bad >= 0) {
      return yield* new NonFiniteVector({ index: indexName, what: "point", row: bad });
    }
    const n = points.rows;
    const d = points.cols;
    const nPadded = Math.ceil(n / 8) * 8;
    const memory = kernelMemory(nPadded, d, threads);
    if (typeof memory === "number") {
      return yield* new IndexTooLarge({ index: indexName, bytes: memory });
    }
    const transposed = new Float32Array(memory.buffer, 0, nPadded * d);
    const pn = new Float32Array(memory.buffer, nPadded * d * 4, nPadded).fill(Infinity); // pads never win

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
    // Everything holding the WebAssembly memory, so dispose() can drop it in one go. The
    // workers start on the first search large enough for them, over a shared copy of the points.
    let state: { readonly local: (job: ExactJob) => void; pool?: ExactPool } | undefined = {
      local: blockSearcher(layout, 0),
    };
    const poolOf = (live: NonNullable<typeof state>): ExactPool => {
      if (live.pool === undefined) {
        const shared = new Float32Array(new SharedArrayBuffer(n * d * 4));
        shared.set(points.data.subarray(0, n * d));
        const sharedPoints = { rows: n, cols: d, data: shared };
        live.pool = exactPool(
          { ...layout, points: sharedPoints },
          threads - 1,
          indexName,
          script,
        );
      }
      return live.pool;
    };

    const index: ExactIndex = {
      kind: "exact",
      size: n,
      dim: d,
      name: indexName,
      points,
      // Threads do not change a result, so they are no setting of the index (a fitted
      // folder's bytes do not depend on the machine's cores).
      settings: {},
      dispose: () => {
        state?.pool?.dispose();
        state = undefined;
      },
      search: (queries, k) =>
        Effect.flatMap(
          checkSearch(index, queries, k),
          () =>
            Effect.suspend((): Effect.Effect<Neighbours, SearchWorkerError> => {
              const live = state;
              if (live === undefined) {
                return Effect.die(new Error(`${indexName} was disposed`));
              }
              const rows = queries.rows;
              if (d === 0) {
                const result = {
                  distances: new Float64Array(rows * k),
                  indices: new Int32Array(rows * k),
                };
                for (let q = 0; q < rows; q++) {
                  bruteForceRow(queries, q, points, k, result);
                }
                return Effect.succeed({ rows, k, ...result });
              }
              const blocksOfQueries = queryBlocks(rows);
              const helpers = blocksOfQueries >= 2 && rows * n * d >= parallelWork
                ? Math.min(threads - 1, blocksOfQueries - 1)
                : 0;
              const { job, buffer } = prepareJob(queries, k, mean, pruning, helpers > 0);
              if (helpers > 0) {
                const failed = poolOf(live).start(job, buffer as SharedArrayBuffer, helpers);
                if (failed !== undefined) {
                  return Effect.fail(failed);
                }
              }
              // The calling thread takes blocks too, then waits for those the workers took.
              live.local(job);
              const failed = helpers > 0 ? awaitBlocks(job, indexName) : undefined;
              if (failed !== undefined) {
                return Effect.fail(failed);
              }
              lastStats.set(index, { ...jobStats(job), blocksTotal: blocks * blocksOfQueries });
              // Copies: the result owns plain buffers of its own, whatever the threads shared.
              return Effect.succeed({
                rows,
                k,
                distances: job.distances.slice(),
                indices: job.indices.slice(),
              });
            }),
        ),
    };
    return exactIndexes.mark(index);
  });
