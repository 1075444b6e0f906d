/**
 * Approximate k-NN index on npm `usearch`: an HNSW graph over float32 vectors (L2), built on
 * every core. It is the index for large sets (1.28M × 512 in the scale table, where
 * hnswlib-node, one point at a time on one core, cannot build in time and the exact index
 * holds the points twice).
 *
 * Differences from the other kinds, and why:
 * - **The points are held once**, by usearch (its own float32 copy; `points` is undefined):
 *   usearch's JavaScript API cannot read its vectors back, and a second float32 copy would
 *   double the memory (5.2 GB at 1.28M × 512). So the distances are usearch's float32 squared
 *   L2 distances, square-rooted: where it finds the same neighbour as the exact index, the
 *   distance agrees to float32 rounding (relative error about 1e-6), not bit for bit as HNSW's
 *   float64 re-ranking does.
 * - **Built from chunks** ({@link usearchBuilder}): a caller can stream its rows in (the scale
 *   bench generates them chunk by chunk) without ever holding them whole.
 * - **Determinism**: a build with `threads: 1` adds the points in row order and is
 *   deterministic (usearch draws node levels from a generator with a fixed seed); a
 *   multi-threaded build (the default: all cores) inserts concurrently, so its graph may
 *   differ from run to run (searches of one built index are deterministic). Concurrent
 *   insertion also costs recall: usearch 2.25.3 can leave a node unreachable when two inserts
 *   race (an open upstream fix, unum-cloud/USearch PR #772); measured at 150k × 512 (expansion
 *   128 adding, 64 searching), recall@1 0.966 built on two threads against 0.988 on one, which
 *   took 99 s instead of 58 s. `threads: 1` is the choice when recall matters more than the
 *   build time.
 *
 * `dispose()` frees the native memory at once: usearch frees its index only when V8 collects
 * the object, so dispose resets it (a load from an empty file, which clears the index first).
 *
 * @module
 */
import { Effect } from "effect";
import type { Index as UsearchNative } from "usearch";
import { InvalidParameter } from "../errors.ts";
import type { Matrix } from "../matrix.ts";
import { NonFiniteVector, UsearchUnavailable } from "./errors.ts";
import { registerGraphWriter } from "./hnsw.ts";
import { checkSearch, firstNonFiniteRow } from "./rerank.ts";
import type { HnswParams, NearestNeighbourIndex } from "./types.ts";

/** The usearch module (its default export: `Index`, `MetricKind`, `ScalarKind`, …). */
export type UsearchModule = typeof import("usearch")["default"];

/** Load the usearch addon (a typed error if it cannot be loaded). */
export const loadUsearch: Effect.Effect<UsearchModule, UsearchUnavailable> = Effect.tryPromise({
  try: async () => (await import("usearch")).default,
  catch: (cause) => new UsearchUnavailable({ cause }),
});

/** usearch's graph parameters: HNSW's M, efConstruction and efSearch under usearch's names. */
export interface UsearchParams {
  /** Links per node (HNSW's M). */
  readonly connectivity: number;
  /** Candidate list size while adding (efConstruction). */
  readonly expansionAdd: number;
  /** Candidate list size while searching (efSearch; at least k is used). */
  readonly expansionSearch: number;
}

/**
 * Defaults, measured on the scale table's synthetic descriptors (docs/performance.md, "usearch
 * as an index kind"): connectivity 16; expansion 64 when adding (at 150k × 512 on two threads,
 * 128 took 58 s against 31 s for the same recall@1, 0.966–0.982 against 0.974–0.976); 128 when
 * searching (at 600k × 512, 256 gave the same recall@1, 0.98, at 920 queries/s against 1,300).
 */
export const USEARCH_DEFAULTS: UsearchParams = {
  connectivity: 16,
  expansionAdd: 64,
  expansionSearch: 128,
};

