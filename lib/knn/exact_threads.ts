/**
 * The threads of an exact index's search: the calling thread and up to `threads − 1` Web
 * Workers take blocks of 128 queries from one shared counter, over one shared WebAssembly
 * memory, each writing its blocks' rows of the shared result (`exact_block.ts`), so any number
 * of threads returns the one-thread result bit for bit. The calling thread then waits
 * (`Atomics.wait`), so a search stays synchronous. A worker that throws, stalls or died fails the
 * search with a `SearchWorkerError` (docs/internals/knn.md).
 *
 * @module
 */
import {
  DONE,
  type ExactJob,
  type ExactLayout,
  FAILED,
  failure,
  queryBlocks,
} from "./exact_block.ts";
import { SearchWorkerError } from "./errors.ts";
import { startWorkers, type WorkerRequest } from "./search_worker.ts";

/** A search waits this long for a worker's block before it gives up on the worker. */
const STALL_MS = 300_000;

/** The workers of one exact index (made on its first search that uses them). */
export interface ExactPool {
  /** Hand the job on `buffer` to `helpers` workers; a `SearchWorkerError` if one has died. */
  start(job: ExactJob, buffer: SharedArrayBuffer, helpers: number): SearchWorkerError | undefined;
  /** Terminate the workers. */
  dispose(): void;
}

/** `workers` workers of `script` over `layout` (shared), worker i on scratch i + 1. */
export function exactPool(
  layout: ExactLayout,
  workers: number,
  name: string,
  script: URL,
): ExactPool {
  // Why the pool can no longer search (a worker died); every later search fails with it.
  let broken: string | undefined;
  const init = (i: number): WorkerRequest => ({ type: "exact", layout, thread: i + 1 });
  const pool = startWorkers(script, workers, init, (reason) => broken ??= reason);
  return {
    start: (job, buffer, helpers) => {
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
export function awaitBlocks(job: ExactJob, name: string): SearchWorkerError | undefined {
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
      return new SearchWorkerError({
        index: name,
        reason: `no query block finished in ${STALL_MS / 1000} s (${done} of ${total} done)`,
      });
    }
    Atomics.wait(counters, DONE, done, 1000);
  }
}
