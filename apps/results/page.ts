/**
 * The results page, `results/report.html`: one self-contained HTML file (inline CSS and inline
 * SVG, images as PNG data URLs; nothing is fetched) holding, per benchmark, the mean ± sd of
 * every detector over the training seeds with the paired differences (when several seeds ran),
 * the ranked table of every detector, the per-set table, the focus detector's ROC curves and
 * score histograms (vega-lite rendered to SVG here, so the page needs no script), and for each
 * OOD set a gallery of the images the focus detector (GROOD) finds most ID-like, and for ID the
 * images it finds most OOD-like: where it fails, and on what.
 *
 * Each benchmark's part is one `<section>` ({@link benchmarkSection}), written next to its
 * results (`results/<benchmark>/section.html`), so the page can gather the latest results of
 * every benchmark even when they come from separate runs ({@link reportHtml}).
 *
 * @module
 */
import { Effect } from "effect";
import { join } from "node:path";
import { IMAGE_SIZE, type ImageSet } from "../../lib/data/mod.ts";
import { type DetectorRun, resultsTable, summaryTable } from "../../lib/pipeline/mod.ts";
import {
  escapeXml,
  imageGridSvg,
  NonFinitePlotData,
  PlotInputError,
  PlotRenderError,
  renderSvg,
  rocCurves,
  scoreHistograms,
  type TopLevelSpec,
} from "../../lib/report/mod.ts";
import { TIE_REPORT_LIMIT } from "../../lib/stages/mod.ts";
import { type PairedDifference, SEED_METRICS } from "./seeds.ts";
import { type TieFlag, tieFlags, tieFlagSets } from "./tables.ts";

/** One gallery: a title and its image grid (SVG with PNG tiles). */
export interface Gallery {
  /** The gallery's heading. */
  readonly title: string;
  /** The image grid, as SVG. */
  readonly svg: string;
}

/** Everything the page shows for one benchmark. */
export interface BenchmarkPage {
  /** The benchmark's name. */
  readonly benchmark: string;
  /** Rows of `summaryTable` (ranked). */
  readonly summary: ReadonlyArray<Readonly<Record<string, unknown>>>;
  /** Rows of `resultsTable`. */
  readonly perSet: ReadonlyArray<Readonly<Record<string, unknown>>>;
  /** The detector whose ROC curves, histograms and galleries are shown (default GROOD). */
  readonly focus: string;
  /** The focus detector's ROC curves, as SVG. */
  readonly rocSvg: string;
  /** The focus detector's score histograms, as SVG. */
  readonly histogramSvg: string;
  /** Images the focus detector finds most ID-like (per OOD set) or most OOD-like (ID). */
  readonly galleries: ReadonlyArray<Gallery>;
  /** Detectors whose AUROC depends on ties across ID and OOD (`tieFlags`). */
  readonly tieFlags: ReadonlyArray<TieFlag>;
  /** The spread over training seeds, when more than one seed ran. */
  readonly seeds?: SeedSection;
}

/** What the page shows of a benchmark's spread over training seeds. */
export interface SeedSection {
  /** The training seeds that ran, in order. */
  readonly seeds: ReadonlyArray<number>;
  /** Rows of `seedSpread` (ranked): `<metric>Mean`, `<metric>Sd`, `seeds` per detector. */
  readonly spread: ReadonlyArray<Readonly<Record<string, unknown>>>;
  /** Paired differences of the claimed comparisons (`CLAIM_PAIRS`). */
  readonly paired: ReadonlyArray<PairedDifference>;
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

/** A chart spec built (its input checked) and rendered to SVG, every failure typed. */
const chartSvg = (
  plot: string,
  spec: () => TopLevelSpec,
): Effect.Effect<string, PlotRenderError | NonFinitePlotData | PlotInputError> =>
  Effect.try({
    try: spec,
    catch: (error) =>
      error instanceof NonFinitePlotData || error instanceof PlotInputError
        ? error
        : new PlotRenderError({ plot, reason: String(error) }),
  }).pipe(
    Effect.flatMap((built) =>
      Effect.tryPromise({
        try: () => renderSvg(built),
        catch: (error) =>
          new PlotRenderError({
            plot,
            reason: error instanceof Error ? error.message : String(error),
          }),
      })
    ),
  );

/**
 * Build one benchmark's page content from its runs and the test images by set (`id` = the ID
 * test set, as in `DetectorRun.scores`).
 */
export const benchmarkPage = (
  runs: ReadonlyArray<DetectorRun>,
  images: ReadonlyMap<string, ImageSet>,
  options: {
    readonly focus?: string;
    readonly galleryCount?: number;
    readonly seeds?: SeedSection;
  } = {},
): Effect.Effect<BenchmarkPage, PlotRenderError | NonFinitePlotData | PlotInputError> =>
  Effect.gen(function* () {
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
    const title = `${focus.benchmark}: ${focus.detector}`;
    return {
      benchmark: focus.benchmark,
      summary: summaryTable(runs).objects() as Array<Record<string, unknown>>,
      perSet: resultsTable(runs).objects() as Array<Record<string, unknown>>,
      focus: focus.detector,
      rocSvg: yield* chartSvg(`the ROC curves of ${title}`, () => rocCurves(focus)),
      histogramSvg: yield* chartSvg(
        `the score histograms of ${title}`,
        () => scoreHistograms(focus),
      ),
      galleries,
      tieFlags: tieFlags(runs),
      ...(options.seeds === undefined ? {} : { seeds: options.seeds }),
    };
  });

const percent = (v: unknown) =>
  typeof v === "number" && !Number.isNaN(v) ? (100 * v).toFixed(2) : "–";

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
  ["tiedAcross", "tied across ID/OOD", true],
] as const;

