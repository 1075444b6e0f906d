import assert from "node:assert/strict";
import { join } from "node:path";
import * as aq from "arquero";
import {
  ablationChart,
  densityHistogram,
  downsampleCurve,
  HISTOGRAM_AXES,
  imageGridSvg,
  LOG_HISTOGRAM_X,
  NonFinitePlotData,
  renderPng,
  renderSvg,
  ROC_AXES,
  rocCurves,
  rocPoints,
  scoreHistograms,
  svgToPng,
} from "../lib/report/mod.ts";
import { plotSlug, writePlot, writeReportPlots } from "../apps/results/plot_files.ts";
import { display, JUPYTER_DISPLAY, show } from "../lib/report/notebook.ts";
import type { DetectorRun } from "../lib/pipeline/run.ts";
import { mulberry32 } from "../lib/random.ts";
import { Effect } from "effect";
import { auroc } from "../lib/stages/evaluate.ts";

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function pngSize(png: Uint8Array): { width: number; height: number } {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

function randomScores(n: number, shift: number, seed: number): Float64Array {
  const random = mulberry32(seed);
  return Float64Array.from({ length: n }, () => random() + random() + shift);
}

/**
 * Area under ROC vertices by trapezoids: the second route to the AUROC, against the
 * evaluation's count of wins and half ties (`auroc`, the one grood reports).
 */
function trapezoids(points: ReadonlyArray<{ fpr: number; tpr: number }>): number {
  let area = 0;
  for (let i = 1; i < points.length; i++) {
    area += (points[i]!.fpr - points[i - 1]!.fpr) * (points[i - 1]!.tpr + points[i]!.tpr) / 2;
  }
  return area;
}

const demoScores = new Map<string, Float64Array>([
  ["id", randomScores(900, 0, 1)],
  ["letters", randomScores(700, 0.6, 2)],
  ["textures", randomScores(500, 1.5, 3)],
]);

Deno.test("rocPoints() groups tied scores into one step (hand case)", () => {
  // id = [0, 1], ood = [1, 2]. Thresholds, descending: ≥2 flags ood 2 → (0, ½); ≥1 flags the
  // tied pair at once → (½, 1), one diagonal step rather than an order-dependent staircase;
  // ≥0 flags everything → (1, 1).
  const points = rocPoints([0, 1], [1, 2]);
  assert.deepEqual(
    points.map((p) => [p.fpr, p.tpr, p.threshold]),
    [[0, 0, Infinity], [0, 0.5, 2], [0.5, 1, 1], [1, 1, 0]],
  );
  // P(ood > id) + ½ P(tie) = 3/4 + ½ · 1/4.
  assert.equal(trapezoids(points), 0.875);
  assert.equal(Effect.runSync(auroc([0, 1], [1, 2])), 0.875);
  // The same scores in another order give the same curve.
  assert.deepEqual(rocPoints([1, 0], [2, 1]), points);
});

Deno.test("the area under rocPoints() is the evaluation's AUROC, ties included", () => {
  const random = mulberry32(5);
  for (let trial = 0; trial < 50; trial++) {
    // Scores on a coarse grid: many ties within and across the two sides.
    const side = (n: number, shift: number) =>
      Array.from({ length: n }, () => Math.floor(random() * 8 + shift) / 4);
    const id = side(1 + Math.floor(random() * 40), 0);
    const ood = side(1 + Math.floor(random() * 40), random() * 4);
    const area = trapezoids(rocPoints(id, ood));
    const counted = Effect.runSync(auroc(id, ood));
    assert.ok(Math.abs(area - counted) < 1e-12, `trial ${trial}: ${area} vs ${counted}`);
  }
});

Deno.test("rocPoints() rejects non-finite scores, naming the set", () => {
  assert.throws(
    () => rocPoints([0, NaN], [1], { id: "ID test", ood: "letters" }),
    (e: unknown) => e instanceof NonFinitePlotData && e.message.includes('"ID test"'),
  );
});

Deno.test("downsampleCurve() keeps ≤ maxPoints vertices, ends included, close to the curve", () => {
  const full = rocPoints(demoScores.get("id")!, demoScores.get("letters")!);
  assert.ok(full.length > 1000);
  const kept = downsampleCurve(full, 500);
  assert.ok(kept.length <= 500 && kept.length > 400, `kept ${kept.length}`);
  assert.deepEqual(kept[0], full[0]);
  assert.deepEqual(kept[kept.length - 1], full[full.length - 1]);
  assert.ok(Math.abs(trapezoids(kept) - trapezoids(full)) < 2 / 500);
  assert.equal(downsampleCurve(full.slice(0, 10), 500).length, 10);
});

Deno.test("densityHistogram() integrates to 1 and counts outliers in the edge bins", () => {
  const bins = densityHistogram([-5, 0.1, 0.2, 0.9, 7], 0, 1, 4);
  const mass = bins.reduce((s, b) => s + b.density * (b.x1 - b.x0), 0);
  assert.ok(Math.abs(mass - 1) < 1e-12);
  assert.equal(bins[0]!.density * 0.25 * 5, 3); // -5, 0.1, 0.2
  assert.equal(bins[3]!.density * 0.25 * 5, 2); // 0.9, 7
});

Deno.test("renderSvg() of rocCurves() has the axis titles, sets and AUROC in the legend", async () => {
  const svg = await renderSvg(rocCurves({ detector: "demo", scores: demoScores }));
  assert.ok(svg.startsWith("<svg"));
  assert.ok(svg.includes(ROC_AXES.x), "x axis title");
  assert.ok(svg.includes(ROC_AXES.y), "y axis title");
  for (const set of ["letters", "textures"]) {
    const area = Effect.runSync(auroc(demoScores.get("id")!, demoScores.get(set)!));
    assert.ok(svg.includes(`${set}: AUROC ${(100 * area).toFixed(1)}`), `${set} AUROC in legend`);
  }
});

Deno.test("scoreHistograms() renders in both layouts with the axis titles", async () => {
  const facet = await renderSvg(scoreHistograms({ detector: "demo", scores: demoScores }));
  assert.ok(facet.includes(HISTOGRAM_AXES.y) && facet.includes("Score (higher = more OOD)"));
  assert.ok(facet.includes("ID test") && facet.includes("letters"));
  const layer = await renderSvg(
    scoreHistograms({ detector: "demo", scores: demoScores }, { layout: "layer", clip: [0, 1] }),
  );
  assert.ok(layer.includes(HISTOGRAM_AXES.x) && layer.includes("textures"));
});

Deno.test("scoreHistograms() switches to a log axis for skewed scores (auto)", async () => {
  // k-NN distances: most ID scores near zero, a long tail.
  const random = mulberry32(5);
  const skewed = new Map([
    ["id", Float32Array.from({ length: 2000 }, () => 0.001 * Math.exp(4 * random()))],
    ["letters", Float32Array.from({ length: 500 }, () => 0.01 * Math.exp(4 * random()))],
  ]);
  const svg = await renderSvg(scoreHistograms({ detector: "demo", scores: skewed }));
  assert.ok(svg.includes(LOG_HISTOGRAM_X), "log axis title");
  assert.ok(svg.includes("Density (per decade)"));
  const linear = await renderSvg(
    scoreHistograms({ detector: "demo", scores: skewed }, { xScale: "linear" }),
  );
  assert.ok(linear.includes(HISTOGRAM_AXES.x) && !linear.includes(LOG_HISTOGRAM_X));
});

Deno.test("renderPng() gives a PNG of plausible size", async () => {
  const png = await renderPng(rocCurves({ detector: "demo", scores: demoScores }));
  assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
  const { width, height } = pngSize(png);
  // 360 × 360 plot plus axes, legend and title, at scale 2.
  assert.ok(width > 720 && width < 2000, `width ${width}`);
  assert.ok(height > 720 && height < 2000, `height ${height}`);
  assert.ok(png.length > 10_000 && png.length < 2_000_000, `${png.length} bytes`);
});

Deno.test("ablationChart() plots one panel per metric and checks column names", async () => {
  const table = aq.from([
    { lambda: 0.1, earlyBoundary: "block1", nearAuroc: 0.9, farAuroc: 0.99 },
    { lambda: 0.5, earlyBoundary: "block1", nearAuroc: 0.92, farAuroc: 0.98 },
    { lambda: 0.1, earlyBoundary: "block2", nearAuroc: 0.88, farAuroc: 0.97 },
    { lambda: 0.5, earlyBoundary: "block2", nearAuroc: 0.91, farAuroc: 0.995 },
  ]);
  const svg = await renderSvg(
    ablationChart(table, "lambda", ["nearAuroc", "farAuroc"], "earlyBoundary"),
  );
  assert.ok(svg.includes("nearAuroc") && svg.includes("farAuroc") && svg.includes("block2"));
  assert.throws(() => ablationChart(table, "k", "nearAuroc"), /no column "k"/);
});

Deno.test("imageGridSvg() embeds one PNG per image with its caption and rasterises", () => {
  const pixels = new Uint8Array(3 * 784).map((_, i) => i % 256);
  const svg = imageGridSvg(pixels, ["a: 0.1", "b <2>", "c\nsecond line"], {
    columns: 2,
    title: "demo",
  });
  assert.equal(svg.match(/data:image\/png;base64,/g)?.length, 3);
  assert.ok(svg.includes("b &#60;2&#62;"), "captions are escaped");
  assert.ok(svg.includes(">second line</tspan>"), "a newline starts a caption line");
  const png = svgToPng(svg);
  assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
});

Deno.test("writePlot() writes atomically, by extension or in several formats", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const spec = rocCurves({ detector: "demo", scores: demoScores });
    const written = await writePlot(join(dir, "sub", "roc.png"), spec, ["png", "svg"]);
    assert.deepEqual(written, [join(dir, "sub", "roc.png"), join(dir, "sub", "roc.svg")]);
    const png = await Deno.readFile(join(dir, "sub", "roc.png"));
    assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
    assert.ok((await Deno.readTextFile(join(dir, "sub", "roc.svg"))).includes(ROC_AXES.x));
    await writePlot(join(dir, "only.svg"), spec);
    // Only the final files remain: no temporary sibling is left behind.
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["only.svg", "sub"]);
    assert.deepEqual([...Deno.readDirSync(join(dir, "sub"))].map((e) => e.name).sort(), [
      "roc.png",
      "roc.svg",
    ]);
    // A failed write (the target is a folder) leaves no temporary file either.
    await Deno.mkdir(join(dir, "taken.png"));
    await assert.rejects(writePlot(join(dir, "taken.png"), spec));
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".tmp")),
      [],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeReportPlots() writes roc-<detector>.png and hist-<detector>.png for GROOD", async () => {
  const dir = await Deno.makeTempDir();
  const run = (detector: string): DetectorRun => ({
    benchmark: "demo",
    detector,
    description: "",
    settings: {},
    tuned: [],
    fitSeconds: 0,
    scoreSeconds: 0,
    scoredPerSecond: 0,
    rows: [],
    scores: demoScores,
    artefacts: [],
  });
  try {
    const written = await writeReportPlots(dir, [run("MSP"), run("GROOD")]);
    assert.deepEqual(written, [join(dir, "roc-grood.png"), join(dir, "hist-grood.png")]);
    for (const path of written) {
      assert.deepEqual([...(await Deno.readFile(path)).subarray(0, 8)], PNG_SIGNATURE);
    }
    assert.equal(
      plotSlug("GROOD[lambda=0.1,earlyBoundary=block2]"),
      "grood-lambda-0-1-earlyboundary-block2",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("show() and display() give the Jupyter MIME bundles", async () => {
  const plot = await show(rocCurves({ detector: "demo", scores: demoScores }));
  const bundle = plot[JUPYTER_DISPLAY]();
  assert.ok(bundle["image/svg+xml"]!.startsWith("<svg"));
  assert.equal(JUPYTER_DISPLAY, Symbol.for("Jupyter.display"));
  const table = aq.from([{ detector: "GROOD", auroc: 0.97123, seconds: 1.23456, n: 3 }]);
  const shown = display(table, { caption: "demo" }).mime();
  assert.ok(shown["text/html"]!.includes("<table") && shown["text/html"]!.includes("97.12"));
  assert.ok(shown["text/html"]!.includes("1.2346"));
  assert.ok(
    display(aq.from([{ lambda: 0.1, rate: 12345.6 }])).mime()["text/html"]!.includes(
      '<td style="text-align: right;">0.1</td>',
    ),
  );
  assert.ok(shown["text/markdown"]!.includes("|GROOD|97.12|"));
});
