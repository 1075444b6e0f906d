/**
 * The inverted-file (IVF) k-NN index: k-means lists, each searched exactly by the SIMD kernel.
 * Build (`ivf_layout.ts`): the points are centred, k-means places `lists` centroids (default
 * √n), and the points are laid out list by list in the exact index's transposed format. Search
 * (`ivf_search.ts`): each query visits the `nprobe` lists of its nearest centroids (calibrated to
 * a recall@1 target on {@link NPROBE_LADDER} when not given), and the best k + 3 candidates are
 * re-ranked in float64 (ties by the lower point index; with `nprobe = lists` the search is exact),
 * from the index's one centred float32 copy: distances agree with the exact index's to float32
 * rounding, not bit for bit. Deterministic for a seed; any number of threads gives the same
 * results bit for bit (`ivf_threads.ts`). Why this index: docs/internals/knn.md.
 *
 * @module
 */
import { Effect } from "effect";
import { InvalidParameter } from "../errors.ts";
import type { Matrix } from "../matrix.ts";
import type { IndexTooLarge, NonFiniteVector } from "./errors.ts";
import { checkCentres, type Layout, layOut, SAMPLE_PER_LIST } from "./ivf_layout.ts";
import { calibrateNprobe, centreRows, type SlotSearch, slotSearch } from "./ivf_search.ts";
import { type ScanPool, scanPool } from "./ivf_threads.ts";
import { kernelMemory } from "./simd_kernel.ts";
import { calibrationReport, type EfCalibration } from "./calibrate.ts";
import { owner } from "./kind.ts";
import { checkFinitePoints, checkSearch, recallTargetIn, wholeAtLeast } from "./rerank.ts";
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
  ...[1, 2, 3, 4, 6, 8, 12, 16],
  ...[24, 32, 48, 64, 96, 128, 192, 256],
];

/** Defaults of the IVF index. */
export const IVF_DEFAULTS = {
  /** Lloyd iterations of k-means. */
  iterations: 10,
  /** k-means trains on this many points per list (a seeded sample). */
  samplePerList: SAMPLE_PER_LIST,
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
  /** Threads a search runs on (default 1; same results). */
  readonly threads?: number;
  /** An earlier build's {@link IvfIndex.centroids} over the same points: its lists, no k-means. */
  readonly centroids?: Float32Array;
}

/** An IVF index being filled chunk by chunk (see {@link ivfBuilder}). */
export interface IvfBuilder {
  /** Add the rows of `chunk` as the next rows of the index (in order). */
  add(chunk: Matrix): Effect.Effect<void, NonFiniteVector | InvalidParameter>;
  /** The index over every row added; `points`, if given, are those rows, kept for saving. */
  finish(points?: Matrix): Effect.Effect<IvfIndex, InvalidParameter>;
}

/**
 * Start an IVF index over exactly `rows` rows of `dim` columns, added in order (copied straight
 * into its WebAssembly memory, so a caller can read them chunk by chunk), then finished.
 */
export const ivfBuilder = (
  rows: number,
  dim: number,
  options: IvfOptions = {},
): Effect.Effect<IvfBuilder, InvalidParameter | IndexTooLarge> =>
  Effect.gen(function* () {
    const name = options.name ?? `ivf index (${rows}×${dim}, in memory)`;
    const refuse = (what: string, value: number, expected: string) =>
      Effect.fail(new InvalidParameter({ name: what, value, expected }));
    yield* wholeAtLeast("ivf rows", rows, 1);
    yield* wholeAtLeast("ivf dim", dim, 1);
    const lists = options.lists ?? Math.max(1, Math.min(rows, Math.round(Math.sqrt(rows))));
    yield* wholeAtLeast("ivf lists", lists, 1);
    if (lists > rows) return yield* refuse("ivf lists", lists, `at most ${rows}`);
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
    const memory = yield* kernelMemory(slots, dim, threads, name);
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
            return yield* refuse(`${name}: chunk columns`, chunk.cols, `${dim}`);
          }
          if (added + chunk.rows > rows) {
            return yield* refuse(`${name}: rows added`, added + chunk.rows, `at most ${rows}`);
          }
          yield* checkFinitePoints(name, chunk, added);
          const values = chunk.data.subarray(0, chunk.rows * dim);
          store.set(values, added * dim);
          for (let r = 0; r < chunk.rows; r++) {
            for (let j = 0; j < dim; j++) sum[j]! += values[r * dim + j]!;
          }
          added += chunk.rows;
        }),
      finish: (points) =>
        Effect.gen(function* () {
          if (finished) return yield* Effect.die(new Error(`${name} was already finished`));
          if (added !== rows) return yield* refuse(`${name}: rows added`, added, `${rows}`);
          finished = true;
          const mean = sum.map((s) => s / rows);
          const input = { memory, store, rows, dim, lists, slots, mean, iterations, seed, centres };
          const layout = yield* layOut(input);
          const settings = { nprobe: options.nprobe, recallTarget, seed, iterations, threads };
          return yield* makeIndex(layout, name, points, settings);
        }),
    };
  });

