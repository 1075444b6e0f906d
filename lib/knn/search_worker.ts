/**
 * The Web Worker behind a multi-threaded search over an index's shared WebAssembly memory, and
 * {@link startWorkers}, which starts and terminates them. Protocols: **exact**: `exact` (the
 * layout, its thread number), then `search` (a job's `SharedArrayBuffer`): it takes query blocks
 * (`exact_block.ts`) and writes their rows into the shared result, sending nothing (a failure is
 * recorded in the job). **ivf**: `ivf` (the scan view), then `scan` (an id, a range of lists) →
 * `scanned` (the candidates, transferred) | `failed`.
 *
 * @module
 */
import { blockSearcher, type ExactLayout, failJob, jobViews } from "./exact_block.ts";
import { type Candidates, listScanner, type ScanJob, type ScanView } from "./ivf_scan.ts";

/** Messages to the worker. */
export type WorkerRequest =
  | { readonly type: "exact"; readonly layout: ExactLayout; readonly thread: number }
  | {
    readonly type: "search";
    readonly buffer: SharedArrayBuffer;
    readonly rows: number;
    readonly k: number;
  }
  | { readonly type: "ivf"; readonly view: ScanView }
  | { readonly type: "scan"; readonly id: number; readonly job: ScanJob };

/** Messages from the worker (replies to `scan`). */
export type ScanReply =
  | { readonly type: "scanned"; readonly id: number; readonly found: Candidates }
  | { readonly type: "failed"; readonly id: number; readonly reason: string };

/** This module, the script of every search worker. */
export const WORKER_SCRIPT: URL = new URL(import.meta.url);

let liveWorkers = 0;

/** Search workers started and not yet terminated (tests check none leak). */
export const liveSearchWorkers = (): number => liveWorkers;

/** Start `count` workers of `script`, worker i sent `init(i)`; `broken` hears why one failed. */
export function startWorkers(
  script: URL,
  count: number,
  init: (i: number) => WorkerRequest,
  broken: (reason: string) => void,
) {
  const workers = Array.from({ length: count }, (_, i) => {
    const worker = new Worker(script, { type: "module" });
    liveWorkers++;
    worker.onerror = (event) => {
      event.preventDefault();
      broken(event.message);
    };
    worker.onmessageerror = () => broken("a message could not be read");
    worker.postMessage(init(i));
    return worker;
  });
  let stopped = false;
  return {
    workers,
    /** Terminate them (again: nothing). */
    stop: () => {
      if (stopped) return;
      stopped = true;
      for (const worker of workers) worker.terminate();
      liveWorkers -= workers.length;
    },
  };
}

interface WorkerScope {
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(message: ScanReply, transfer?: Array<ArrayBuffer>): void;
}

if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  const scope = globalThis as unknown as WorkerScope;
  const reasonOf = (cause: unknown) => cause instanceof Error ? cause.message : String(cause);
  let search: ReturnType<typeof blockSearcher> | undefined;
  let dim = 0;
  let scan: ((job: ScanJob) => Candidates) | undefined;
  scope.onmessage = ({ data: request }) => {
    if (request.type === "exact") {
      search = blockSearcher(request.layout, request.thread);
      dim = request.layout.points.cols;
    } else if (request.type === "ivf") {
      scan = listScanner(request.view);
    } else if (request.type === "search") {
      const job = jobViews(request.buffer, request.rows, dim, request.k);
      try {
        search!(job);
      } catch (cause) {
        failJob(job, reasonOf(cause));
      }
    } else {
      try {
        const found = scan!(request.job);
        scope.postMessage({ type: "scanned", id: request.id, found }, [
          found.values.buffer as ArrayBuffer,
          found.slots.buffer as ArrayBuffer,
        ]);
      } catch (cause) {
        scope.postMessage({ type: "failed", id: request.id, reason: reasonOf(cause) });
      }
    }
  };
}
