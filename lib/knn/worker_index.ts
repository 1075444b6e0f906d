/**
 * An index searched in a Web Worker (`search_worker.ts`): exact, or HNSW when `options.hnsw`
 * is given. The same neighbours and distances as {@link exactIndex} or {@link hnswIndex} with
 * the same parameters (the same code runs there; an HNSW build is deterministic for its
 * seed), but a search does not block the calling thread, so the caller can run the next
 * batch's forward pass while the previous batch's queries are searched: on two cores, the
 * search leaves the critical path. The HNSW graph is built in the worker too.
 *
 * The worker holds its own copy of the points (the caller keeps `points`, for saving and for
 * the interface). Searches are checked here first (k, dimension, finite queries: the same
 * typed errors as the exact index); `dispose()` has the worker free its index and close.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { workerIndex } from "./worker_index.ts";
 * import { matrix } from "../matrix.ts";
 * const index = await Effect.runPromise(workerIndex(matrix(3, 2, [0, 0, 3, 4, 10, 10])));
 * const found = await Effect.runPromise(index.search(matrix(1, 2, [3, 3]), 1));
 * index.dispose();
 * if (found.indices[0] !== 1 || found.distances[0] !== 1) throw new Error("wrong neighbour");
 * ```
 *
 * @module
 */
import { Data, Effect, Exit } from "effect";
import type { InvalidParameter } from "../errors.ts";
import type { Matrix } from "../matrix.ts";
import { NonFiniteVector } from "./errors.ts";
import { calibrationSettings, type EfCalibration, type EfCalibrationOptions } from "./calibrate.ts";
import { checkHnswParams, HNSW_DEFAULTS, registerGraphWriter } from "./hnsw.ts";
import { checkSearch, firstNonFiniteRow } from "./rerank.ts";
import type { SearchReply, SearchRequest } from "./search_worker.ts";
import type { HnswParams, NearestNeighbourIndex, Neighbours } from "./types.ts";

/** The search worker could not start or build its index. */
export class SearchWorkerError extends Data.TaggedError("SearchWorkerError")<{
  readonly index: string;
  readonly reason: string;
}> {
  override get message(): string {
    return `The search worker of ${this.index} failed: ${this.reason}`;
  }
}

/** Options of {@link workerIndex}. */
export interface WorkerIndexOptions {
  readonly name?: string;
  /** Build an HNSW graph (missing fields: `HNSW_DEFAULTS`, seed 0); absent = exact. */
  readonly hnsw?: Partial<HnswParams>;
  /**
   * Calibrate the HNSW graph's efSearch as `hnswIndex` does (only when `hnsw.efSearch` is
   * absent): the same graph and efSearch as `hnswIndex` with the same options.
   */
  readonly calibrate?: EfCalibrationOptions;
}

type WorkerIndexError = NonFiniteVector | SearchWorkerError | InvalidParameter;

