/**
 * `runPipeline` and `runAblation` end to end on a tiny benchmark whose metrics can be checked
 * by hand, then the tables and the exports of the same runs.
 *
 * The benchmark (the MNIST fixture model; 400 training digits, 120 test digits) has two OOD
 * sets chosen so that every metric follows from the ID scores alone:
 * - `copy` (near) is the ID test file itself: every detector scores it exactly as the ID test
 *   set, so its AUROC is exactly ½ (as many wins as losses, ties counted half) and FPR@95
 *   (ID kept) is the share of ID scores at or below the 95% threshold.
 * - `blank` (far) is 30 black images: one image, so one score s₀ for all 30, and the AUROC is
 *   (#ID below s₀ + ½ #ID equal to s₀) / #ID, a count over the ID scores.
 * The ranking is then the order of those far AUROCs (the near one is ½ for every detector).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect } from "effect";
import { readNpy } from "../lib/io/npy.ts";
import { DETECTOR_KINDS } from "../lib/detectors/registry.ts";
import { tiedShare } from "../lib/stages/evaluate.ts";
import { GroodLive, runAblation, runPipeline } from "../lib/pipeline/pipeline.ts";
import type { DetectorRun } from "../lib/pipeline/run.ts";
import { resultsTable, summaryTable } from "../lib/pipeline/tables.ts";
import { perSetMarkdown, summaryMarkdown, writeResults } from "../apps/results/tables.ts";
import { writeExports } from "../apps/results/exports.ts";
import { runPromise } from "./with_compute.ts";
import { TINY, tinyBenchmark } from "./tiny_benchmark.ts";

const { TRAIN, TEST } = TINY;

const services = GroodLive({ backend: "wasm", cacheDir: null });

/** The far AUROC by hand: a count over the ID scores against the one score of the blank set. */
function blankAuroc(run: DetectorRun): number {
  const blank = run.scores.get("blank")!;
  const s0 = blank[0]!;
  assert.ok(blank.every((s) => s === s0), `${run.detector}: identical images, identical scores`);
  let below = 0;
  let equal = 0;
  for (const s of run.scores.get("id")!) {
    if (s < s0) below++;
    else if (s === s0) equal++;
  }
  return (below + equal / 2) / TEST;
}

/** Every metric of `run` against the hand computation of the module doc. */
function checkByHand(run: DetectorRun): void {
  const id = run.scores.get("id")!;
  assert.deepEqual([...run.scores.get("copy")!], [...id], `${run.detector}: copy scored as ID`);
  const copy = run.rows.find((r) => r.set === "copy")!;
  assert.equal(copy.auroc, 0.5, `${run.detector} on copy`);
  // Identical sets: the OOD kept at the threshold that keeps ≥ 95% of ID are that same share.
  const sorted = Float64Array.from(id).sort();
  const threshold = sorted[Math.ceil(0.95 * TEST) - 1]!;
  const kept = sorted.filter((s) => s <= threshold).length / TEST;
  assert.ok(kept >= 0.95);
  assert.equal(copy.fpr95IdKept, kept, `${run.detector}: FPR@95 on copy`);
  const blank = run.rows.find((r) => r.set === "blank")!;
  assert.ok(Math.abs(blank.auroc - blankAuroc(run)) < 1e-12, `${run.detector} on blank`);
}

const { dir, path } = await tinyBenchmark();

const GROOD_SPEC = {
  kind: "grood",
  oodPrototype: { kind: "mixup", lambda: 0.5, samples: 200, seed: 0 },
} as const;

const pipeline = await Effect.runPromise(
  runPipeline({
    benchmark: path,
    detectors: [GROOD_SPEC, { kind: "msp" }, { kind: "knn", k: 5 }, { kind: "energy" }],
  }).pipe(Effect.provide(services)),
);

Deno.test("runPipeline(): onnxruntime (the default for grood's CNN) and tfjs give the same AUROCs to 0.05 points", async () => {
  assert.equal(pipeline.prepared.model.engine, "onnx");
  const onTfjs = await Effect.runPromise(
    runPipeline({
      benchmark: path,
      engine: "tfjs",
      detectors: [GROOD_SPEC, { kind: "msp" }, { kind: "knn", k: 5 }, { kind: "energy" }],
    }).pipe(Effect.provide(services)),
  );
  assert.equal(onTfjs.prepared.model.engine, "tfjs");
  const aurocs = (runs: ReadonlyArray<DetectorRun>) =>
    runs.flatMap((r) => r.rows.map((row) => [`${r.detector} ${row.set}`, row.auroc] as const));
  const expected = aurocs(onTfjs.runs);
  const actual = aurocs(pipeline.runs);
  assert.deepEqual(actual.map(([k]) => k), expected.map(([k]) => k));
  actual.forEach(([name, auroc], i) => {
    const gap = Math.abs(auroc - expected[i]![1]);
    assert.ok(gap <= 0.0005, `${name}: onnx ${auroc}, tfjs ${expected[i]![1]}`);
  });
});

