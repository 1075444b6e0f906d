/**
 * "Exact" means exact: the exact index returns the true k nearest neighbours (ties by index)
 * at any scale, as a float64 brute force does, for data whose norms span 10⁻⁷ to 10² (GROOD's
 * descriptors: well-classified images sit 10⁻¹³ to 10⁻¹¹ apart, far below the float32 error
 * of centred coordinates), with and without norm pruning; and a search shared by threads returns
 * the one-thread result bit for bit.
 */
import assert from "node:assert/strict";
import { Effect } from "effect";
import fc from "fast-check";
import { squaredDistance } from "../lib/distance.ts";
import { EXACT_DEFAULTS, exactIndex, exactIndexWith, searchStats } from "../lib/knn/exact.ts";
import { knn } from "../lib/detectors/knn.ts";
import { fitAndScore, fitInputs, handSet } from "./hand_sets.ts";
import { liveSearchWorkers } from "../lib/knn/search_worker.ts";
import { buildIndex, IndexSpec } from "../lib/knn/registry.ts";
import { decodeStrict } from "../lib/decode.ts";
import type { Matrix } from "../lib/matrix.ts";
import { mulberry32 } from "../lib/random.ts";

const run = <A, E>(effect: Effect.Effect<A, E>): A => Effect.runSync(effect);

/** The k nearest of every query by float64 squared distance, ties by index. */
function bruteForce(points: Matrix, queries: Matrix, k: number): Int32Array {
  const d = points.cols;
  const out = new Int32Array(queries.rows * k);
  for (let q = 0; q < queries.rows; q++) {
    const ranked = Array.from({ length: points.rows }, (_, i) => ({
      d2: squaredDistance(queries.data, q * d, points.data, i * d, d),
      i,
    })).sort((a, b) => a.d2 - b.d2 || a.i - b.i);
    for (let r = 0; r < k; r++) out[q * k + r] = ranked[r]!.i;
  }
  return out;
}

/**
 * Rows whose norms span decades: direction random, norm 10^U(lo, hi); a share of them in a
 * tight clump (a common tiny vector plus offsets `spread` times smaller), as GROOD's
 * descriptors of well-classified images.
 */
function descriptors(
  rows: number,
  cols: number,
  seed: number,
  clumpShare: number,
  spread: number,
): Matrix {
  const random = mulberry32(seed);
  const data = new Float32Array(rows * cols);
  const centre = Array.from({ length: cols }, () => 1e-6 * (random() - 0.5));
  for (let i = 0; i < rows; i++) {
    if (random() < clumpShare) {
      for (let j = 0; j < cols; j++) {
        data[i * cols + j] = centre[j]! + 1e-6 * spread * (random() - 0.5);
      }
    } else {
      const norm = 10 ** (-7 + 9 * random());
      const v = Array.from({ length: cols }, () => random() - 0.5);
      const length = Math.hypot(...v);
      for (let j = 0; j < cols; j++) data[i * cols + j] = norm * v[j]! / length;
    }
  }
  return { rows, cols, data };
}

Deno.test("exact search equals a float64 brute force on descriptors spanning 1e-7 to 1e2", () => {
  let mismatches = 0;
  let bandSearches = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 50, max: 1200 }),
      fc.integer({ min: 1, max: 16 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.double({ min: 0, max: 0.9, noNaN: true }),
      fc.constantFrom(1e-7, 1e-5, 1e-3),
      fc.boolean(),
      (n, d, k, seed, clumpShare, spread, pruning) => {
        const all = descriptors(n + 40, d, seed, clumpShare, spread);
        const points = { rows: n, cols: d, data: all.data.subarray(0, n * d) };
        const queries = { rows: 40, cols: d, data: all.data.subarray(n * d) };
        const index = run(exactIndex(points, { pruning }));
        const found = run(index.search(queries, k));
        bandSearches += searchStats(index)!.bandSearches;
        index.dispose();
        const expected = bruteForce(points, queries, k);
        for (let i = 0; i < expected.length; i++) {
          if (found.indices[i] !== expected[i]) mismatches++;
        }
        // Distances are the float64 distances of the returned points.
        for (let q = 0; q < queries.rows; q++) {
          for (let r = 0; r < k; r++) {
            const p = found.indices[q * k + r]!;
            const exact = Math.sqrt(squaredDistance(queries.data, q * d, points.data, p * d, d));
            assert.equal(found.distances[q * k + r], exact);
          }
        }
        assert.equal(mismatches, 0, `n ${n}, d ${d}, k ${k}, seed ${seed}`);
      },
    ),
    { numRuns: 60, seed: 23 },
  );
  // The certificate failed for some queries, so the band search was exercised.
  assert.ok(bandSearches > 0, "no band search was needed: the test is too easy");
});