/** Build an index over a copy of `points` in a new worker (see the module doc). */
export const workerIndex = (
  points: Matrix,
  options: WorkerIndexOptions = {},
): Effect.Effect<NearestNeighbourIndex, WorkerIndexError> =>
  Effect.suspend((): Effect.Effect<NearestNeighbourIndex, WorkerIndexError> => {
    const calibrate = options.hnsw !== undefined && options.hnsw.efSearch === undefined
      ? options.calibrate
      : undefined;
    const hnsw: HnswParams | undefined = options.hnsw === undefined
      ? undefined
      : { ...HNSW_DEFAULTS, seed: 0, ...options.hnsw };
    const kind = hnsw === undefined ? "exact" : "HNSW";
    const name = options.name ?? `${kind} index in a worker (${points.rows}×${points.cols})`;
    const bad = firstNonFiniteRow(points);
    if (bad >= 0) return Effect.fail(new NonFiniteVector({ index: name, what: "point", row: bad }));
    if (hnsw !== undefined) {
      const checked = Effect.runSyncExit(checkHnswParams(hnsw));
      if (Exit.isFailure(checked)) return Effect.failCause(checked.cause);
    }
    if (calibrate !== undefined) {
      const checked = Effect.runSyncExit(calibrationSettings(calibrate));
      if (Exit.isFailure(checked)) return Effect.failCause(checked.cause);
    }
    // Known once the worker has built the index (a calibrated efSearch is chosen there).
    let params = hnsw;
    let calibration: EfCalibration | undefined;
    const worker = new Worker(new URL("./search_worker.ts", import.meta.url), { type: "module" });
    const pending = new Map<number, (reply: SearchReply) => void>();
    let nextId = 0;
    let closed = false;
    const ready = Effect.callback<void, SearchWorkerError>((resume) => {
      worker.onmessage = (event: MessageEvent<SearchReply>) => {
        const reply = event.data;
        if (reply.type === "ready") {
          params = reply.params;
          calibration = reply.calibration;
          return resume(Effect.void);
        }
        if (reply.type === "failed" && reply.id === -1) {
          return resume(Effect.fail(new SearchWorkerError({ index: name, reason: reply.reason })));
        }
        if (reply.type === "found" || reply.type === "failed" || reply.type === "written") {
          const done = pending.get(reply.id);
          pending.delete(reply.id);
          done?.(reply);
        }
      };
      worker.onerror = (event) => {
        event.preventDefault();
        const reason = event.message;
        resume(Effect.fail(new SearchWorkerError({ index: name, reason })));
        for (const done of pending.values()) done({ type: "failed", id: -1, reason });
        pending.clear();
      };
      const data = points.data.slice();
      const request: SearchRequest = {
        type: "build",
        rows: points.rows,
        cols: points.cols,
        data,
        name,
        ...(hnsw === undefined ? {} : {
          hnsw: calibrate === undefined
            ? hnsw
            : { M: hnsw.M, efConstruction: hnsw.efConstruction, seed: hnsw.seed },
        }),
        ...(calibrate === undefined ? {} : { calibrate }),
      };
      worker.postMessage(request, [data.buffer]);
    });
    const index: NearestNeighbourIndex = {
      kind: hnsw === undefined ? "exact" : "hnsw",
      size: points.rows,
      dim: points.cols,
      name,
      points,
      get params() {
        return params;
      },
      get calibration() {
        return calibration;
      },
      dispose: () => {
        if (closed) return;
        closed = true;
        registerGraphWriter(index, undefined);
        // The worker frees its index (an HNSW graph's native memory at once) and closes; the
        // messages before this one (searches in flight) are answered first.
        const request: SearchRequest = { type: "dispose" };
        worker.postMessage(request);
      },
      search: (queries, k) =>
        Effect.flatMap(
          checkSearch(index, queries, k),
          () =>
            closed
              ? Effect.die(new Error(`${name} was disposed`))
              : Effect.callback<Neighbours>((resume) => {
                const id = nextId++;
                pending.set(id, (reply) => {
                  if (reply.type === "found") {
                    resume(Effect.succeed({
                      rows: queries.rows,
                      k,
                      distances: reply.distances,
                      indices: reply.indices,
                    }));
                  } else {
                    const reason = reply.type === "failed" ? reply.reason : "no reply";
                    resume(Effect.die(new SearchWorkerError({ index: name, reason })));
                  }
                });
                const data = queries.data.slice(0, queries.rows * queries.cols);
                const request: SearchRequest = { type: "search", id, rows: queries.rows, data, k };
                worker.postMessage(request, [data.buffer]);
              }),
        ),
    };
    if (hnsw !== undefined) {
      // `saveIndex` writes the graph through this: the worker writes it (hnswlib's format).
      registerGraphWriter(index, (path) =>
        new Promise<void>((resolve, reject) => {
          if (closed) return reject(new Error(`${name} was disposed`));
          const id = nextId++;
          pending.set(id, (reply) =>
            reply.type === "written"
              ? resolve()
              : reject(new Error(reply.type === "failed" ? reply.reason : "no reply")));
          const request: SearchRequest = { type: "write", id, path };
          worker.postMessage(request);
        }));
    }
    return Effect.as(
      Effect.onError(ready, () => Effect.sync(() => worker.terminate())),
      index,
    );
  });
