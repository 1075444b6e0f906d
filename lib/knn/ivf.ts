/**
 * The inverted-file (IVF) k-NN index: k-means lists, each searched exactly by the SIMD kernel.
 *
 * Build: the points are centred on their mean; k-means (Lloyd, seeded, on a sample of
 * `samplePerList` points per list) places `lists` centroids (default √n); every point joins
 * the list of its nearest centroid; the points are then laid out list by list in WebAssembly
 * memory, in the exact index's transposed format (`simd_kernel.ts`), each list padded to a unit
 * of 8 points. Search: each query visits the `nprobe` lists of its nearest centroids; within
 * them the kernel ranks every point (queries grouped by list, so one kernel call serves every
 * query probing that list), and the best k + 3 candidates are re-ranked by float64 distance.
 *
 * Why this index: GROOD's descriptors cluster by class, so a query's neighbours sit in a few
 * lists, and within those lists the search is exact. On the scale table's synthetic
 * descriptors (300k × 512) 1.6% of the points scanned gave recall@1 1.0, where usearch's and
 * hnswlib's graphs stalled below 0.99 (docs/performance.md). It is also the reference code's
 * index (faiss IVF, nprobe 4). It holds the points once (the WebAssembly copy; a streamed
 * build never holds them in JavaScript).
 *
 * - **nprobe is calibrated** when not given: the smallest value on {@link NPROBE_LADDER} whose
 *   recall@1 reaches `recallTarget` (default 0.995) on a seeded sample of the indexed points,
 *   each searched for its nearest *other* point (itself left out, so it acts as a point the
 *   index has not seen), against the same search over every list (exact).
 * - **Distances** come from the centred float32 copy (the only one held), re-ranked in
 *   float64: they agree with the exact index's to float32 rounding (relative ~1e-7), not bit
 *   for bit. Ties are broken by the lower point index. With `nprobe = lists` the search is
 *   exact.
 * - **Deterministic**: the same points, options and seed give the same lists and results.
 * - **Threads** (`threads`, default 1): a search's lists are split into ranges of about equal
 *   work, scanned by the calling thread and `threads − 1` Web Workers over one shared copy of
 *   the points, and their candidates merged (`ivf_threads.ts`); the results are the same bit
 *   for bit whatever the number of threads. `dispose()` terminates the workers.
 *
 * @module
 */
import { Effect } from "effect";
import { InvalidParameter } from "../errors.ts";
import type { Matrix } from "../matrix.ts";
import { IndexTooLarge, NonFiniteVector } from "./errors.ts";
import { checkCentres, type Layout, layOut } from "./ivf_layout.ts";
import { calibrateNprobe, centreRows, type SlotSearch, slotSearch } from "./ivf_search.ts";
import { type ScanPool, scanPool } from "./ivf_threads.ts";
import { kernelMemory } from "./simd_kernel.ts";
import { calibrationReport, type EfCalibration } from "./calibrate.ts";
import { owner } from "./kind.ts";
import {
  checkPoints,
  checkSearch,
  firstNonFiniteRow,
  recallTargetIn,
  wholeAtLeast,
} from "./rerank.ts";
import type { NearestNeighbourIndex } from "./types.ts";

/** An IVF index's lists and search breadth. */
export interface IvfSettings {
  /** Number of lists (k-means centroids). */
  readonly lists: number;
  /** Lists each query visits. */
  readonly nprobe: number;
  /** Lloyd iterations of the k-means. */
  readonly iterations: number;
  /** Seed of the k-means sample and of the calibration sample (the build is deterministic). */
  readonly seed: number;
}

/** An IVF index: its lists and nprobe, and how nprobe was calibrated when it was. */
export interface IvfIndex extends NearestNeighbourIndex {
  /** The registered kind that made it. */
  readonly kind: "ivf";
  /** The indexed points, kept for saving; undefined for an index built from chunks. */
  readonly points: Matrix | undefined;
  /** Its lists' settings (number of lists, nprobe, k-means iterations, seed). */
  readonly ivf: IvfSettings;
  /** How nprobe (its `efSearch` field) was chosen by measurement, if it was. */
  readonly calibration: EfCalibration | undefined;
  /** Its centroids (centred, lists × dim): with the same points, they rebuild its lists. */
  readonly centroids: Float32Array;
}

/** The indexes {@link ivfIndex} and {@link ivfBuilder} made (what the ivf kind may save). */
export const ivfIndexes = owner<IvfIndex>();

/** nprobe values tried by the calibration, ascending (capped at the number of lists). */
export const NPROBE_LADDER: ReadonlyArray<number> = [
  1,
  2,
  3,
  4,
  6,
  8,
  12,
  16,
  24,
  32,
  48,
  64,
  96,
  128,
  192,
  256,
];

/** Defaults of the IVF index. */
export const IVF_DEFAULTS = {
  /** Lloyd iterations of k-means. */
  iterations: 10,
  /** k-means trains on this many points per list (a seeded sample). */
  samplePerList: 64,
  /** recall@1 the calibrated nprobe must reach. */
  recallTarget: 0.995,
  /** Points searched by the calibration. */
  calibrationSample: 1000,
  /** Threads a search runs on. */
  threads: 1,
} as const;

