import assert from "node:assert/strict";
import { Effect } from "effect";
import { descriptorStats, fitPowerLaw, quantileSorted } from "../bench/harness/descriptor_stats.ts";
import {
  noiseScales,
  syntheticDescriptors,
  syntheticMatrix,
} from "../bench/harness/synthetic_descriptors.ts";
import { runScale, SCALE_QUICK, scaleFigures, type ScaleRow } from "../bench/harness/scale.ts";
import { mergeScaleRows } from "../bench/harness/scale_section.ts";
import { matrix, mulberry32 } from "../lib/data/mod.ts";

/** GROOD-like descriptors: 4 classes around unit directions, norms over 2.5 decades. */
function groodLike(n: number, d: number, seed: number) {
  const random = mulberry32(seed);
  const classes = Uint8Array.from({ length: n }, () => Math.floor(random() * 4));
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const norm = 10 ** (-3 + 2.5 * random());
    const row = Array.from(
      { length: d },
      (_, j) => (j === classes[i]! ? 1 : 0) + 0.2 * (random() - 0.5),
    );
    const length = Math.hypot(...row);
    for (let j = 0; j < d; j++) data[i * d + j] = (norm * row[j]!) / length;
  }
  return { descriptors: matrix(n, d, data), classes };
}

Deno.test("fitPowerLaw recovers the exponent of an exact power law", () => {
  for (const alpha of [0.5, 1, 2]) {
    const spectrum = Array.from({ length: 64 }, (_, j) => 3 * (j + 1) ** -alpha);
    assert.ok(Math.abs(fitPowerLaw(spectrum) - alpha) < 1e-9, `α = ${alpha}`);
  }
  assert.equal(quantileSorted([1, 2, 3, 4, 5], 0.5), 3);
  assert.equal(quantileSorted([0, 10], 0.25), 2.5);
});

Deno.test("descriptorStats: norm quantiles, shares, cosines and spectrum of a known set", () => {
  // Two classes along e₀ and e₁, norms 1 and 100 (half each), no spread around the classes.
  const rows = [[1, 0, 0], [100, 0, 0], [0, 1, 0], [0, 100, 0]];
  const s = descriptorStats(matrix(4, 3, rows.flat()), Uint8Array.of(0, 0, 1, 1));
  assert.equal(s.logNormQuantiles[0], 0);
  assert.equal(s.logNormQuantiles[100], 2);
  assert.deepEqual(s.classShares, [0.5, 0.5]);
  assert.equal(s.medianCosineToClass, 1);
  assert.equal(s.medianCosineBetweenClasses, 0);
  assert.ok(s.spectrum.every((v) => Math.abs(v) < 1e-12), "no within-class spread");
});

Deno.test("synthetic descriptors reproduce the statistics they were drawn from", () => {
  const real = groodLike(4000, 16, 1);
  const target = descriptorStats(real.descriptors, real.classes);
  for (const dim of [16, 48]) {
    const s = syntheticMatrix(target, dim, 4000, { world: 1, stream: 1 });
    const got = descriptorStats(s.descriptors, s.classes);
    for (const q of [5, 25, 50, 75, 95]) {
      assert.ok(
        Math.abs(got.logNormQuantiles[q]! - target.logNormQuantiles[q]!) < 0.05,
        `D = ${dim}: log-norm quantile ${q}: ${got.logNormQuantiles[q]} vs ${
          target.logNormQuantiles[q]
        }`,
      );
    }
    assert.ok(
      Math.abs(got.medianCosineToClass - target.medianCosineToClass) < 0.01,
      `D = ${dim}: cosine to class ${got.medianCosineToClass} vs ${target.medianCosineToClass}`,
    );
    got.classShares.forEach((share, c) =>
      assert.ok(Math.abs(share - target.classShares[c]!) < 0.03, `share of class ${c}`)
    );
  }
});