const STYLE = `body{font-family:"DejaVu Sans",sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
figure{margin:1em 0}figcaption{font-weight:bold;margin-bottom:.3em}.plots{display:flex;flex-wrap:wrap;gap:1em}`;

/** Metric labels, both FPR@95 conventions named. */
const METRIC_LABELS: Readonly<Record<(typeof SEED_METRICS)[number], string>> = {
  nearAuroc: "near AUROC",
  farAuroc: "far AUROC",
  nearFpr95IdKept: "near FPR@95 (ID kept)",
  farFpr95IdKept: "far FPR@95 (ID kept)",
  nearFpr95OpenOod: "near FPR@95 (OpenOOD)",
  farFpr95OpenOod: "far FPR@95 (OpenOOD)",
};

/** The mean ± sd table: one cell per metric, `data-key` names the metric. */
function spreadTable(spread: SeedSection["spread"]): string {
  const head = ["detector", "seeds", ...SEED_METRICS.map((m) => METRIC_LABELS[m])]
    .map((label) => `<th>${escapeXml(label)}</th>`).join("");
  const body = spread.map((row) =>
    `<tr><td data-key="detector">${escapeXml(String(row.detector))}</td>` +
    `<td data-key="seeds" class="num">${escapeXml(String(row.seeds))}</td>${
      SEED_METRICS.map((m) =>
        `<td data-key="${m}" class="num">${percent(row[`${m}Mean`])} ± ${
          percent(row[`${m}Sd`])
        }</td>`
      ).join("")
    }</tr>`
  ).join("\n");
  return `<table class="spread"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** The paired differences: first − second per seed, mean, sd, and whether the sign holds. */
function pairedTable(paired: SeedSection["paired"]): string {
  const head = [
    "comparison",
    "metric",
    "mean",
    "sd",
    "min",
    "max",
    "per seed",
    "holds on all seeds",
  ]
    .map((label) => `<th>${escapeXml(label)}</th>`).join("");
  const body = paired.map((d) =>
    `<tr><td data-key="comparison">${escapeXml(`${d.first} − ${d.second}`)}</td>` +
    `<td data-key="metric">${escapeXml(METRIC_LABELS[d.metric])}</td>` +
    `<td data-key="mean" class="num">${percent(d.mean)}</td>` +
    `<td data-key="sd" class="num">${percent(d.sd)}</td>` +
    `<td data-key="min" class="num">${percent(d.min)}</td>` +
    `<td data-key="max" class="num">${percent(d.max)}</td>` +
    `<td data-key="perSeed">${
      escapeXml(d.perSeed.map((p) => `${p.seed}: ${percent(p.difference)}`).join(", "))
    }</td>` +
    `<td data-key="holds">${d.holdsOnAllSeeds ? "yes" : "no"}</td></tr>`
  ).join("\n");
  return `<table class="paired"><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** The tie flags as a warning under the ranked table (a quiet note when nothing is flagged). */
function tieWarning(flags: ReadonlyArray<TieFlag>): string {
  const limit = `${100 * TIE_REPORT_LIMIT}%`;
  if (flags.length === 0) {
    return `<p class="ties" data-flagged="0">No detector has more than ${limit} of its scores ` +
      "tied across ID and OOD on any set: every AUROC here is decided by the ranking alone.</p>";
  }
  const items = flags.map((f) =>
    `<li data-detector="${escapeXml(f.detector)}">${escapeXml(f.detector)}: ${
      escapeXml(tieFlagSets(f))
    }</li>`
  ).join("");
  return `<div class="ties" data-flagged="${flags.length}"><p><strong>Tie-dependent ` +
    `results:</strong> more than ${limit} of these detectors' scores are tied across ID and ` +
    `OOD (AUROC counts such pairs as ½), so their metrics depend on the ties:</p><ul>${items}` +
    "</ul></div>";
}

/**
 * One benchmark's `<section>`: the spread over seeds (when present), the ranked table of the
 * first seed's model, plots, galleries and the per-set table.
 */
export function benchmarkSection(page: BenchmarkPage): string {
  const seeds = page.seeds;
  return [
    `<section id="${escapeXml(page.benchmark)}">`,
    `<h2>${escapeXml(page.benchmark)}</h2>`,
    ...(seeds === undefined ? [] : [
      `<h3>Mean ± sd over the models of training seeds ${
        escapeXml(seeds.seeds.join(", "))
      } (%), ranked by the mean of near and far AUROC</h3>`,
      spreadTable(seeds.spread),
      `<h3>Paired differences (first − second, same seed; points)</h3>`,
      pairedTable(seeds.paired),
    ]),
    `<h3>${
      seeds === undefined ? "" : "Model of training seed 0: "
    }ranked by the mean of near and far AUROC (%)</h3>`,
    table(page.summary, SUMMARY_COLUMNS, "summary"),
    tieWarning(page.tieFlags),
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
  ].join("\n");
}

/**
 * The whole page: a title, the metric definitions, and each benchmark's section (from
 * {@link benchmarkSection}). Self-contained (no external resource, no script).
 *
 * @example
 * ```ts
 * import { reportHtml } from "./page.ts";
 * const html = reportHtml("grood results", []);
 * if (!html.startsWith("<!DOCTYPE html>") || html.includes("http")) throw new Error("bad page");
 * ```
 */
export function reportHtml(title: string, sections: ReadonlyArray<string>): string {
  return [
    "<!DOCTYPE html>",
    `<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>`,
    `<style>${STYLE}</style></head><body>`,
    `<h1>${escapeXml(title)}</h1>`,
    "<p>Scores: higher = more OOD. FPR@95 (ID kept): share of OOD accepted when 95% of ID is " +
    "kept. FPR@95 (OpenOOD): share of ID flagged when 95% of OOD is caught (OpenOOD v1.5's " +
    "metrics.py). Mean ± sd: over the classifiers trained with each seed (sample sd). " +
    "Galleries show the focus detector's failures: the OOD images it scores " +
    "lowest, the ID images it scores highest (image index, label, score).</p>",
    ...sections,
    "</body></html>",
  ].join("\n");
}

/** One benchmark's section as read back from a results folder. */
export interface PageSection {
  /** The benchmark's name (its folder's name). */
  readonly benchmark: string;
  /** Its `section.html`. */
  readonly html: string;
}

/**
 * The sections of every benchmark in a results folder (`<out>/<benchmark>/section.html`): those
 * named in `first` in that order, then the others by name. Folders without a section (or
 * hidden ones, such as a half-written folder) are skipped.
 */
export async function pageSections(
  out: string,
  first: ReadonlyArray<string>,
): Promise<ReadonlyArray<PageSection>> {
  const found: Array<string> = [];
  for await (const entry of Deno.readDir(out)) {
    if (entry.isDirectory && !entry.name.startsWith(".")) found.push(entry.name);
  }
  const order = [
    ...first.filter((name) => found.includes(name)),
    ...found.filter((name) => !first.includes(name)).sort(),
  ];
  const sections: Array<PageSection> = [];
  for (const benchmark of order) {
    const html = await Deno.readTextFile(join(out, benchmark, "section.html")).catch(
      (e: unknown) => {
        if (e instanceof Deno.errors.NotFound) return undefined;
        throw e;
      },
    );
    if (html !== undefined) sections.push({ benchmark, html });
  }
  return sections;
}