/** Options of {@link usearchIndex} and {@link usearchBuilder}. */
export interface UsearchOptions extends Partial<UsearchParams> {
  /** Names the index in errors. */
  readonly name?: string;
  /** Threads that add and search (0 = every core, the default; 1 = a deterministic build). */
  readonly threads?: number;
}

/** An index being built chunk by chunk (see {@link usearchBuilder}). */
export interface UsearchBuilder {
  /** Add the rows of `chunk` as the next rows of the index (in order). */
  add(chunk: Matrix): Effect.Effect<void, NonFiniteVector | InvalidParameter>;
  /** The index over every row added; the builder is spent. */
  finish(): NearestNeighbourIndex;
  /** Free what was added, if `finish` is never called. */
  dispose(): void;
}

/** The parameters with defaults, checked. */
const checkOptions = (
  options: UsearchOptions,
): Effect.Effect<UsearchParams & { readonly threads: number }, InvalidParameter> => {
  const params = {
    connectivity: options.connectivity ?? USEARCH_DEFAULTS.connectivity,
    expansionAdd: options.expansionAdd ?? USEARCH_DEFAULTS.expansionAdd,
    expansionSearch: options.expansionSearch ?? USEARCH_DEFAULTS.expansionSearch,
    threads: options.threads ?? 0,
  };
  const rules: ReadonlyArray<readonly [keyof typeof params, number]> = [
    ["connectivity", 2],
    ["expansionAdd", 1],
    ["expansionSearch", 1],
    ["threads", 0],
  ];
  for (const [name, min] of rules) {
    const value = params[name];
    if (!(Number.isSafeInteger(value) && value >= min)) {
      return Effect.fail(
        new InvalidParameter({
          name: `usearch ${name}`,
          value,
          expected: `a whole number ≥ ${min}`,
        }),
      );
    }
  }
  return Effect.succeed(params);
};

/**
 * Start a usearch index over rows of `dim` float32 columns, filled chunk by chunk with
 * {@link UsearchBuilder.add} (rows are numbered in the order added), then
 * {@link UsearchBuilder.finish}ed.
 */
export const usearchBuilder = (
  dim: number,
  options: UsearchOptions = {},
): Effect.Effect<UsearchBuilder, UsearchUnavailable | InvalidParameter> =>
  Effect.gen(function* () {
    if (!(Number.isSafeInteger(dim) && dim >= 1)) {
      return yield* Effect.fail(
        new InvalidParameter({ name: "usearch dim", value: dim, expected: "a whole number ≥ 1" }),
      );
    }
    const params = yield* checkOptions(options);
    const { Index, MetricKind, ScalarKind } = yield* loadUsearch;
    let native: UsearchNative | undefined = new Index({
      dimensions: dim,
      metric: MetricKind.L2sq,
      quantization: ScalarKind.F32,
      connectivity: params.connectivity,
      expansion_add: params.expansionAdd,
      expansion_search: params.expansionSearch,
      multi: false,
    });
    let rows = 0;
    const name = () => options.name ?? `usearch index (${rows}×${dim}, in memory)`;
    return {
      add: (chunk) =>
        Effect.suspend((): Effect.Effect<void, NonFiniteVector | InvalidParameter> => {
          if (native === undefined) return Effect.die(new Error(`${name()} was already finished`));
          if (chunk.cols !== dim) {
            return Effect.fail(
              new InvalidParameter({
                name: `${name()}: chunk columns`,
                value: chunk.cols,
                expected: `${dim}`,
              }),
            );
          }
          const bad = firstNonFiniteRow(chunk);
          if (bad >= 0) {
            return Effect.fail(
              new NonFiniteVector({ index: name(), what: "point", row: rows + bad }),
            );
          }
          if (chunk.rows === 0) return Effect.void;
          const keys = new BigUint64Array(chunk.rows);
          for (let i = 0; i < chunk.rows; i++) keys[i] = BigInt(rows + i);
          native.add(keys, chunk.data.subarray(0, chunk.rows * dim), params.threads);
          rows += chunk.rows;
          return Effect.void;
        }),
      finish: () => {
        if (native === undefined) throw new Error(`${name()} was already finished`);
        const built = wrapUsearch(native, rows, dim, params, name());
        native = undefined;
        return built;
      },
      dispose: () => {
        if (native !== undefined) resetNative(native);
        native = undefined;
      },
    };
  });

