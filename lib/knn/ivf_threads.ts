/**
 * The threads of an IVF index's search: the calling thread and `threads − 1` Web Workers scan
 * disjoint ranges of lists (of about equal work) over one shared WebAssembly memory, and their
 * candidates are merged by (value, point index): the same results as one thread (`ivf_scan.ts`).
 *
 * @module
 */
import { Effect } from "effect";
import type { Layout } from "./ivf_layout.ts";
import {
  type Candidates,
  listScanner,
  mergeCandidates,
  type ScanJob,
  type ScanView,
  splitLists,
} from "./ivf_scan.ts";
import {
  type ScanReply,
  startWorkers,
  WORKER_SCRIPT,
  type WorkerRequest,
} from "./search_worker.ts";
import { SearchWorkerError } from "./errors.ts";
import { scratchOffset } from "./simd_kernel.ts";

/** A scan of every list, split across threads. */
export interface ScanPool {
  /** Every list scanned for the job's queries; the merged candidates. */
  scan(job: Omit<ScanJob, "first" | "end">): Effect.Effect<Candidates>;
  /** Terminate the workers (a scan still waiting on one dies). */
  dispose(): void;
}

/** The scan pool of a layout (its memory must be shared when `threads` > 1). */
export function scanPool(layout: Layout, threads: number, name: string): ScanPool {
  const { memory, dim, slots, rowOf, listStart, listEnd } = layout;
  const lists = listStart.length;
  // The layout's fields a worker can be sent (no functions), and a thread's scratch.
  const shared = { memory, dim, slots, rowOf, listStart, listEnd };
  const view = (i: number): ScanView => ({ ...shared, scratch: scratchOffset(slots, dim, i) });
  const local = listScanner(view(0));
  if (threads === 1) {
    return {
      scan: (job) => Effect.sync(() => local({ ...job, first: 0, end: lists })),
      dispose: () => {},
    };
  }
  const pending = new Map<number, { resolve: (c: Candidates) => void; fail: (e: Error) => void }>();
  let nextId = 0;
  let closed = false;
  const failAll = (reason: string) => {
    for (const { fail } of pending.values()) fail(new SearchWorkerError({ index: name, reason }));
    pending.clear();
  };
  const init = (i: number): WorkerRequest => ({ type: "ivf", view: view(i + 1) });
  const pool = startWorkers(WORKER_SCRIPT, threads - 1, init, failAll);
  for (const worker of pool.workers) {
    worker.onmessage = ({ data: reply }: MessageEvent<ScanReply>) => {
      const done = pending.get(reply.id);
      pending.delete(reply.id);
      if (reply.type === "scanned") done?.resolve(reply.found);
      else done?.fail(new SearchWorkerError({ index: name, reason: reply.reason }));
    };
  }
  return {
    scan: (job) =>
      Effect.suspend(() => {
        if (closed) return Effect.die(new Error(`${name} was disposed`));
        const bounds = splitLists(job.probed, listStart, listEnd, threads);
        const replies = pool.workers.map((worker, i) =>
          new Promise<Candidates>((resolve, fail) => {
            const id = nextId++;
            pending.set(id, { resolve, fail });
            const scan = { ...job, first: bounds[i + 1]!, end: bounds[i + 2]! };
            worker.postMessage({ type: "scan", id, job: scan } satisfies WorkerRequest);
          })
        );
        // The calling thread scans the first range while the workers scan theirs.
        const mine = local({ ...job, first: bounds[0]!, end: bounds[1]! });
        return Effect.map(
          Effect.promise(() => Promise.all(replies)),
          (theirs) => mergeCandidates([mine, ...theirs], job.rows, job.m, rowOf),
        );
      }),
    dispose: () => {
      if (closed) return;
      closed = true;
      pool.stop();
      failAll("the index was disposed");
    },
  };
}