/**
 * An IVF index over the rows of `points` (kept for saving; the search reads its own copy).
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
  options: Omit<IvfSettings, "lists" | "nprobe"> & {
    readonly nprobe: number | undefined;
    readonly recallTarget: number;
    readonly threads: number;
  },
): Effect.Effect<IvfIndex> =>
  Effect.gen(function* () {
    const { recallTarget, seed, iterations } = options;
    const pool = scanPool(layout, options.threads, name);
    const search = slotSearch(layout, pool);
    const dim = layout.dim;
    const lists = layout.listStart.length;
    const [ladder, sample] = [NPROBE_LADDER, IVF_DEFAULTS.calibrationSample];
    const calibrate = calibrateNprobe(layout, search, { ladder, recallTarget, sample, seed });
    const calibration = options.nprobe === undefined
      ? yield* calibrate.pipe(Effect.onError(() => Effect.sync(() => pool.dispose())))
      : undefined;
    const nprobe = Math.min(lists, options.nprobe ?? calibration!.efSearch);
    // Everything holding the WebAssembly memory, so dispose() drops it in one go.
    let state: { layout: Layout; search: SlotSearch; pool: ScanPool } | undefined = {
      layout,
      search,
      pool,
    };
    const index: IvfIndex = {
      kind: "ivf",
      size: layout.rows,
      dim,
      name,
      points,
      ivf: { lists, nprobe, iterations, seed },
      calibration,
      centroids: layout.centres,
      settings: { lists, nprobe, ...calibrationReport("nprobe", calibration) },
      dispose: () => {
        state?.layout.centroids.dispose();
        state?.pool.dispose();
        state = undefined;
      },
      search: (queries, k) =>
        Effect.gen(function* () {
          yield* checkSearch(index, queries, k);
          if (state === undefined) return yield* Effect.die(new Error(`${name} was disposed`));
          const { layout, search } = state;
          const rows = queries.rows;
          const centred = centreRows(queries.data, rows, layout.mean);
          const found = yield* search(centred, rows, k, nprobe);
          // Probed lists holding fewer than k points: search those queries over every list.
          const short: Array<number> = [];
          for (let q = 0; q < rows; q++) if (found.slots[q * k + k - 1]! < 0) short.push(q);
          if (short.length > 0) {
            const again = new Float32Array(short.length * dim);
            short.forEach((q, i) => again.set(centred.subarray(q * dim, (q + 1) * dim), i * dim));
            const full = yield* search(again, short.length, k, lists);
            short.forEach((q, i) => {
              found.slots.set(full.slots.subarray(i * k, (i + 1) * k), q * k);
              found.d2.set(full.d2.subarray(i * k, (i + 1) * k), q * k);
            });
          }
          const indices = Int32Array.from(found.slots, (slot) => layout.rowOf[slot]!);
          const distances = Float64Array.from(found.d2, Math.sqrt);
          return { rows, k, indices, distances };
        }),
    };
    return ivfIndexes.mark(index);
  });
