/**
 * Run by tests/hnsw_memory_test.ts in a process of its own (with `--expose-gc`): builds
 * `rounds` HNSW indexes of 5,000 × 64 points one after another, each disposed or kept, with a
 * full collection and an event-loop turn after each (napi finalizers, which free the native
 * graphs, run then), and prints the resident memory (MiB) after round `warmUp` and after the
 * last, as JSON.
 */
import { Effect } from "effect";
import { hnswIndex } from "../lib/knn/hnsw.ts";
import type { NearestNeighbourIndex } from "../lib/knn/types.ts";

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

async function settledRss(): Promise<number> {
  gc!();
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc!();
  return Deno.memoryUsage().rss / 2 ** 20;
}

const kept: NearestNeighbourIndex[] = [];
const rss: Record<string, number> = {};
for (let round = 0; round < rounds; round++) {
  const index = await Effect.runPromise(hnswIndex(points, { seed: round, efConstruction: 40 }));
  if (mode === "keep") kept.push(index);
  else index.dispose();
  if (round === warmUp || round === rounds - 1) {
    rss[round === warmUp ? "afterWarmUp" : "end"] = await settledRss();
  }
}
console.log(JSON.stringify({ ...rss, kept: kept.length }));
