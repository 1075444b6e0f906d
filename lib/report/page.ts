/**
 * The results page, `results/report.html`: one self-contained HTML file (inline CSS and inline
 * SVG, images as PNG data URLs; nothing is fetched) holding, per benchmark, the ranked table of
 * every detector, the per-set table, the focus detector's ROC curves and score histograms
 * (vega-lite rendered to SVG here, so the page needs no script), and for each OOD set a gallery
 * of the images the focus detector (GROOD) finds most ID-like, and for ID the images it finds
 * most OOD-like: where it fails, and on what.
 *
 * @module
 */
import type { ImageSet } from "../data/images.ts";
import { IMAGE_SIZE } from "../data/images.ts";
import type { DetectorRun } from "../pipeline/run.ts";
import { scoreHistograms } from "./histogram_chart.ts";
import { imageGridSvg } from "./image_grid.ts";
import { renderSvg } from "./render.ts";
import { rocCurves } from "./roc_chart.ts";
import { escapeXml } from "./xml.ts";
import { resultsTable, summaryTable } from "../pipeline/tables.ts";

/** One gallery: a title and its image grid (SVG with PNG tiles). */
export interface Gallery {
  readonly title: string;
  readonly svg: string;
}

/** Everything the page shows for one benchmark. */
export interface BenchmarkPage {
  readonly benchmark: string;
  /** Rows of `summaryTable` (ranked). */
  readonly summary: ReadonlyArray<Readonly<Record<string, unknown>>>;
  /** Rows of `resultsTable`. */
  readonly perSet: ReadonlyArray<Readonly<Record<string, unknown>>>;
  readonly focus: string;
  readonly rocSvg: string;
  readonly histogramSvg: string;
  readonly galleries: ReadonlyArray<Gallery>;
}

/** The indices of the `count` largest (`largest`) or smallest scores, in that order. */
export function extremeIndices(
  scores: ArrayLike<number>,
  count: number,
  largest: boolean,
): ReadonlyArray<number> {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => (largest ? scores[b]! - scores[a]! : scores[a]! - scores[b]!) || a - b);
  return order.slice(0, count);
}

function galleryOf(
  images: ImageSet,
  scores: ArrayLike<number>,
  count: number,
  largest: boolean,
  title: string,
): Gallery {
  const chosen = extremeIndices(scores, Math.min(count, images.count), largest);
  const pixels = new Uint8Array(chosen.length * IMAGE_SIZE);
  chosen.forEach((i, k) =>
    pixels.set(images.pixels.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE), k * IMAGE_SIZE)
  );
  const captions = chosen.map((i) =>
    `#${i}${images.labels === undefined ? "" : ` y=${images.labels[i]}`}\n${
      Number(scores[i]).toPrecision(4)
    }`
  );
  return { title, svg: imageGridSvg(pixels, captions, { columns: 8, scale: 2 }) };
}

/**
 * Build one benchmark's page content from its runs and the test images by set (`id` = the ID
 * test set, as in `DetectorRun.scores`).
 */
export async function benchmarkPage(
  runs: ReadonlyArray<DetectorRun>,
  images: ReadonlyMap<string, ImageSet>,
  options: { readonly focus?: string; readonly galleryCount?: number } = {},
): Promise<BenchmarkPage> {
  const focusName = options.focus ?? "GROOD";
  const focus = runs.find((r) => r.detector === focusName) ?? runs[0]!;
  const count = options.galleryCount ?? 16;
  const galleries: Array<Gallery> = [];
  const id = images.get("id");
  if (id !== undefined) {
    galleries.push(
      galleryOf(id, focus.scores.get("id")!, count, true, `ID test: most OOD-like`),
    );
  }
  for (const row of focus.rows) {
    const set = images.get(row.set);
    const scores = focus.scores.get(row.set);
    if (set === undefined || scores === undefined) continue;
    galleries.push(
      galleryOf(set, scores, count, false, `${row.set} (${row.group}-OOD): most ID-like`),
    );
  }
  return {
    benchmark: focus.benchmark,
    summary: summaryTable(runs).objects() as Array<Record<string, unknown>>,
    perSet: resultsTable(runs).objects() as Array<Record<string, unknown>>,
    focus: focus.detector,
    rocSvg: await renderSvg(rocCurves(focus)),
    histogramSvg: await renderSvg(scoreHistograms(focus)),
    galleries,
  };
}