Deno.test("synthetic rows do not depend on the chunk sizes; queries differ from points", () => {
  const stats = descriptorStats(groodLike(500, 8, 2).descriptors, groodLike(500, 8, 2).classes);
  const whole = new Float32Array(100 * 8);
  syntheticDescriptors(stats, 8, { world: 3, stream: 1 }).fill(whole, 100);
  const stream = syntheticDescriptors(stats, 8, { world: 3, stream: 1 });
  const parts = new Float32Array(100 * 8);
  const buffer = new Float32Array(37 * 8);
  for (let at = 0; at < 100; at += 37) {
    const rows = Math.min(37, 100 - at);
    stream.fill(buffer, rows);
    parts.set(buffer.subarray(0, rows * 8), at * 8);
  }
  assert.deepEqual(parts, whole);
  const other = new Float32Array(100 * 8);
  syntheticDescriptors(stats, 8, { world: 3, stream: 2 }).fill(other, 100);
  assert.notDeepEqual(other, whole);
  // The noise variances: the measured spectrum first, then a decaying tail, summing to 1.
  const sd = noiseScales([4, 2, 1, 0.5], 10);
  assert.ok(Math.abs(sd.reduce((a, v) => a + v * v, 0) - 1) < 1e-12);
  assert.ok(Math.abs(sd[0]! ** 2 / sd[1]! ** 2 - 2) < 1e-12);
  for (let j = 4; j < 10; j++) assert.ok(sd[j]! < sd[j - 1]!, `tail decays at ${j}`);
});

Deno.test("runScale: each configuration in its own process, recall against exact, budgets", async () => {
  const real = groodLike(1500, 8, 4);
  const queries = groodLike(100, 8, 5).descriptors;
  const stats = descriptorStats(real.descriptors, real.classes);
  const workDir = await Deno.makeTempDir();
  const seen: Array<ScaleRow> = [];
  try {
    const plan = {
      ...SCALE_QUICK,
      sizes: [1200],
      dims: [8],
      queries: 60,
      runs: 1,
      methods: [
        { method: "exact", maxRows: Infinity },
        { method: "hnsw", maxRows: 1000 },
        { method: "ivf", maxRows: Infinity },
      ],
    } as const;
    const rows = await Effect.runPromise(
      runScale(plan, { train: real.descriptors, queries }, stats, workDir, (r) => seen.push(r)),
    );
    assert.deepEqual(rows, seen);
    // real: exact, ivf, hnsw (1500 > 1000: skipped); synthetic 1200 likewise.
    assert.deepEqual(rows.map((r) => `${r.label} ${r.method}`), [
      "real-1.5kx8 exact",
      "real-1.5kx8 ivf",
      "synthetic-1.2kx8 exact",
      "synthetic-1.2kx8 ivf",
    ]);
    for (const row of rows) {
      assert.equal(row.outcome.status, "done", JSON.stringify(row.outcome));
      if (row.outcome.status !== "done") continue;
      const m = row.outcome.measurement;
      assert.equal(m.points, row.rows);
      assert.equal(m.queries, 60);
      if (row.method === "exact") assert.equal(m.recall1, 1);
      assert.ok(m.recall1 >= 0.9 && m.recall10 >= 0.9, `${row.label} ${row.method} recall`);
      assert.ok(m.peakRssBytes > 10e6 && m.peakRssBytes < 2e9);
      assert.ok(typeof row.load.loaded === "boolean");
      assert.equal(scaleFigures(row).length, 5);
    }
    // A run of some rows updates a table instead of erasing it: replaced in place, new ones last.
    const [a, b, c] = rows;
    const rerun = { ...b!, outcome: { status: "failed", message: "re-run" } } as const;
    assert.deepEqual(mergeScaleRows([a!, b!], [rerun, c!]), [a, rerun, c]);
    assert.deepEqual(mergeScaleRows([], [c!]), [c]);
    // A budget too short for anything: the child is stopped and the row says so.
    const stopped = await Effect.runPromise(
      runScale(
        {
          ...plan,
          budgetSeconds: 0.01,
          methods: [{ method: "exact", maxRows: Infinity }],
          sets: ["real-1.5kx8"],
        },
        { train: real.descriptors, queries },
        stats,
        workDir,
        () => {},
      ),
    );
    assert.equal(stopped.length, 1);
    const outcome = stopped[0]!.outcome;
    assert.equal(outcome.status, "stopped");
    if (outcome.status === "stopped") assert.equal(outcome.phase, "data");
    // A stop before the build does not count as a missed build target.
    assert.equal(scaleFigures(stopped[0]!)[0]!.target, null);
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
});
