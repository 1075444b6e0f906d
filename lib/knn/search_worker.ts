/**
 * The Web Worker behind `worker_index.ts`: it holds its own index (exact, or an HNSW graph
 * built with hnswlib-node, whose addon loads in a worker as on the main thread) over a copy of
 * the points and answers searches, so a search runs on another core while the main thread goes
 * on (with the next batch's forward pass, say).
 *
 * Protocol: `build` (the points, transferred; HNSW parameters or none for exact; how to calibrate
 * efSearch) → `ready` (the index's parameters and calibration) |
 * `failed`; `search` (an id, the queries, k; transferred) → `found` (distances and indices,
 * transferred) | `failed`; `write` (an id, a path: the HNSW graph in hnswlib's format) →
 * `written` | `failed`; `dispose` → the worker disposes its index (an HNSW graph's native memory
 * is freed at once, see `hnsw.ts`) and closes itself.
 *
 * @module
 */
import { Effect, Exit } from "effect";
import { exactIndex } from "./exact.ts";
import type { EfCalibration, EfCalibrationOptions } from "./calibrate.ts";
import { hnswIndex, writeHnswGraph } from "./hnsw.ts";
import type { HnswParams, NearestNeighbourIndex } from "./types.ts";

/** Messages to the worker. */
export type SearchRequest =
  | {
    readonly type: "build";
    readonly rows: number;
    readonly cols: number;
    readonly data: Float32Array;
    readonly name: string;
    /** Build an HNSW graph with these parameters; absent = the exact index. */
    readonly hnsw?: Omit<HnswParams, "efSearch"> & { readonly efSearch?: number };
    /** Calibrate the HNSW graph's efSearch (when `hnsw.efSearch` is absent). */
    readonly calibrate?: EfCalibrationOptions;
  }
  | { readonly type: "write"; readonly id: number; readonly path: string }
  | { readonly type: "dispose" }
  | {
    readonly type: "search";
    readonly id: number;
    readonly rows: number;
    readonly data: Float32Array;
    readonly k: number;
  };

/** Messages from the worker. */
export type SearchReply =
  | {
    readonly type: "ready";
    /** The built index's parameters (HNSW: with its efSearch, calibrated or given). */
    readonly params: HnswParams | undefined;
    readonly calibration: EfCalibration | undefined;
  }
  | { readonly type: "written"; readonly id: number }
  | {
    readonly type: "found";
    readonly id: number;
    readonly distances: Float64Array;
    readonly indices: Int32Array;
  }
  | { readonly type: "failed"; readonly id: number; readonly reason: string };

/** What the worker's scope looks like from here (`self` in a module worker). */
interface WorkerScope {
  onmessage: ((event: MessageEvent<SearchRequest>) => void) | null;
  postMessage(message: SearchReply, transfer?: Array<ArrayBuffer>): void;
}

if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  const scope = globalThis as unknown as WorkerScope;
  let index: NearestNeighbourIndex | undefined;
  const reason = (cause: unknown) => cause instanceof Error ? cause.message : String(cause);
  scope.onmessage = (event) => {
    const request = event.data;
    if (request.type === "build") {
      const points = { rows: request.rows, cols: request.cols, data: request.data };
      const build: Effect.Effect<NearestNeighbourIndex, unknown> = request.hnsw === undefined
        ? exactIndex(points, { name: request.name })
        : hnswIndex(points, {
          ...request.hnsw,
          ...(request.calibrate === undefined ? {} : { calibrate: request.calibrate }),
          name: request.name,
        });
      void Effect.runPromiseExit(build).then((built) => {
        if (Exit.isSuccess(built)) {
          index = built.value;
          scope.postMessage({
            type: "ready",
            params: index.params,
            calibration: index.calibration,
          });
        } else {
          scope.postMessage({ type: "failed", id: -1, reason: String(built.cause) });
        }
      });
      return;
    }
    if (request.type === "dispose") {
      index?.dispose();
      index = undefined;
      (globalThis as unknown as { close: () => void }).close();
      return;
    }
    if (request.type === "write") {
      writeHnswGraph(index!, request.path).then(
        () => scope.postMessage({ type: "written", id: request.id }),
        (cause) => scope.postMessage({ type: "failed", id: request.id, reason: reason(cause) }),
      );
      return;
    }
    try {
      const found = Effect.runSync(
        index!.search({ rows: request.rows, cols: index!.dim, data: request.data }, request.k),
      );
      scope.postMessage(
        { type: "found", id: request.id, distances: found.distances, indices: found.indices },
        [found.distances.buffer as ArrayBuffer, found.indices.buffer as ArrayBuffer],
      );
    } catch (cause) {
      scope.postMessage({ type: "failed", id: request.id, reason: reason(cause) });
    }
  };
}
