/**
 * "Exact" means exact: the exact index returns the true k nearest neighbours (ties by index)
 * at any scale, as a float64 brute force does, for data whose norms span 10⁻⁷ to 10² (GROOD's
 * descriptors: well-classified images sit 10⁻¹³ to 10⁻¹¹ apart, far below the float32 error
 * of centred coordinates), with and without norm pruning.
 */
import assert from "node:assert/strict";
import { Effect } from "effect";
import fc from "fast-check";
import { squaredDistance } from "../lib/distance.ts";
import { exactIndex, searchStats } from "../lib/knn/exact.ts";
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