/** A usearch index over the rows of `points` (usearch copies them; see the module doc). */
export const usearchIndex = (
  points: Matrix,
  options: UsearchOptions = {},
): Effect.Effect<NearestNeighbourIndex, NonFiniteVector | UsearchUnavailable | InvalidParameter> =>
  Effect.gen(function* () {
    const name = options.name ?? `usearch index (${points.rows}×${points.cols}, in memory)`;
    const bad = firstNonFiniteRow(points);
    if (bad >= 0) {
      return yield* Effect.fail(new NonFiniteVector({ index: name, what: "point", row: bad }));
    }
    const builder = yield* usearchBuilder(points.cols, { ...options, name });
    yield* Effect.onError(builder.add(points), () => Effect.sync(() => builder.dispose()));
    return builder.finish();
  });

/** Free a usearch index's memory now: loading an empty file resets it first, then fails. */
function resetNative(native: UsearchNative): void {
  try {
    native.load("/dev/null");
  } catch {
    // Expected: the file holds no index; the reset has happened.
  }
}

/**
 * An index over a built or loaded usearch index of `size` rows. Its `params` carry usearch's
 * parameters as HNSW's (M = connectivity, efConstruction = expansionAdd, efSearch =
 * expansionSearch; seed 0: usearch's level generator has a fixed seed).
 */
export function wrapUsearch(
  native: UsearchNative,
  size: number,
  dim: number,
  params: UsearchParams & { readonly threads: number },
  indexName: string,
): NearestNeighbourIndex {
  let live: UsearchNative | undefined = native;
  const hnswParams: HnswParams = {
    M: params.connectivity,
    efConstruction: params.expansionAdd,
    efSearch: params.expansionSearch,
    seed: 0,
  };
  const index: NearestNeighbourIndex = {
    kind: "usearch",
    size,
    dim,
    name: indexName,
    points: undefined,
    params: hnswParams,
    dispose: () => {
      if (live !== undefined) resetNative(live);
      live = undefined;
      registerGraphWriter(index, undefined);
    },
    search: (queries, k) =>
      Effect.flatMap(checkSearch(index, queries, k), () => {
        if (live === undefined) return Effect.die(new Error(`${indexName} was disposed`));
        const rows = queries.rows;
        const distances = new Float64Array(rows * k);
        const indices = new Int32Array(rows * k);
        if (rows === 0) return Effect.succeed({ rows, k, distances, indices });
        const found = live.search(queries.data.subarray(0, rows * dim), k, params.threads);
        // One query comes back as Matches (no counts), several as BatchMatches.
        const counts = (found as { counts?: BigUint64Array }).counts;
        const stride = counts === undefined ? found.keys.length : k;
        for (let q = 0; q < rows; q++) {
          const count = counts === undefined ? found.keys.length : Number(counts[q]);
          if (count < k) {
            return Effect.die(
              new Error(`${indexName}: usearch found ${count} of ${k} neighbours for query ${q}`),
            );
          }
          for (let r = 0; r < k; r++) {
            indices[q * k + r] = Number(found.keys[q * stride + r]!);
            distances[q * k + r] = Math.sqrt(Math.max(0, found.distances[q * stride + r]!));
          }
        }
        return Effect.succeed({ rows, k, distances, indices });
      }),
  };
  registerGraphWriter(index, usearchWriter(native));
  return index;
}

/** A writer of `native` in usearch's own format (kept out of `wrapUsearch`'s closure). */
const usearchWriter = (native: UsearchNative) => (path: string): Promise<void> => {
  try {
    native.save(path);
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(error);
  }
};
