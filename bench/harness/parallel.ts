/**
 * How much parallel compute the machine really gives: the same CPU-bound loop in one Web
 * Worker alone, then in two at once. Two real cores finish the pair in about the time of one
 * (ceiling ≈ 2×); two virtual CPUs time-sliced on one physical core take twice as long
 * (ceiling ≈ 1×), and then no data-parallel scheme can reach a 2-worker speed-up target.
 *
 * Why workers with a plain integer loop: no memory traffic, no tfjs, no shared runtime state,
 * so the only thing two copies can contend for is the CPU itself.
 *
 * @module
 */
import { median } from "./measure.ts";

/** The spin loop, as a worker module (a data: URL, so the probe needs no file of its own). */
const SPIN_WORKER = `
self.onmessage = (event) => {
  const iterations = event.data;
  const started = performance.now();
  let x = 0;
  for (let i = 0; i < iterations; i++) x = (x + (i % 7)) | 0;
  self.postMessage({ millis: performance.now() - started, x });
};
`;

/** Run the loop in `count` workers at once; the wall-clock milliseconds until all are done. */
async function spinTogether(count: number, iterations: number): Promise<number> {
  const url = `data:application/javascript;base64,${btoa(SPIN_WORKER)}`;
  const workers = Array.from({ length: count }, () => new Worker(url, { type: "module" }));
  try {
    // Start them together only once every worker is up (a first tiny run loads each one).
    await Promise.all(workers.map((w) => run(w, 1000)));
    const started = performance.now();
    await Promise.all(workers.map((w) => run(w, iterations)));
    return performance.now() - started;
  } finally {
    for (const w of workers) w.terminate();
  }
}

function run(worker: Worker, iterations: number): Promise<void> {
  return new Promise((resolve, reject) => {
    worker.onmessage = () => resolve();
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`spin worker failed: ${event.message}`));
    };
    worker.postMessage(iterations);
  });
}

/** The parallel ceiling of two workers, from `runs` paired measurements. */
export interface ParallelCeiling {
  /** Per run: 2 × (time of one worker alone) / (time of two workers together). */
  readonly ceilings: ReadonlyArray<number>;
  readonly median: number;
  readonly oneMillis: ReadonlyArray<number>;
  readonly twoMillis: ReadonlyArray<number>;
}

/**
 * Measure how many workers' worth of work two workers do in parallel (≈ 2 on two free cores).
 * `iterations` sets the length of one loop (default 8·10⁸: about a second on a current core).
 */
export async function parallelCeiling(runs: number, iterations = 8e8): Promise<ParallelCeiling> {
  const oneMillis: Array<number> = [];
  const twoMillis: Array<number> = [];
  const ceilings: Array<number> = [];
  for (let i = 0; i < runs; i++) {
    const one = await spinTogether(1, iterations);
    const two = await spinTogether(2, iterations);
    oneMillis.push(one);
    twoMillis.push(two);
    ceilings.push((2 * one) / two);
  }
  return { ceilings, median: median(ceilings), oneMillis, twoMillis };
}
