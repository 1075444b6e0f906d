/**
 * Approximate k-NN index: an HNSW graph from hnswlib-node (L2 space). The addon is loaded only
 * when used (needs `--allow-ffi --allow-sys --allow-env --allow-read`). Returned distances are
 * recomputed in float64 like the exact index's, so both kinds agree whenever they find the
 * same neighbours.
 *
 * @module
 */
import { Effect } from "effect";
import type { HierarchicalNSW } from "hnswlib-node";
import { InvalidParameter } from "../errors.ts";
import type { Matrix } from "../matrix.ts";
import { HnswUnavailable, NonFiniteVector } from "./errors.ts";
import { bruteForceRow, checkSearch, firstNonFiniteRow, writeReranked } from "./rerank.ts";
import type { HnswParams, NearestNeighbourIndex } from "./types.ts";

/** The hnswlib-node module. */
export type HnswModule = typeof import("hnswlib-node");

/** Load the hnswlib-node addon (a typed error if it cannot be loaded). */
export const loadHnsw: Effect.Effect<HnswModule, HnswUnavailable> = Effect.tryPromise({
  // CommonJS addon: its exports arrive as the default export.
  try: async () => {
    const module = await import("hnswlib-node");
    return ((module as { default?: HnswModule }).default ?? module) as HnswModule;
  },
  catch: (cause) => new HnswUnavailable({ cause }),
});

/** Default HNSW parameters; see {@link hnswIndex} for why. */
export const HNSW_DEFAULTS = { M: 16, efConstruction: 200, efSearch: 200 } as const;

/**
 * How to write the live graph of each HNSW index, for saving (kept out of the public
 * interface): the graph may live on this thread (`wrapHnsw`) or in a worker (`workerIndex`).
 */
const graphWriters = new WeakMap<NearestNeighbourIndex, (path: string) => Promise<void>>();

/** Register how `index` writes its graph (used by `wrapHnsw` and `workerIndex`). */
export function registerGraphWriter(
  index: NearestNeighbourIndex,
  write: ((path: string) => Promise<void>) | undefined,
): void {
  if (write === undefined) graphWriters.delete(index);
  else graphWriters.set(index, write);
}

/** Write the live graph of an HNSW index to `path` (hnswlib's format); rejects if disposed. */
export function writeHnswGraph(index: NearestNeighbourIndex, path: string): Promise<void> {
  const write = graphWriters.get(index);
  if (write === undefined) {
    return Promise.reject(new Error(`${index.name} has no HNSW graph (disposed?)`));
  }
  return write(path);
}

/** An index over `points` searched through a built or loaded hnswlib `graph`. */
export function wrapHnsw(
  graph: HierarchicalNSW,
  points: Matrix,
  params: HnswParams,
  indexName: string,
): NearestNeighbourIndex {
  let live: HierarchicalNSW | undefined = graph;
  const index: NearestNeighbourIndex = {
    kind: "hnsw",
    size: points.rows,
    dim: points.cols,
    name: indexName,
    points,
    params,
    dispose: () => {
      // hnswlib-node frees a graph only when V8 collects its object, and when that happens
      // depends on the collector (measured: 20 disposed 5,000-point graphs still held 93 MiB
      // resident). Re-initialising it to one element deletes the graph's native memory now,
      // all but the 2.5 MiB of label locks every hnswlib graph object holds until collected.
      live?.initIndex(1, 2, 1, 0);
      live = undefined;
      registerGraphWriter(index, undefined);
    },
    search: (queries, k) =>
      Effect.flatMap(checkSearch(index, queries, k), () => {
        if (live === undefined) return Effect.die(new Error(`${indexName} was disposed`));
        const rows = queries.rows;
        const result = { distances: new Float32Array(rows * k), indices: new Int32Array(rows * k) };
        const d = points.cols;
        for (let q = 0; q < rows; q++) {
          const query = Array.from(queries.data.subarray(q * d, (q + 1) * d));
          const found = live.searchKnn(query, k).neighbors;
          // hnswlib returns float32 squared distances; recompute them like the exact index
          // does. If the graph returned fewer than k (ef too small), fall back to brute force.
          if (!writeReranked(queries, q, points, found, k, result)) {
            bruteForceRow(queries, q, points, k, result);
          }
        }
        return Effect.succeed({ rows, k, ...result });
      }),
  };
  registerGraphWriter(index, graphWriter(graph));
  return index;
}

