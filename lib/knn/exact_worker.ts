/**
 * The Web Worker behind a multi-threaded exact search (`exact_threads.ts`): it takes query
 * blocks of a search (`exact_block.ts`) over the index's shared WebAssembly memory and shared
 * copy of the points, writing their rows straight into the search's shared result and counting
 * each done; if it throws, it records why in the job, which wakes the waiting calling thread.
 *
 * Protocol: `init` (the layout: shared memory and points, the tables; this worker's thread
 * number, i.e. its scratch), then `search` (the job's `SharedArrayBuffer` and its shape). It
 * sends nothing back: everything goes through the job's buffer. The owner terminates it.
 *
 * @module
 */
import { blockSearcher, type ExactLayout, failJob, jobViews } from "./exact_block.ts";

/** Messages to the worker. */
export type ExactWorkerRequest =
  | { readonly type: "init"; readonly layout: ExactLayout; readonly thread: number }
  | {
    readonly type: "search";
    readonly buffer: SharedArrayBuffer;
    readonly rows: number;
    readonly k: number;
  };

interface WorkerScope {
  onmessage: ((event: MessageEvent<ExactWorkerRequest>) => void) | null;
}

if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  const scope = globalThis as unknown as WorkerScope;
  let search: ReturnType<typeof blockSearcher> | undefined;
  let dim = 0;
  scope.onmessage = (event) => {
    const request = event.data;
    if (request.type === "init") {
      search = blockSearcher(request.layout, request.thread);
      dim = request.layout.points.cols;
      return;
    }
    const job = jobViews(request.buffer, request.rows, dim, request.k);
    try {
      search!(job);
    } catch (cause) {
      failJob(job, cause instanceof Error ? cause.message : String(cause));
    }
  };
}
