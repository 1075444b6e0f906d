import { Effect } from "effect";
import assert from "node:assert/strict";
import { fixtureDir, fixtureSeeds } from "../lib/benchmarks/fixtures.ts";
import {
  pairedDifferences,
  pairedMarkdown,
  type SeedRow,
  seedSpread,
  seedSpreadMarkdown,
} from "../apps/results/seeds.ts";

const row = (seed: number, detector: string, nearAuroc: number, farAuroc: number): SeedRow => ({
  seed,
  detector,
  nearAuroc,
  farAuroc,
  nearFpr95IdKept: 1 - nearAuroc,
  farFpr95IdKept: 1 - farAuroc,
  nearFpr95OpenOod: 0.5,
  farFpr95OpenOod: 0.5,
});
const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} != ${expected}`);

const ROWS: ReadonlyArray<SeedRow> = [
  row(0, "GROOD", 0.90, 0.70),
  row(1, "GROOD", 0.94, 0.60),
  row(2, "GROOD", 0.98, 0.80),
  row(0, "KNN", 0.85, 0.75),
  row(1, "KNN", 0.86, 0.65),
  row(2, "KNN", 0.90, 0.70),
  row(0, "GROOD-no-mixup", 0.80, 0.70),
];

Deno.test("seedSpread() gives mean and sample sd per detector, NaN sd for one seed", () => {
  const byDetector = new Map(
    (seedSpread(ROWS).objects() as Array<Record<string, number | string>>).map((d) => [
      d.detector,
      d,
    ]),
  );
  const grood = byDetector.get("GROOD")!;
  assert.equal(grood.seeds, 3);
  close(grood.nearAurocMean as number, 0.94, "GROOD near mean");
  // Deviations −0.04, 0, 0.04: Σ² = 0.0032, / (3 − 1) = 0.0016, sd 0.04.
  close(grood.nearAurocSd as number, 0.04, "GROOD near sd");
  close(grood.farAurocMean as number, 0.7, "GROOD far mean");
  close(grood.farAurocSd as number, 0.1, "GROOD far sd"); // deviations 0, −0.1, 0.1
  const single = byDetector.get("GROOD-no-mixup")!;
  assert.equal(single.seeds, 1);
  assert.ok(Number.isNaN(single.nearAurocSd as number));
  // Ranked by the mean of near and far AUROC: GROOD 0.82, KNN 0.785, no-mixup 0.75.
  assert.deepEqual(seedSpread(ROWS).array("detector"), ["GROOD", "KNN", "GROOD-no-mixup"]);
  const markdown = seedSpreadMarkdown(seedSpread(ROWS));
  assert.match(markdown, /\| GROOD \| 3 \| 94\.00 ± 4\.00 \| 70\.00 ± 10\.00 \|/);
  assert.match(markdown, /\| GROOD-no-mixup \| 1 \| 80\.00 ± – \|/);
});

Deno.test("pairedDifferences() pairs by seed and says whether the sign holds on all", () => {
  const [near, far, ...rest] = pairedDifferences(ROWS, [
    { first: "GROOD", second: "KNN" },
    { first: "GROOD", second: "absent" },
  ]);
  assert.equal(rest.length, 0); // a pair without common seeds is left out
  // Near: 0.05, 0.08, 0.08 → mean 0.07, all positive.
  assert.equal(near!.metric, "nearAuroc");
  close(near!.mean, 0.07, "near mean");
  close(near!.sd, Math.sqrt((0.02 ** 2 + 0.01 ** 2 + 0.01 ** 2) / 2), "near sd");
  assert.equal(near!.holdsOnAllSeeds, true);
  close(near!.min, 0.05, "near min");
  // Far: −0.05, −0.05, 0.10 → mean 0, which holds on no seed.
  close(far!.mean, 0, "far mean");
  assert.equal(far!.holdsOnAllSeeds, false);
  assert.deepEqual(far!.perSeed.map((p) => p.seed), [0, 1, 2]);
  // Only seed 0 is common to GROOD and GROOD-no-mixup.
  const [single] = pairedDifferences(ROWS, [{ first: "GROOD", second: "GROOD-no-mixup" }]);
  assert.equal(single!.perSeed.length, 1);
  assert.ok(Number.isNaN(single!.sd));
  assert.match(
    pairedMarkdown([near!]),
    /\| GROOD − KNN \| nearAuroc \| 7\.00 ± 1\.73 \| 5\.00 \| 8\.00 \| 0: 5\.00, 1: 8\.00, 2: 8\.00 \| yes \|/,
  );
});

Deno.test("fixture seeds: seed 0 is the committed fixture, seed N sits beside it", async () => {
  assert.ok(fixtureDir("mnist").endsWith("fixtures/models/mnist"));
  assert.ok(fixtureDir("mnist", 2).endsWith("fixtures/models/mnist-seed2"));
  const seeds = await Effect.runPromise(fixtureSeeds("mnist"));
  assert.equal(seeds[0], 0);
  assert.deepEqual([...seeds].sort((a, b) => a - b), seeds);
  assert.deepEqual(await Effect.runPromise(fixtureSeeds("no-such-dataset")), []);
});