Deno.test("exact search keeps a clump 1e-13 apart in order, where float32 ranking scrambled it", () => {
  // 2,000 large points set the centring mean; 500 points 1e-13·i from a tiny base vector.
  const d = 8;
  const random = mulberry32(4);
  const rows: Array<number> = [];
  for (let i = 0; i < 2000; i++) {
    for (let j = 0; j < d; j++) rows.push(50 * (random() - 0.2));
  }
  const base = Array.from({ length: d }, () => 1e-6 * (1 + random()));
  for (let i = 0; i < 500; i++) {
    for (let j = 0; j < d; j++) rows.push(j === 0 ? base[0]! * (1 + 2e-7 * i) : base[j]!);
  }
  const points = { rows: 2500, cols: d, data: Float32Array.from(rows) };
  // Queries: clump points themselves (shifted a hair), whose true neighbour is next door.
  const queries = {
    rows: 50,
    cols: d,
    data: Float32Array.from(
      { length: 50 * d },
      (_, x) => points.data[(2000 + 10 * Math.floor(x / d)) * d + (x % d)]!,
    ),
  };
  for (const pruning of [true, false]) {
    const index = run(exactIndex(points, { pruning }));
    const found = run(index.search(queries, 3));
    index.dispose();
    assert.deepEqual([...found.indices], [...bruteForce(points, queries, 3)], `pruning ${pruning}`);
  }
});

