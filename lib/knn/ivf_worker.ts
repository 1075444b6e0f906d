/**
 * The Web Worker behind a multi-threaded IVF index (`ivf_threads.ts`): it scans a range of
 * lists over the index's shared WebAssembly memory (the points are not copied) and sends back
 * each query's candidates.
 *
 * Protocol: `init` (the scan view: the shared memory, the slot tables, this worker's scratch)
 * → nothing; `scan` (an id and a `ScanJob`) → `scanned` (the candidates, transferred) |
 * `failed`. The owner terminates the worker.
 *
 * @module
 */
import { type Candidates, listScanner, type ScanJob, type ScanView } from "./ivf_scan.ts";

/** Messages to the worker. */
export type IvfWorkerRequest =
  | { readonly type: "init"; readonly view: ScanView }
  | { readonly type: "scan"; readonly id: number; readonly job: ScanJob };

/** Messages from the worker. */
export type IvfWorkerReply =
  | { readonly type: "scanned"; readonly id: number; readonly found: Candidates }
  | { readonly type: "failed"; readonly id: number; readonly reason: string };

interface WorkerScope {
  onmessage: ((event: MessageEvent<IvfWorkerRequest>) => void) | null;
  postMessage(message: IvfWorkerReply, transfer?: Array<ArrayBuffer>): void;
}

if (typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined") {
  const scope = globalThis as unknown as WorkerScope;
  let scan: ((job: ScanJob) => Candidates) | undefined;
  scope.onmessage = (event) => {
    const request = event.data;
    if (request.type === "init") {
      scan = listScanner(request.view);
      return;
    }
    try {
      const found = scan!(request.job);
      scope.postMessage({ type: "scanned", id: request.id, found }, [
        found.values.buffer as ArrayBuffer,
        found.slots.buffer as ArrayBuffer,
      ]);
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      scope.postMessage({ type: "failed", id: request.id, reason });
    }
  };
}
