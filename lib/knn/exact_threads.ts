/**
 * The threads of an exact index's search: the calling thread and up to `threads − 1` Web
 * Workers (`search_worker.ts`) take the search's blocks of 128 queries from one shared counter,
 * over one shared WebAssembly memory (the kernel's points) and one shared copy of the original
 * points, and each writes its blocks' rows of the shared result (`exact_block.ts`). Which
 * thread takes a block does not change its rows, so any number of threads returns the
 * one-thread result bit for bit. Taking blocks from a counter, rather than a fixed share each,
 * keeps a thread slowed by other load (or a worker still starting) from holding a search up:
 * the calling thread takes whatever the workers have not.
 *
 * The calling thread then waits (`Atomics.wait`) for the blocks the workers took, so a search
 * stays synchronous (`Effect.runSync` still runs it). A worker that throws records why in the
 * job and wakes it; one that stops without a word is caught by a stall limit; one that died
 * between searches (its `error` event) fails the next search. Each is a `SearchWorkerError`.
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
  /**
   * Hand the job on `buffer` to `helpers` workers, which take blocks from its counter as they
   * get to it; a `SearchWorkerError` if a worker has died.
   */
  start(job: ExactJob, buffer: SharedArrayBuffer, helpers: number): SearchWorkerError | undefined;
  /** Terminate the workers. */
  dispose(): void;
}

/**
 * `workers` workers over `layout` (its memory and points' data shared), worker i on scratch
 * i + 1 (the calling thread's is 0). `script` is the worker module (tests substitute one).
 */
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

/**
 * Block the calling thread until every query block of `job` is done (after it has taken the
 * last one itself); a `SearchWorkerError` if a worker failed or stalled.
 */
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