/** Options of {@link ivfIndex} and {@link ivfBuilder}. */
export interface IvfOptions {
  /** Names the index in errors. */
  readonly name?: string;
  /** Number of lists (k-means centroids); default round(√n), at most n. */
  readonly lists?: number;
  /** Lists each query visits; default: calibrated to `recallTarget`. */
  readonly nprobe?: number;
  /** recall@1 the calibrated nprobe must reach (default 0.995). */
  readonly recallTarget?: number;
  /** Lloyd iterations (default 10). */
  readonly iterations?: number;
  /** Seed of the k-means sample and initial centroids and of the calibration sample. */
  readonly seed?: number;
  /**
   * Threads a search runs on (default 1): the calling thread and `threads − 1` Web Workers
   * scanning disjoint lists over one shared copy of the points. Results do not depend on it.
   */
  readonly threads?: number;
  /** An earlier build's {@link IvfIndex.centroids} over the same points: its lists, no k-means. */
  readonly centroids?: Float32Array;
}

/** An IVF index being filled chunk by chunk (see {@link ivfBuilder}). */
export interface IvfBuilder {
  /** Add the rows of `chunk` as the next rows of the index (in order). */
  add(chunk: Matrix): Effect.Effect<void, NonFiniteVector | InvalidParameter>;
  /**
   * Cluster, lay out and calibrate: the index over every row added (all `rows` of them).
   * `points`, if given, are those rows, kept on the index for saving it.
   */
  finish(points?: Matrix): Effect.Effect<IvfIndex, InvalidParameter>;
}

/**
 * Start an IVF index over exactly `rows` rows of `dim` columns, added in order with
 * {@link IvfBuilder.add} and then {@link IvfBuilder.finish}ed. The rows are copied straight
 * into the index's WebAssembly memory, so a caller can generate or read them chunk by chunk.
 */
export const ivfBuilder = (
  rows: number,
  dim: number,
  options: IvfOptions = {},
): Effect.Effect<IvfBuilder, InvalidParameter | IndexTooLarge> =>
  Effect.gen(function* () {
    const name = options.name ?? `ivf index (${rows}×${dim}, in memory)`;
    yield* wholeAtLeast("ivf rows", rows, 1);
    yield* wholeAtLeast("ivf dim", dim, 1);
    const lists = options.lists ?? Math.max(1, Math.min(rows, Math.round(Math.sqrt(rows))));
    yield* wholeAtLeast("ivf lists", lists, 1);
    if (lists > rows) {
      return yield* Effect.fail(
        new InvalidParameter({ name: "ivf lists", value: lists, expected: `at most ${rows}` }),
      );
    }
    if (options.nprobe !== undefined) yield* wholeAtLeast("ivf nprobe", options.nprobe, 1);
    const iterations = options.iterations ?? IVF_DEFAULTS.iterations;
    yield* wholeAtLeast("ivf iterations", iterations, 0);
    const recallTarget = options.recallTarget ?? IVF_DEFAULTS.recallTarget;
    yield* recallTargetIn("ivf recallTarget", recallTarget);
    const seed = options.seed ?? 0;
    const threads = options.threads ?? IVF_DEFAULTS.threads;
    yield* wholeAtLeast("ivf threads", threads, 1);
    const centres = options.centroids;
    if (centres !== undefined) yield* checkCentres(centres, lists, dim);
    // Each list is padded to a unit of 8 points: at most 7 pads a list.
    const slots = Math.ceil(rows / 8) * 8 + 8 * lists;
    const memory = kernelMemory(slots, dim, threads);
    if (typeof memory === "number") {
      return yield* new IndexTooLarge({ index: name, bytes: memory });
    }
    // Row-major staging of the added rows; laid out in place by `finish`.
    const store = new Float32Array(memory.buffer, 0, slots * dim);
    const sum = new Float64Array(dim);
    let added = 0;
    let finished = false;
    return {
      add: (chunk) =>
        Effect.gen(function* () {
          if (finished) return yield* Effect.die(new Error(`${name} was already finished`));
          if (chunk.cols !== dim) {
            return yield* new InvalidParameter({
              name: `${name}: chunk columns`,
              value: chunk.cols,
              expected: `${dim}`,
            });
          }
          if (added + chunk.rows > rows) {
            return yield* new InvalidParameter({
              name: `${name}: rows added`,
              value: added + chunk.rows,
              expected: `at most ${rows}`,
            });
          }
          yield* checkPoints(name, chunk);
          const bad = firstNonFiniteRow(chunk);
          if (bad >= 0) {
            return yield* new NonFiniteVector({ index: name, what: "point", row: added + bad });
          }
          const values = chunk.data.subarray(0, chunk.rows * dim);
          store.set(values, added * dim);
          for (let i = 0; i < chunk.rows; i++) {
            for (let j = 0; j < dim; j++) sum[j]! += values[i * dim + j]!;
          }
          added += chunk.rows;
        }),
      finish: (points) =>
        Effect.gen(function* () {
          if (finished) return yield* Effect.die(new Error(`${name} was already finished`));
          if (added !== rows) {
            return yield* new InvalidParameter({
              name: `${name}: rows added`,
              value: added,
              expected: `${rows}`,
            });
          }
          finished = true;
          const mean = sum.map((s) => s / rows);
          const layout = yield* layOut({
            memory,
            store,
            rows,
            dim,
            lists,
            slots,
            mean,
            iterations,
            samplePerList: IVF_DEFAULTS.samplePerList,
            seed,
            centres,
          });
          const settings = { nprobe: options.nprobe, recallTarget, seed, iterations, threads };
          return yield* makeIndex(layout, name, points, settings);
        }),
    };
  });

