/**
 * Approximate k-NN index: an HNSW graph from hnswlib-node (L2 space), loaded only when used
 * (needs `--allow-ffi --allow-sys --allow-env --allow-read`). Distances are recomputed in float64
 * like the exact index's, so both kinds agree whenever they find the same neighbours.
 *
 * @module
 */
import { Effect } from "effect";
import type { HierarchicalNSW } from "hnswlib-node";
import { InvalidParameter } from "../errors.ts";
import { type Matrix, takeRows } from "../matrix.ts";
import {
  calibrationReport,
  calibrationSettings,
  chooseEfSearch,
  type EfCalibration,
  type EfCalibrationOptions,
  heldOutRows,
} from "./calibrate.ts";
import { HnswUnavailable, type IndexTooLarge, type NonFiniteVector } from "./errors.ts";
import { exactIndex } from "./exact.ts";
import { owner } from "./kind.ts";
import {
  bruteForceRow,
  checkFinitePoints,
  checkSearch,
  wholeAtLeast,
  writeReranked,
} from "./rerank.ts";
import type { NearestNeighbourIndex } from "./types.ts";

/** HNSW graph parameters (see {@link hnswIndex}). */
export interface HnswParams {
  /** Links per node. */
  readonly M: number;
  /** Candidate list size while building. */
  readonly efConstruction: number;
  /** Candidate list size while searching (at least k is used). */
  readonly efSearch: number;
  /** Seed of the level generator (the build is deterministic for a seed). */
  readonly seed: number;
}

/** An HNSW index: its points (for the float64 re-ranking and saving) and its graph's parameters. */
export interface HnswIndex extends NearestNeighbourIndex {
  /** The registered kind that made it. */
  readonly kind: "hnsw";
  /** The indexed points, one per row (N × D). */
  readonly points: Matrix;
  /** The graph's parameters (M, efConstruction, efSearch, seed). */
  readonly params: HnswParams;
  /** How efSearch was chosen by measurement, if it was (`hnswIndex`'s `calibrate`). */
  readonly calibration: EfCalibration | undefined;
}

/** The indexes {@link wrapHnsw} made (what the hnsw kind may save). */
export const hnswIndexes = owner<HnswIndex>();

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

/** Default HNSW parameters (measured: docs/internals/knn.md). */
export const HNSW_DEFAULTS = { M: 16, efConstruction: 200, efSearch: 200 } as const;