/**
 * A writer of `graph`, made outside `wrapHnsw` so its closure holds the graph alone: made
 * inside, it kept about 1.5 MiB an index alive after `dispose` (measured by an earlier form
 * of tests/hnsw_memory_test.ts, which then failed).
 */
const graphWriter = (graph: HierarchicalNSW) => (path: string): Promise<void> => {
  try {
    graph.writeIndexSync(path);
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(error);
  }
};

/**
 * Approximate k-NN index: an HNSW graph built with hnswlib-node (L2 space), one point at a
 * time, so the build is deterministic for a given `seed`.
 *
 * Defaults: **M = 16** links per node and **efConstruction = 200**, hnswlib's recommended
 * values (graph quality saturates around there; larger only slows the build), and
 * **efSearch = 200**, chosen by measurement on clustered data like GROOD's per-class gradients
 * (60,000 points + 10,000 queries, D = 64, 10 Gaussian clusters, noise σ = 1 around centres
 * of spread 4): recall@1 against the exact index was 0.960 at ef = 64, 0.9935 at ef = 128 (too
 * close to the 0.99 target), 0.998 at ef = 200 and 0.999 at ef = 256; query time grows about
 * linearly with ef. tests/knn_test.ts asserts recall@1 ≥ 0.99 on 5,000 × 32 clustered
 * points. Uniform random data is much harder for HNSW (recall@1 ≈ 0.97 at ef = 256 for
 * 50,000 × 64). At these sizes the exact index is faster than building the
 * graph (60,000 × 64: ~4 s exact search of 10,000 queries vs ~15 s build + ~3 s search), so
 * HNSW pays off only for much larger sets or an index reused across many query sets. The
 * search list is max(efSearch, k).
 */
export const hnswIndex = (
  points: Matrix,
  options: {
    readonly seed: number;
    readonly M?: number;
    readonly efConstruction?: number;
    readonly efSearch?: number;
    readonly name?: string;
    /** Called after every 10,000 points added (and after the last): points added so far. */
    readonly onProgress?: (added: number) => void;
  },
): Effect.Effect<NearestNeighbourIndex, NonFiniteVector | HnswUnavailable | InvalidParameter> =>
  Effect.gen(function* () {
    const indexName = options.name ?? `HNSW index (${points.rows}×${points.cols}, in memory)`;
    const bad = firstNonFiniteRow(points);
    if (bad >= 0) {
      return yield* Effect.fail(new NonFiniteVector({ index: indexName, what: "point", row: bad }));
    }
    const params: HnswParams = {
      M: options.M ?? HNSW_DEFAULTS.M,
      efConstruction: options.efConstruction ?? HNSW_DEFAULTS.efConstruction,
      efSearch: options.efSearch ?? HNSW_DEFAULTS.efSearch,
      seed: options.seed,
    };
    yield* checkHnswParams(params);
    const hnsw = yield* loadHnsw;
    const graph = new hnsw.HierarchicalNSW("l2", points.cols);
    // maxElements ≥ 1: hnswlib cannot allocate an empty index (searches then fail IndexTooSmall).
    graph.initIndex(Math.max(points.rows, 1), params.M, params.efConstruction, params.seed);
    const d = points.cols;
    for (let i = 0; i < points.rows; i++) {
      // The addon accepts only plain arrays (it checks IsArray), not Float32Array.
      graph.addPoint(Array.from(points.data.subarray(i * d, (i + 1) * d)), i);
      if ((i + 1) % 10_000 === 0 || i + 1 === points.rows) options.onProgress?.(i + 1);
    }
    graph.setEf(params.efSearch);
    return wrapHnsw(graph, points, params, indexName);
  });

/**
 * HNSW parameters hnswlib accepts: M ≥ 2 links per node (M = 0 or 1 makes it exit the process
 * with no message), efConstruction and efSearch ≥ 1, and a seed, all whole numbers.
 */
export const checkHnswParams = (params: HnswParams): Effect.Effect<void, InvalidParameter> => {
  const rules: ReadonlyArray<readonly [keyof HnswParams, number]> = [
    ["M", 2],
    ["efConstruction", 1],
    ["efSearch", 1],
    ["seed", 0],
  ];
  for (const [name, min] of rules) {
    const value = params[name];
    if (!(Number.isSafeInteger(value) && value >= min)) {
      return Effect.fail(
        new InvalidParameter({ name: `HNSW ${name}`, value, expected: `a whole number ≥ ${min}` }),
      );
    }
  }
  return Effect.void;
};