Deno.test("runPipeline(): every detector's metrics as computed by hand", () => {
  const { prepared, runs } = pipeline;
  assert.equal(prepared.train.images.count, TRAIN);
  assert.equal(prepared.idTest.images.count, TEST);
  assert.deepEqual(runs.map((r) => r.detector), ["GROOD", "MSP", "KNN", "Energy"]);
  for (const run of runs) {
    assert.deepEqual(run.rows.map((r) => [r.set, r.group]), [["copy", "near"], ["blank", "far"]]);
    checkByHand(run);
  }
  // The fixture classifies these digits (99.38% on the full test split).
  assert.ok(prepared.idAccuracy > 0.95, `accuracy ${prepared.idAccuracy}`);
});

Deno.test("runPipeline(): the summary ranks detectors by the mean of near and far AUROC", () => {
  const summary = pipeline.summary.objects() as Array<
    { detector: string; nearAuroc: number; farAuroc: number; meanAuroc: number }
  >;
  const byHand = pipeline.runs
    .map((run) => ({ detector: run.detector, far: blankAuroc(run) }))
    .sort((a, b) => b.far - a.far);
  assert.deepEqual(summary.map((r) => r.detector), byHand.map((r) => r.detector));
  for (const row of summary) {
    const far = byHand.find((r) => r.detector === row.detector)!.far;
    assert.equal(row.nearAuroc, 0.5);
    assert.ok(Math.abs(row.farAuroc - far) < 1e-12);
    assert.ok(Math.abs(row.meanAuroc - (0.5 + far) / 2) < 1e-12);
  }
  // The per-set table holds one row per (detector, set), the runs' own numbers.
  const results = pipeline.results.objects() as Array<{ detector: string; auroc: number }>;
  assert.equal(results.length, 2 * pipeline.runs.length);
  assert.deepEqual(
    results.map((r) => r.auroc),
    pipeline.runs.flatMap((r) => r.rows.map((x) => x.auroc)),
  );
});

Deno.test("runAblation(): one run per variant, hand-checked, ranked, with the parameters", async () => {
  const ablation = await Effect.runPromise(
    runAblation({
      name: "tiny",
      benchmark: path,
      grids: [{ samples: [200], k: [1, 3], oodPrototype: ["mixup", "mean"] }],
    }).pipe(Effect.provide(services)),
  );
  assert.equal(ablation.variants.length, 4);
  assert.equal(ablation.runs.length, 4);
  for (const run of ablation.runs) checkByHand(run);
  const summary = ablation.summary.objects() as Array<
    { detector: string; meanAuroc: number; k: number; oodPrototype: string; samples: number }
  >;
  const means = summary.map((r) => r.meanAuroc);
  assert.deepEqual(means, [...means].sort((a, b) => b - a), "ranked by mean AUROC");
  assert.deepEqual(
    summary.map((r) => `${r.oodPrototype},${r.k}`).sort(),
    ["mean,1", "mean,3", "mixup,1", "mixup,3"],
  );
  assert.ok(summary.every((r) => r.samples === 200));
  // An index spec is a column like any other: its label, never an object.
  assert.ok(summary.every((r) => (r as { index?: unknown }).index === "exact"));
  // The variant with the pipeline's GROOD settings (mix-up, k = 1) gives the pipeline's scores.
  const same = ablation
    .runs[ablation.variants.findIndex((v) => v.oodPrototype === "mixup" && v.k === 1)]!;
  const grood = pipeline.runs.find((r) => r.detector === "GROOD")!;
  assert.deepEqual([...same.scores.get("id")!], [...grood.scores.get("id")!]);
  assert.deepEqual(same.rows.map((r) => r.auroc), grood.rows.map((r) => r.auroc));
  // The per-set table carries the parameter columns too.
  const results = ablation.results.objects() as Array<{ set: string; k: number }>;
  assert.equal(results.length, 4 * 2);
  assert.ok(results.every((r) => r.k === 1 || r.k === 3));
});