const bits = (a: Float64Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("a search on 2 and 3 threads returns the one-thread neighbours, distances and stats", async () => {
  // Query counts off the block of 128; descriptors spanning 1e-7 to 1e2, with clumps (band
  // searches) and plain Gaussian-like rows; k = 1 and k > 1; pruning on and off.
  const cases = [
    { all: descriptors(3000 + 549, 12, 7, 0.5, 1e-5), n: 3000 },
    { all: descriptors(4000 + 1000, 5, 8, 0, 1e-3), n: 4000 },
  ];
  let bandSearches = 0;
  for (const { all, n } of cases) {
    const d = all.cols;
    const points = { rows: n, cols: d, data: all.data.subarray(0, n * d) };
    const queries = { rows: all.rows - n, cols: d, data: all.data.subarray(n * d) };
    for (const pruning of [true, false]) {
      const one = run(exactIndex(points, { pruning, threads: 1 }));
      const many = [2, 3].map((threads) =>
        run(exactIndex(points, { pruning, threads, parallelWork: 0 }))
      );
      for (const k of [1, 4]) {
        const expected = run(one.search(queries, k));
        const { workerBlocks: none, ...stats } = searchStats(one)!;
        assert.equal(none, 0);
        bandSearches += stats.bandSearches;
        for (const [m, index] of many.entries()) {
          const what = `threads ${m + 2}, pruning ${pruning}, k ${k}`;
          // Until the workers took a share (a worker starting, or starved of a core, may miss
          // a search: the calling thread takes every block then); each search compared.
          let shared = 0;
          for (let attempt = 0; attempt < 200 && shared === 0; attempt++) {
            const found = run(index.search(queries, k));
            const { workerBlocks, ...same } = searchStats(index)!;
            assert.deepEqual(bits(found.indices), bits(expected.indices), `${what}: indices`);
            assert.deepEqual(bits(found.distances), bits(expected.distances), `${what}: distances`);
            assert.deepEqual(same, stats, `${what}: stats`);
            shared = workerBlocks;
            if (shared === 0) await pause(50);
          }
          assert.ok(shared > 0, `${what}: the workers never took a query block`);
        }
      }
      for (const index of [one, ...many]) index.dispose();
    }
  }
  assert.ok(bandSearches > 0, "no band search was needed: the test is too easy");
  assert.equal(liveSearchWorkers(), 0, "a disposed index left a worker running");
});

Deno.test("a threaded search after dispose() fails as a defect; bad threads are typed errors", () => {
  const points = descriptors(1000, 4, 3, 0, 1e-3);
  const index = run(exactIndex(points, { threads: 2, parallelWork: 0 }));
  run(index.search(points, 2)); // the worker starts
  index.dispose();
  index.dispose(); // twice is harmless
  const exit = Effect.runSyncExit(index.search(points, 2));
  assert.ok(exit._tag === "Failure" && String(exit.cause).includes("was disposed"));
  assert.equal(liveSearchWorkers(), 0);
  for (const threads of [0, 1.5, Number.NaN]) {
    const failed = Effect.runSyncExit(Effect.flip(exactIndex(points, { threads })));
    assert.ok(failed._tag === "Success" && failed.value._tag === "InvalidParameter");
  }
});

/** A worker module from source, in a temporary folder. */
const workerModule = (source: string): URL => {
  const path = `${Deno.makeTempDirSync({ prefix: "grood-exact-worker-" })}/worker.js`;
  Deno.writeTextFileSync(path, source);
  return new URL(`file://${path}`);
};

Deno.test("a worker that fails mid-search, or dies, gives a SearchWorkerError", async () => {
  const points = descriptors(20_000, 4, 5, 0, 1e-3);
  // Takes a query block and fails on it, as the worker does when its search throws.
  const failing = workerModule(`
    import { failJob, jobViews, NEXT } from "${new URL(
    "../lib/knn/exact_block.ts",
    import.meta.url,
  )}";
    onmessage = (event) => {
      const r = event.data;
      if (r.type !== "search") return;
      const job = jobViews(r.buffer, r.rows, 4, r.k);
      Atomics.add(job.counters, NEXT, 1);
      failJob(job, "boom");
    };`);
  // Throws as it loads: its error event marks the index's workers dead.
  const dying = workerModule(`throw new Error("cannot start");`);
  try {
    // Enough query blocks that the worker takes one before the calling thread has taken all.
    const queries = descriptors(128 * 64, 4, 6, 0, 1e-3);
    const index = run(exactIndexWith(points, { threads: 2, parallelWork: 0 }, failing));
    let error: unknown;
    // Until the worker takes a block (while it starts, the calling thread takes them all).
    for (let attempt = 0; attempt < 200 && error === undefined; attempt++) {
      const exit = Effect.runSyncExit(Effect.flip(index.search(queries, 1)));
      if (exit._tag === "Success") error = exit.value;
      else await pause(50);
    }
    assert.ok(error !== undefined, "the failing worker never took a block");
    assert.equal((error as { _tag: string })._tag, "SearchWorkerError");
    assert.match(String((error as Error).message), /boom/);
    index.dispose();

    const dead = run(exactIndexWith(points, { threads: 2, parallelWork: 0 }, dying));
    // The first search starts the worker; the calling thread does every block meanwhile.
    const first = run(dead.search(points, 1));
    assert.equal(first.rows, points.rows);
    let tag: string | undefined;
    for (let attempt = 0; attempt < 100 && tag === undefined; attempt++) {
      await pause(100); // until the error event arrives
      const exit = Effect.runSyncExit(Effect.flip(dead.search(points, 1)));
      if (exit._tag === "Success") tag = exit.value._tag;
    }
    assert.equal(tag, "SearchWorkerError");
    dead.dispose();
    assert.equal(liveSearchWorkers(), 0);
  } finally {
    for (const url of [failing, dying]) Deno.removeSync(new URL(".", url), { recursive: true });
  }
});

Deno.test("the exact spec takes threads (a whole number ≥ 1), decoded strictly and recorded", () => {
  const decode = (input: unknown) => Effect.runSyncExit(decodeStrict(IndexSpec, "spec")(input));
  for (const bad of [{ threads: 0 }, { threads: 1.5 }, { thread: 2 }, { parallelWork: 0 }]) {
    assert.equal(decode({ kind: "exact", ...bad })._tag, "Failure", JSON.stringify(bad));
  }
  const spec = decode({ kind: "exact", threads: 3 });
  assert.ok(spec._tag === "Success");
  const points = descriptors(300, 3, 9, 0, 1e-3);
  const index = run(buildIndex(spec.value, points, { name: "spec", seed: 0 }));
  assert.deepEqual(index.settings, {}, "threads are not a setting: results do not depend on them");
  index.dispose();
});

Deno.test("knn()'s index shares a large search with its workers and disposes of them", async () => {
  const random = mulberry32(12);
  const rows = (n: number) =>
    Array.from({ length: n }, () => Array.from({ length: 4 }, () => random() * 2 - 0.5));
  // Queries × points × columns past the default threshold, in two query blocks or more.
  const trainRows = rows(2000);
  const queryRows = rows(Math.max(300, Math.ceil(EXACT_DEFAULTS.parallelWork / (2000 * 4))));
  const { scores, fitted } = await fitAndScore(
    knn({ k: 3 }),
    fitInputs(handSet("train", trainRows, trainRows.map(() => [0]))),
    handSet("q", queryRows, queryRows.map(() => [0])),
  );
  assert.equal(scores.length, queryRows.length);
  // The search was large enough for the default threads: the workers started, and live on
  // with the fitted detector until its dispose().
  if (EXACT_DEFAULTS.threads > 1) assert.ok(liveSearchWorkers() > 0);
  fitted.dispose();
  assert.equal(liveSearchWorkers(), 0, "the fitted KNN left a worker running");
});
