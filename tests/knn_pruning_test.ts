/**
 * Norm pruning of the exact index changes nothing: the pruned search returns the same
 * neighbours and the same distances, bit for bit, as the full scan of the same kernel
 * (`pruning: false`), on adversarial cases and on random data (fast-check); and it does skip
 * blocks where norms differ, so the comparison exercises the pruned path.
 */
import assert from "node:assert/strict";
import { Effect } from "effect";
import fc from "fast-check";
import { exactIndex, searchStats } from "../lib/knn/exact.ts";
import type { Neighbours } from "../lib/knn/types.ts";
import { lowerBound, pruningMargin } from "../lib/knn/norm_bound.ts";
import type { Matrix } from "../lib/matrix.ts";
import { mulberry32 } from "../lib/random.ts";

const run = <A, E>(effect: Effect.Effect<A, E>): A => Effect.runSync(effect);

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Rows of `cols` Gaussian values, each row scaled by `scale(random)`. */
function rowsScaled(
  rows: number,
  cols: number,
  seed: number,
  scale: (random: () => number) => number,
): Matrix {
  const random = mulberry32(seed);
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const s = scale(random);
    for (let j = 0; j < cols; j++) data[i * cols + j] = s * gaussian(random);
  }
  return { rows, cols, data };
}

const bits = (a: Float64Array | Float32Array | Int32Array) =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

interface Compared {
  readonly pruned: Neighbours;
  readonly visited: number;
  readonly total: number;
}

/** Search with and without pruning; assert bit-identical results; return the pruned stats. */
function comparePruned(points: Matrix, queries: Matrix, k: number, what: string): Compared {
  const pruned = run(exactIndex(points));
  const plain = run(exactIndex(points, { pruning: false }));
  const a = run(pruned.search(queries, k));
  const b = run(plain.search(queries, k));
  assert.deepEqual(bits(a.indices), bits(b.indices), `${what}: indices differ`);
  assert.deepEqual(bits(a.distances), bits(b.distances), `${what}: distances differ`);
  const stats = searchStats(pruned)!;
  const plainStats = searchStats(plain)!;
  assert.equal(plainStats.blocksVisited, plainStats.blocksTotal, `${what}: plain scan skipped`);
  pruned.dispose();
  plain.dispose();
  return { pruned: a, visited: stats.blocksVisited, total: stats.blocksTotal };
}

/** Log-uniform row scales over `decades` orders of magnitude from `low` (GROOD-like norms). */
const logUniform = (low: number, decades: number) => (random: () => number) =>
  low * 10 ** (decades * random());

Deno.test("pruned search equals the full scan on norms spread over decades, and skips blocks", () => {
  const points = rowsScaled(6000, 16, 1, logUniform(1e-3, 3));
  const queries = rowsScaled(700, 16, 2, logUniform(1e-3, 3));
  for (const k of [1, 4, 10]) {
    const { visited, total } = comparePruned(points, queries, k, `k = ${k}`);
    assert.ok(visited < 0.6 * total, `k = ${k}: pruning visited ${visited} of ${total} blocks`);
  }
});

Deno.test("pruned search keeps exact ties: duplicates across blocks, lower index first", () => {
  // 3,000 points with only 6 distinct values (so every block holds copies of each), queried
  // at the values themselves (distance 0 ties) and between them.
  const distinct = rowsScaled(6, 5, 3, logUniform(0.1, 2));
  const points: Matrix = { rows: 3000, cols: 5, data: new Float32Array(3000 * 5) };
  for (let i = 0; i < 3000; i++) {
    points.data.set(distinct.data.subarray((i % 6) * 5, (i % 6 + 1) * 5), i * 5);
  }
  const between = rowsScaled(40, 5, 4, logUniform(0.1, 2));
  const queries: Matrix = {
    rows: 46,
    cols: 5,
    data: Float32Array.from([...distinct.data, ...between.data]),
  };
  for (const k of [1, 3, 7, 20]) {
    const { pruned } = comparePruned(points, queries, k, `duplicates, k = ${k}`);
    // Query v (one of the distinct values) finds its copies v, v + 6, v + 12, … in order.
    for (let v = 0; v < 6; v++) {
      for (let r = 0; r < k; r++) {
        assert.equal(pruned.indices[v * k + r], v + 6 * r, `value ${v}, rank ${r}`);
        assert.equal(pruned.distances[v * k + r], 0);
      }
    }
  }
});

Deno.test("pruned search equals the full scan when every norm is equal", () => {
  // ±1 coordinates: every point and query has norm exactly √d, so no block can be pruned by
  // norm, and every value ties with many others.
  const signs = (rows: number, seed: number): Matrix => {
    const random = mulberry32(seed);
    return {
      rows,
      cols: 8,
      data: Float32Array.from({ length: rows * 8 }, () => (random() < 0.5 ? -1 : 1)),
    };
  };
  // The index centres points on their mean, so norms are only nearly equal after centring;
  // a symmetric set (each point and its negation) has mean 0 exactly.
  const half = signs(1500, 5);
  const points: Matrix = {
    rows: 3000,
    cols: 8,
    data: Float32Array.from([...half.data, ...half.data.map((v) => -v)]),
  };
  for (const k of [1, 5]) comparePruned(points, signs(300, 6), k, `equal norms, k = ${k}`);
});