/**
 * An IVF index over the rows of `points` (see the module doc; `points` is kept for saving, the
 * search reads its own copy).
 *
 * @example
 * ```ts
 * import { ivfIndex } from "./ivf.ts";
 * import { matrix } from "../matrix.ts";
 * import { Effect } from "effect";
 * const index = Effect.runSync(ivfIndex(matrix(4, 2, [0, 0, 0, 1, 9, 9, 9, 10]), { lists: 2 }));
 * const { indices } = Effect.runSync(index.search(matrix(1, 2, [9, 8]), 1));
 * if (indices[0] !== 2) throw new Error("wrong neighbour");
 * ```
 */
export const ivfIndex = (
  points: Matrix,
  options: IvfOptions = {},
): Effect.Effect<IvfIndex, NonFiniteVector | InvalidParameter | IndexTooLarge> =>
  Effect.gen(function* () {
    const name = options.name ?? `ivf index (${points.rows}×${points.cols}, in memory)`;
    const builder = yield* ivfBuilder(points.rows, points.cols, { ...options, name });
    yield* builder.add(points);
    return yield* builder.finish(points);
  });

const makeIndex = (
  layout: Layout,
  name: string,
  points: Matrix | undefined,
  options: {
    readonly nprobe: number | undefined;
    readonly recallTarget: number;
    readonly seed: number;
    readonly iterations: number;
    readonly threads: number;
  },
): Effect.Effect<IvfIndex> =>
  Effect.gen(function* () {
    const pool = scanPool(layout, options.threads, name);
    const search = slotSearch(layout, pool);
    const size = layout.rows;
    const dim = layout.dim;
    const lists = layout.listStart.length;
    const calibration = options.nprobe === undefined
      ? yield* calibrateNprobe(layout, search, {
        ladder: NPROBE_LADDER,
        recallTarget: options.recallTarget,
        sample: IVF_DEFAULTS.calibrationSample,
        seed: options.seed,
      }).pipe(Effect.onError(() => Effect.sync(() => pool.dispose())))
      : undefined;
    const nprobe = Math.min(lists, options.nprobe ?? calibration!.efSearch);
    const ivf: IvfSettings = { lists, nprobe, iterations: options.iterations, seed: options.seed };
    // Everything holding the WebAssembly memory, so dispose() drops it in one go.
    let state:
      | { readonly layout: Layout; readonly search: SlotSearch; readonly pool: ScanPool }
      | undefined = { layout, search, pool };
    const index: IvfIndex = {
      kind: "ivf",
      size,
      dim,
      name,
      points,
      ivf,
      calibration,
      centroids: layout.centres,
      settings: { lists, nprobe, ...calibrationReport("nprobe", calibration) },
      dispose: () => {
        state?.layout.centroids.dispose();
        state?.pool.dispose();
        state = undefined;
      },
      search: (queries, k) =>
        Effect.flatMap(checkSearch(index, queries, k), () => {
          if (state === undefined) return Effect.die(new Error(`${name} was disposed`));
          const { layout, search } = state;
          const rows = queries.rows;
          const centred = centreRows(queries.data, rows, layout.mean);
          return Effect.gen(function* () {
            let found = yield* search(centred, rows, k, nprobe);
            // Probed lists holding fewer than k points: search those queries over every list.
            const short: Array<number> = [];
            for (let q = 0; q < rows; q++) if (found.slots[q * k + k - 1]! < 0) short.push(q);
            if (short.length > 0) {
              const again = new Float32Array(short.length * dim);
              short.forEach((q, i) => again.set(centred.subarray(q * dim, (q + 1) * dim), i * dim));
              const full = yield* search(again, short.length, k, lists);
              const slots = found.slots.slice();
              const d2 = found.d2.slice();
              short.forEach((q, i) => {
                slots.set(full.slots.subarray(i * k, (i + 1) * k), q * k);
                d2.set(full.d2.subarray(i * k, (i + 1) * k), q * k);
              });
              found = { slots, d2 };
            }
            const indices = Int32Array.from(found.slots, (slot) => layout.rowOf[slot]!);
            const distances = Float64Array.from(found.d2, Math.sqrt);
            return { rows, k, indices, distances };
          });
        }),
    };
    return ivfIndexes.mark(index);
  });