Deno.test("tables: summary and per-set Markdown, and the written results files", async () => {
  const { runs } = pipeline;
  const markdown = summaryMarkdown(summaryTable(runs));
  const order = (pipeline.summary.objects() as Array<{ detector: string }>).map((r) => r.detector);
  const lines = markdown.trim().split("\n").slice(2).map((l) => l.split("|")[1]!.trim());
  assert.deepEqual(lines, order, "Markdown rows in ranking order");
  assert.ok(markdown.includes("|50.00|"), "near AUROC in percent");
  const perSet = perSetMarkdown(resultsTable(runs));
  assert.equal(perSet.trim().split("\n").length, 2 + 2 * runs.length);
  const out = join(dir, "results");
  const { summary } = await writeResults(out, runs, { benchmark: "tiny", note: "test" });
  assert.deepEqual(summary.objects(), pipeline.summary.objects());
  const json = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
  assert.equal(json.note, "test");
  assert.deepEqual(
    json.detectors.map((
      d: { detector: string; sets: Array<{ auroc: number }> },
    ) => [d.detector, d.sets.map((s) => s.auroc)]),
    runs.map((r) => [r.detector, r.rows.map((x) => x.auroc)]),
  );
  const csv = (await Deno.readTextFile(join(out, "results.csv"))).trim().split("\n");
  const header = csv[0]!.split(",");
  assert.equal(csv.length, 1 + 2 * runs.length);
  const auroc = header.indexOf("auroc");
  assert.deepEqual(
    csv.slice(1).map((line) => Number(line.split(",")[auroc])),
    runs.flatMap((r) => r.rows.map((x) => x.auroc)),
  );
  assert.match(await Deno.readTextFile(join(out, "results.md")), /^# tiny: OOD detection results/);
});

Deno.test("exports: features, labels and every detector's scores read back as written", async () => {
  const { prepared, runs } = pipeline;
  const out = join(dir, "exports");
  const entries = await runPromise(writeExports(out, prepared, runs));
  const manifest = JSON.parse(await Deno.readTextFile(join(out, "manifest.json")));
  const files = new Set(entries.map((e) => e.file));
  assert.equal(JSON.stringify(manifest).includes("scores/GROOD/blank.npy"), true);
  for (const run of runs) {
    for (const [set, scores] of run.scores) {
      const file = `scores/${run.detector}/${set}.npy`;
      assert.ok(files.has(file), file);
      const read = await Effect.runPromise(readNpy(join(out, file)));
      assert.equal(read.dtype, "<f8", `${file}: scores are exported in float64`);
      assert.deepEqual(read.shape, [scores.length]);
      assert.deepEqual([...read.data], [...scores], file);
    }
  }
  const logits = await Effect.runPromise(readNpy(join(out, "features/id-test-logits.npy")));
  assert.deepEqual(logits.shape, [TEST, 10]);
  assert.deepEqual([...logits.data], [...prepared.idTest.features.logits.data]);
  const labels = await Effect.runPromise(readNpy(join(out, "features/train-labels.npy")));
  assert.equal(labels.shape[0], TRAIN);
});

Deno.test("every registered detector runs in a pipeline, scores in float64 with a tie report", async () => {
  // Settings that fit 400 training images (the defaults are sized for 60,000).
  const small: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
    grood: { oodPrototype: { kind: "mixup", lambda: 0.5, samples: 200, seed: 0 } },
    nnguide: { k: 5, alpha: 0.05 },
  };
  // GROOD's variants score through GROOD's code; their fixed mix-up settings ask for 10,000
  // training images, more than this benchmark has, and are refused as such.
  const kinds = DETECTOR_KINDS.filter((kind) => !kind.startsWith("grood") || kind === "grood");
  const { runs } = await Effect.runPromise(
    runPipeline({
      benchmark: path,
      detectors: kinds.map((kind) => ({ kind, ...small[kind] })) as never,
    }).pipe(Effect.provide(services)),
  );
  assert.equal(runs.length, kinds.length);
  const float32Ties = new Map<string, number>();
  for (const run of runs) {
    checkByHand(run);
    for (const row of run.rows) {
      // copy is the ID set itself: every score ties across; blank is one score 30 times.
      assert.equal(row.tiedAcross, row.set === "copy" ? 1 : row.tiedAcross, run.detector);
      assert.equal(row.tiedOod, 1, `${run.detector} on ${row.set}`);
    }
    const id = run.scores.get("id")!;
    assert.ok(id instanceof Float64Array, run.detector);
    // Computed in float64 and kept so: some score is not a float32 number, and no two of the
    // 120 distinct ID digits tie (float64 tells every image apart). MaxLogit's score is a
    // logit itself, which the model gives in float32.
    if (run.detector !== "MaxLogit") {
      assert.ok(id.some((v) => Math.fround(v) !== v), `${run.detector}: float32-rounded scores`);
      assert.equal(tiedShare(id), 0, `${run.detector}: ID scores tie in float64`);
    }
    float32Ties.set(run.detector, tiedShare(Float32Array.from(id)));
  }
  // Not vacuous: stored in float32, confident digits' MSP scores tie.
  assert.ok(float32Ties.get("MSP")! > 0, `MSP float32 ties ${float32Ties.get("MSP")}`);
});

Deno.test("cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