Deno.test("pruned search equals the full scan for huge and tiny norms", () => {
  const cases: Array<[string, number, number]> = [
    ["huge (1e15, pruned)", 1e15, 1],
    ["beyond the overflow guard (1e18)", 1e18, 1],
    ["float32 overflow (1e19: NaN values, float64 fallback)", 1e19, 1],
    ["tiny (1e-20: subnormal products)", 1e-20, 1],
    ["subnormal values (1e-42)", 1e-42, 1],
    ["from 1e-30 to 1e10", 1e-30, 40],
  ];
  for (const [what, low, decades] of cases) {
    const points = rowsScaled(2500, 6, 7, logUniform(low, decades));
    const queries = rowsScaled(200, 6, 8, logUniform(low, decades));
    for (const k of [1, 4]) comparePruned(points, queries, k, `${what}, k = ${k}`);
  }
});

Deno.test("pruned search equals the full scan at k = n and for queries far from every point", () => {
  const points = rowsScaled(700, 3, 9, logUniform(0.01, 4));
  const far = rowsScaled(150, 3, 10, () => 1e4);
  const near = rowsScaled(150, 3, 11, logUniform(0.01, 4));
  const queries: Matrix = {
    rows: 300,
    cols: 3,
    data: Float32Array.from([...far.data, ...near.data]),
  };
  for (const k of [1, 699, 700]) comparePruned(points, queries, k, `k = ${k}`);
});

Deno.test("pruned search equals the full scan on random data (fast-check)", () => {
  fc.assert(
    fc.property(
      fc.record({
        n: fc.integer({ min: 1, max: 2200 }),
        d: fc.integer({ min: 1, max: 24 }),
        queries: fc.integer({ min: 1, max: 300 }),
        kShare: fc.double({ min: 0, max: 1, noNaN: true }),
        low: fc.integer({ min: -25, max: 15 }),
        decades: fc.integer({ min: 0, max: 12 }),
        offset: fc.double({ min: -1e3, max: 1e3, noNaN: true }),
        seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      }),
      ({ n, d, queries, kShare, low, decades, offset, seed }) => {
        const k = Math.max(1, Math.min(n, Math.round(kShare ** 4 * n)));
        const scale = logUniform(10 ** low, decades);
        const shift = (m: Matrix): Matrix => ({ ...m, data: m.data.map((v) => v + offset) });
        comparePruned(
          shift(rowsScaled(n, d, seed, scale)),
          shift(rowsScaled(queries, d, seed + 1, scale)),
          k,
          `n ${n}, d ${d}, k ${k}, norms 1e${low} × 10^${decades}, offset ${offset}`,
        );
      },
    ),
    { numRuns: 60, seed: 13 },
  );
});

Deno.test("the norm bound is below the kernel's float32 values it must bound", () => {
  // Against an independent float32 emulation of the centring and the kernel (Math.fround at
  // every operation), for pairs that make the bound tight: p parallel to q from the origin
  // (so the gap of norms is the distance), with huge and tiny norms and means.
  const random = mulberry32(12);
  let tight = 0;
  for (const d of [1, 7, 64, 512]) {
    const margin = pruningMargin(d);
    for (let trial = 0; trial < 300; trial++) {
      const scale = 10 ** (-30 + 45 * random());
      const q = Float32Array.from({ length: d }, () => scale * gaussian(random));
      const stretch = 10 ** (4 * random() - 2);
      const p = q.map((v) => v * stretch * (1 + 1e-7 * gaussian(random)));
      const mean = Float64Array.from({ length: d }, () => scale * 10 ** (2 * random() - 2));
      const qc = q.map((v, j) => v - mean[j]!); // Float32Array: rounded as the index does
      const pc = p.map((v, j) => v - mean[j]!);
      let dot = 0;
      let pn = 0;
      let qn = 0;
      let qRaw = 0;
      let pRaw = 0;
      for (let j = 0; j < d; j++) {
        dot = Math.fround(dot + Math.fround(qc[j]! * pc[j]!));
        pn += pc[j]! * pc[j]!;
        qn += qc[j]! * qc[j]!;
        qRaw += q[j]! * q[j]!;
        pRaw += p[j]! * p[j]!;
      }
      const value = Math.fround(Math.fround(pn) - 2 * dot);
      const bound = lowerBound(
        { raw: Math.sqrt(qRaw), centred: Math.sqrt(qn) },
        { rawLow: Math.sqrt(pRaw), rawHigh: Math.sqrt(pRaw), centredHigh: Math.sqrt(pn) },
        margin,
      );
      assert.ok(bound <= value, `d ${d}, trial ${trial}: bound ${bound} > value ${value}`);
      if (value - bound <= 1e-3 * Math.abs(value)) tight++;
    }
  }
  // The bound is not vacuous: within 0.1% of the value for most of these pairs.
  assert.ok(tight > 600, `bound within 0.1% in only ${tight} of 1200 cases`);
});