const percent = (v: unknown) => (typeof v === "number" ? (100 * v).toFixed(2) : "–");

function table(
  rows: ReadonlyArray<Readonly<Record<string, unknown>>>,
  columns: ReadonlyArray<readonly [key: string, label: string, percent: boolean]>,
  className: string,
): string {
  const head = columns.map(([, label]) => `<th>${escapeXml(label)}</th>`).join("");
  const body = rows.map((row) =>
    `<tr>${
      columns.map(([key, , isPercent]) =>
        `<td data-key="${key}"${isPercent ? ' class="num"' : ""}>${
          isPercent ? percent(row[key]) : escapeXml(String(row[key] ?? ""))
        }</td>`
      ).join("")
    }</tr>`
  ).join("\n");
  return `<table class="${className}"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const SUMMARY_COLUMNS = [
  ["detector", "detector", false],
  ["nearAuroc", "near AUROC", true],
  ["farAuroc", "far AUROC", true],
  ["nearFpr95IdKept", "near FPR@95 (ID kept)", true],
  ["farFpr95IdKept", "far FPR@95 (ID kept)", true],
  ["nearFpr95OpenOod", "near FPR@95 (OpenOOD)", true],
  ["farFpr95OpenOod", "far FPR@95 (OpenOOD)", true],
] as const;

const PER_SET_COLUMNS = [
  ["detector", "detector", false],
  ["set", "set", false],
  ["group", "group", false],
  ["auroc", "AUROC", true],
  ["auprIn", "AUPR-In", true],
  ["auprOut", "AUPR-Out", true],
  ["fpr95IdKept", "FPR@95 (ID kept)", true],
  ["fpr95OpenOod", "FPR@95 (OpenOOD)", true],
] as const;

const STYLE = `body{font-family:"DejaVu Sans",sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
figure{margin:1em 0}figcaption{font-weight:bold;margin-bottom:.3em}.plots{display:flex;flex-wrap:wrap;gap:1em}`;

/**
 * The whole page: a title, the metric definitions, and each benchmark's tables, plots and
 * galleries. Self-contained (no external resource, no script).
 *
 * @example
 * ```ts
 * import { reportHtml } from "./page.ts";
 * const html = reportHtml("grood results", []);
 * if (!html.startsWith("<!DOCTYPE html>") || html.includes("http")) throw new Error("bad page");
 * ```
 */
export function reportHtml(title: string, pages: ReadonlyArray<BenchmarkPage>): string {
  const sections = pages.map((page) =>
    [
      `<section id="${escapeXml(page.benchmark)}">`,
      `<h2>${escapeXml(page.benchmark)}</h2>`,
      `<h3>Ranked by the mean of near and far AUROC (%)</h3>`,
      table(page.summary, SUMMARY_COLUMNS, "summary"),
      `<h3>${escapeXml(page.focus)}: ROC curves and score histograms</h3>`,
      `<div class="plots"><figure class="roc">${page.rocSvg}</figure>`,
      `<figure class="histogram">${page.histogramSvg}</figure></div>`,
      `<h3>${escapeXml(page.focus)}: where it fails</h3>`,
      ...page.galleries.map((g) =>
        `<figure class="gallery"><figcaption>${escapeXml(g.title)}</figcaption>${g.svg}</figure>`
      ),
      `<h3>Per OOD set (%)</h3>`,
      table(page.perSet, PER_SET_COLUMNS, "per-set"),
      `</section>`,
    ].join("\n")
  );
  return [
    "<!DOCTYPE html>",
    `<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    `<h1>${escapeXml(title)}</h1>`,
    "<p>Scores: higher = more OOD. FPR@95 (ID kept): share of OOD accepted when 95% of ID is " +
    "kept. FPR@95 (OpenOOD): share of ID flagged when 95% of OOD is caught (OpenOOD v1.5's " +
    "metrics.py). Galleries show the focus detector's failures: the OOD images it scores " +
    "lowest, the ID images it scores highest (image index, label, score).</p>",
    ...sections,
    "</body></html>",
  ].join("\n");
}