/** How to write the live graph of each HNSW index, for saving (see {@link graphWriter}). */
const graphWriters = new WeakMap<NearestNeighbourIndex, (path: string) => Promise<void>>();

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
  calibration?: EfCalibration,
): HnswIndex {
  let live: HierarchicalNSW | undefined = graph;
  const index: HnswIndex = {
    kind: "hnsw",
    size: points.rows,
    dim: points.cols,
    name: indexName,
    points,
    params,
    calibration,
    settings: {
      M: params.M,
      efConstruction: params.efConstruction,
      efSearch: params.efSearch,
      ...calibrationReport("efSearch", calibration),
    },
    dispose: () => {
      // Frees the graph's native memory now, not when V8 collects it (docs/internals/knn.md).
      live?.initIndex(1, 2, 1, 0);
      live = undefined;
      graphWriters.delete(index);
    },
    search: (queries, k) =>
      Effect.flatMap(checkSearch(index, queries, k), () => {
        if (live === undefined) return Effect.die(new Error(`${indexName} was disposed`));
        const rows = queries.rows;
        const result = { distances: new Float64Array(rows * k), indices: new Int32Array(rows * k) };
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
  graphWriters.set(index, graphWriter(graph));
  return hnswIndexes.mark(index);
}

/** A writer of `graph`, made outside `wrapHnsw` so its closure holds the graph alone. */
const graphWriter = (graph: HierarchicalNSW) => (path: string): Promise<void> =>
  new Promise((resolve) => resolve(graph.writeIndexSync(path)));

/**
 * Approximate k-NN index: an HNSW graph built with hnswlib-node (L2 space), one point at a
 * time, so the build is deterministic for a given `seed`. Defaults: {@link HNSW_DEFAULTS}; the
 * search list is max(efSearch, k). Without `efSearch`, `calibrate` chooses it by measurement
 * (`calibrate.ts`), recorded on `index.calibration` and `params.efSearch`.
 */
export const hnswIndex = (
  points: Matrix,
  options: {
    readonly seed: number;
    readonly M?: number;
    readonly efConstruction?: number;
    readonly efSearch?: number;
    /** Choose efSearch by measurement when `efSearch` is absent (see above). */
    readonly calibrate?: EfCalibrationOptions;
    readonly name?: string;
    /** Called after every 10,000 points added (and after the last): points added so far. */
    readonly onProgress?: (added: number) => void;
  },
): Effect.Effect<HnswIndex, NonFiniteVector | HnswUnavailable | InvalidParameter | IndexTooLarge> =>
  Effect.gen(function* () {
    const indexName = options.name ?? `HNSW index (${points.rows}×${points.cols}, in memory)`;
    yield* checkFinitePoints(indexName, points);
    const calibrate = options.efSearch === undefined && options.calibrate !== undefined
      ? yield* calibrationSettings(options.calibrate)
      : undefined;
    const params: HnswParams = {
      M: options.M ?? HNSW_DEFAULTS.M,
      efConstruction: options.efConstruction ?? HNSW_DEFAULTS.efConstruction,
      efSearch: options.efSearch ?? calibrate?.ladder[0] ?? HNSW_DEFAULTS.efSearch,
      seed: options.seed,
    };
    yield* checkHnswParams(params);
    const hnsw = yield* loadHnsw;
    const graph = new hnsw.HierarchicalNSW("l2", points.cols);
    // maxElements ≥ 1: hnswlib cannot allocate an empty index (searches then fail IndexTooSmall).
    graph.initIndex(Math.max(points.rows, 1), params.M, params.efConstruction, params.seed);
    const d = points.cols;
    let added = 0;
    const add = (i: number) => {
      // The addon accepts only plain arrays (it checks IsArray), not Float32Array.
      graph.addPoint(Array.from(points.data.subarray(i * d, (i + 1) * d)), i);
      added++;
      if (added % 10_000 === 0 || added === points.rows) options.onProgress?.(added);
    };
    if (calibrate === undefined) {
      for (let i = 0; i < points.rows; i++) add(i);
      graph.setEf(params.efSearch);
      return wrapHnsw(graph, points, params, indexName);
    }
    const heldRows = heldOutRows(points.rows, calibrate.sample, params.seed);
    const held = new Set(heldRows);
    const rest = Int32Array.from({ length: points.rows }, (_, i) => i).filter((i) => !held.has(i));
    for (const i of rest) add(i);
    const queries = takeRows(points, heldRows);
    const truth = yield* exactTruth(takeRows(points, rest), rest, queries, indexName);
    const n = queries.rows;
    const nearest = { distances: new Float64Array(n), indices: new Int32Array(n) };
    const calibration = yield* chooseEfSearch(truth, (efSearch) =>
      Effect.sync(() => {
        graph.setEf(efSearch);
        return Int32Array.from({ length: n }, (_, q) => {
          const query = Array.from(queries.data.subarray(q * d, (q + 1) * d));
          // Ranked as a search ranks them (float64 distance, then row).
          const found = graph.searchKnn(query, 1).neighbors;
          return writeReranked(queries, q, points, found, 1, nearest) ? nearest.indices[q]! : -1;
        });
      }), calibrate);
    for (const i of heldRows) add(i);
    const calibrated = { ...params, efSearch: calibration.efSearch };
    graph.setEf(calibrated.efSearch);
    return wrapHnsw(graph, points, calibrated, indexName, calibration);
  });

/** Each query's exact nearest row of `points` (rows of `rest`, named by their original row). */
const exactTruth = (
  restPoints: Matrix,
  rest: Int32Array,
  queries: Matrix,
  indexName: string,
): Effect.Effect<Int32Array, NonFiniteVector | IndexTooLarge> =>
  Effect.gen(function* () {
    if (queries.rows === 0) return new Int32Array(0);
    // Its default threads are valid: it cannot fail with an InvalidParameter.
    const exact = yield* exactIndex(restPoints, { name: `${indexName} (efSearch calibration)` })
      .pipe(Effect.catchTag("InvalidParameter", (error) => Effect.die(error)));
    const found = yield* exact.search(queries, 1).pipe(
      Effect.orDie,
      Effect.ensuring(Effect.sync(() => exact.dispose())),
    );
    return found.indices.map((r) => rest[r]!);
  });

/**
 * HNSW parameters hnswlib accepts: M ≥ 2 links per node (M = 0 or 1 makes it exit the process
 * with no message), efConstruction and efSearch ≥ 1, and a seed, all whole numbers.
 */
export const checkHnswParams = (params: HnswParams): Effect.Effect<void, InvalidParameter> =>
  Effect.gen(function* () {
    yield* wholeAtLeast("HNSW M", params.M, 2);
    yield* wholeAtLeast("HNSW efConstruction", params.efConstruction, 1);
    yield* wholeAtLeast("HNSW efSearch", params.efSearch, 1);
    yield* wholeAtLeast("HNSW seed", params.seed, 0);
  });
