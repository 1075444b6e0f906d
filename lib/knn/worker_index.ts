/**
 * An exact index searched in a Web Worker (`search_worker.ts`): the same neighbours and
 * distances as {@link exactIndex} (the same code runs there), but a search does not block the
 * calling thread, so the caller can run the next batch's forward pass while the previous
 * batch's queries are searched: on two cores, the search leaves the critical path.
 *
 * The worker holds its own copy of the points (the caller keeps `points`, for saving and for
 * the interface). Searches are checked here first (k, dimension, finite queries: the same
 * typed errors as the exact index); `dispose()` terminates the worker.
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
import { Data, Effect } from "effect";
import type { Matrix } from "../matrix.ts";
import { NonFiniteVector } from "./errors.ts";
import { checkSearch, firstNonFiniteRow } from "./rerank.ts";
import type { SearchReply, SearchRequest } from "./search_worker.ts";
import type { NearestNeighbourIndex, Neighbours } from "./types.ts";

/** The search worker could not start or build its index. */
export class SearchWorkerError extends Data.TaggedError("SearchWorkerError")<{
  readonly index: string;
  readonly reason: string;
}> {
  override get message(): string {
    return `The search worker of ${this.index} failed: ${this.reason}`;
  }
}

/** Build an exact index over a copy of `points` in a new worker (see the module doc). */
export const workerIndex = (
  points: Matrix,
  options: { readonly name?: string } = {},
): Effect.Effect<NearestNeighbourIndex, NonFiniteVector | SearchWorkerError> =>
  Effect.suspend((): Effect.Effect<NearestNeighbourIndex, NonFiniteVector | SearchWorkerError> => {
    const name = options.name ?? `exact index in a worker (${points.rows}×${points.cols})`;
    const bad = firstNonFiniteRow(points);
    if (bad >= 0) return Effect.fail(new NonFiniteVector({ index: name, what: "point", row: bad }));
    const worker = new Worker(new URL("./search_worker.ts", import.meta.url), { type: "module" });
    const pending = new Map<number, (reply: SearchReply) => void>();
    let nextId = 0;
    let closed = false;
    const ready = Effect.callback<void, SearchWorkerError>((resume) => {
      worker.onmessage = (event: MessageEvent<SearchReply>) => {
        const reply = event.data;
        if (reply.type === "ready") return resume(Effect.void);
        if (reply.type === "failed" && reply.id === -1) {
          return resume(Effect.fail(new SearchWorkerError({ index: name, reason: reply.reason })));
        }
        if (reply.type === "found" || reply.type === "failed") {
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
      };
      worker.postMessage(request, [data.buffer]);
    });
    const index: NearestNeighbourIndex = {
      kind: "exact",
      size: points.rows,
      dim: points.cols,
      name,
      points,
      params: undefined,
      dispose: () => {
        closed = true;
        worker.terminate();
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
    return Effect.as(
      Effect.onError(ready, () => Effect.sync(() => worker.terminate())),
      index,
    );
  });
