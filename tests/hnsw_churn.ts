/**
 * Run by tests/hnsw_memory_test.ts in a process of its own (with `--expose-gc`): makes
 * `rounds` HNSW graphs one after another and holds every graph object to the end, so no napi
 * finalizer runs and only `dispose` can free native memory (an unreachable graph is freed
 * whenever the collector gets to it, which would hide a `dispose` that frees nothing). Modes:
 * `dispose` builds 5,000 × 64 points, wraps the graph as grood does (`wrapHnsw`) and disposes
 * it; `keep` builds the same and keeps it; `empty` makes a graph of one point, the floor every
 * live hnswlib graph costs (its 65,536 label locks, 2.5 MiB, which only the finalizer frees).
 * After each round a full collection and an event-loop turn settle the process; it prints the
 * anonymous resident memory outside V8's heap (MiB) after round `warmUp` and after the last,
 * as JSON. V8's heap is left out because it grows in steps of about 16 MiB when the collector
 * chooses to; file-backed pages (the deno binary's code) are left out because the kernel's
 * DAMON reclaimer (kdamond, action `pageout`) drops cold ones at any time. Both made the whole
 * resident size too noisy (they failed CI runs).
 */
import { Effect } from "effect";
import type { HierarchicalNSW } from "hnswlib-node";
import { loadHnsw, wrapHnsw } from "../lib/knn/hnsw.ts";

const [roundsArg, warmUpArg, mode] = Deno.args;
const rounds = Number(roundsArg), warmUp = Number(warmUpArg);
const rows = 5000, cols = 64;
const points = {
  rows,
  cols,
  data: Float32Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 12.9898) % 1),
};
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

/** Anonymous resident memory (MiB) from /proc/self/status, less V8's heap. */
async function settledNativeRss(): Promise<number> {
  gc!();
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc!();
  const status = await Deno.readTextFile("/proc/self/status");
  const anonKiB = Number(/^RssAnon:\s+(\d+) kB$/m.exec(status)?.[1]);
  if (!Number.isFinite(anonKiB)) throw new Error("no RssAnon in /proc/self/status");
  return anonKiB / 1024 - Deno.memoryUsage().heapTotal / 2 ** 20;
}

const hnsw = await Effect.runPromise(loadHnsw);
const held: HierarchicalNSW[] = [];
const rss: Record<string, number> = {};
for (let round = 0; round < rounds; round++) {
  const graph = new hnsw.HierarchicalNSW("l2", cols);
  held.push(graph);
  if (mode === "empty") {
    graph.initIndex(1, 16, 40, round);
    graph.addPoint(Array.from(points.data.subarray(0, cols)), 0);
  } else {
    graph.initIndex(rows, 16, 40, round);
    for (let i = 0; i < rows; i++) {
      graph.addPoint(Array.from(points.data.subarray(i * cols, (i + 1) * cols)), i);
    }
    const params = { M: 16, efConstruction: 40, efSearch: 40, seed: round };
    const index = wrapHnsw(graph, points, params, `churn ${round}`);
    if (mode === "dispose") index.dispose();
  }
  const resident = await settledNativeRss();
  if (round === warmUp) rss.afterWarmUp = resident;
  if (round === rounds - 1) rss.end = resident;
}
console.log(JSON.stringify({ ...rss, held: held.length }));
