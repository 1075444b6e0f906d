/**
 * Plots as vega-lite specs (plain JSON values, so a notebook can tweak them before rendering),
 * and their rendering: SVG with vega's headless renderer, PNG with resvg.
 *
 * - `rocCurves`: one ROC curve per OOD set for one detector (OOD = positive, higher score =
 *   OOD, as everywhere in grood). The points are computed here, ties grouped, and downsampled.
 * - `scoreHistograms`: ID test against each OOD set, as normalised densities.
 * - `ablationChart`: a metric against a parameter, one line per value of another parameter.
 * - `imageGridSvg`: 28×28 images with captions (e.g. their scores), as an SVG.
 * - `writeReportPlots`: the PNGs `deno task reproduce` writes next to its tables.
 *
 * Curves and histograms are computed in TypeScript rather than by vega transforms: the score
 * arrays hold ~50,000 values per detector, and passing them raw into a spec would make every
 * SVG (and notebook) megabytes large and slow to render.
 *
 * @example ROC curves of one detector's scores, as SVG
 * ```ts
 * import { renderSvg, rocCurves } from "./plots.ts";
 * const scores = new Map([
 *   ["id", Float32Array.from([0.1, 0.2, 0.3])],
 *   ["letters", Float32Array.from([0.25, 0.5, 0.9])],
 * ]);
 * const svg = await renderSvg(rocCurves({ detector: "demo", scores }));
 * if (!svg.includes("<svg")) throw new Error("no SVG");
 * ```
 *
 * @module
 */
import { Resvg } from "@resvg/resvg-js";
import { Data } from "effect";
import { encode as encodePng } from "fast-png";
import { join } from "node:path";
import * as vega from "vega";
import * as vl from "vega-lite";
import type { TopLevelSpec } from "vega-lite";
import { IMAGE_SIDE, IMAGE_SIZE } from "../data/images.ts";
import { writeFileAtomic } from "../io/files.ts";
import type { DetectorRun } from "../pipeline/run.ts";
import type { Table } from "./tables.ts";

export type { TopLevelSpec };

/** Set name under which a run stores the ID test scores. */
const ID_SET = "id";

/** The font every rendered plot uses (installed with `fonts-dejavu-core`). */
export const PLOT_FONT = "DejaVu Sans";

/**
 * Shared look: the font named explicitly so that the SVG in a notebook and the PNG from resvg
 * agree (resvg's own default is a serif face).
 */
const CONFIG = {
  font: `${PLOT_FONT}, sans-serif`,
  view: { stroke: "#ddd" },
  axis: { gridColor: "#eee" },
} as const;

/** Scores to plot for a set were NaN or infinite (a plot would silently drop them). */
export class NonFinitePlotData extends Data.TaggedError("NonFinitePlotData")<{
  readonly set: string;
  readonly index: number;
  readonly value: number;
}> {
  override get message(): string {
    return `Cannot plot the scores of "${this.set}": value ${this.value} at index ${this.index} ` +
      "is not finite";
  }
}

/** A plot input lacks what the plot needs (no ID scores, no OOD set, unknown column). */
export class PlotInputError extends Data.TaggedError("PlotInputError")<{
  readonly plot: string;
  readonly problem: string;
}> {
  override get message(): string {
    return `Cannot draw ${this.plot}: ${this.problem}`;
  }
}

function checkFinite(set: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new NonFinitePlotData({ set, index: i, value: v });
  }
}

// ---------------------------------------------------------------------------------------------
// ROC

/** One vertex of an ROC curve: flag as OOD every image whose score is ≥ `threshold`. */
export interface RocPoint {
  readonly fpr: number;
  readonly tpr: number;
  /** `Infinity` for the first point (nothing flagged). */
  readonly threshold: number;
}

/**
 * The vertices of the ROC curve of `ood` (positives) against `id` (negatives), higher score =
 * OOD. Equal scores form one threshold, so a tie between an ID and an OOD image gives one
 * diagonal step (the usual convention, whose area counts a tie as one half), never an
 * order-dependent staircase. The curve runs from (0, 0) to (1, 1).
 *
 * Throws `NonFinitePlotData` on NaN or infinite scores, `PlotInputError` on an empty side.
 */
export function rocPoints(
  id: ArrayLike<number>,
  ood: ArrayLike<number>,
  names: { readonly id: string; readonly ood: string } = { id: "ID", ood: "OOD" },
): ReadonlyArray<RocPoint> {
  checkFinite(names.id, id);
  checkFinite(names.ood, ood);
  if (id.length === 0 || ood.length === 0) {
    throw new PlotInputError({
      plot: `the ROC curve of "${names.ood}"`,
      problem: `${id.length === 0 ? names.id : names.ood} has no scores`,
    });
  }
  // One sorted array of (score, isOod), descending by score: a threshold sweep visits it once.
  const n = id.length + ood.length;
  const scores = new Float64Array(n);
  const positive = new Uint8Array(n);
  for (let i = 0; i < id.length; i++) scores[i] = id[i]!;
  for (let i = 0; i < ood.length; i++) {
    scores[id.length + i] = ood[i]!;
    positive[id.length + i] = 1;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const points: Array<RocPoint> = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < n;) {
    const threshold = scores[order[k]!]!;
    // Take every image with this exact score before emitting a point (ties grouped).
    while (k < n && scores[order[k]!] === threshold) {
      if (positive[order[k]!] === 1) tp++;
      else fp++;
      k++;
    }
    points.push({ fpr: fp / id.length, tpr: tp / ood.length, threshold });
  }
  return points;
}

/** Area under a curve given by its vertices (trapezoids; exact for ROC vertices). */
export function areaUnder(points: ReadonlyArray<RocPoint>): number {
  let area = 0;
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!;
    const b = points[i]!;
    area += (b.fpr - a.fpr) * (a.tpr + b.tpr) / 2;
  }
  return area;
}

/**
 * Keep at most `maxPoints` vertices of a curve, first and last included. The kept vertices are
 * spread evenly along fpr + tpr, which grows monotonically from 0 to 2 along an ROC curve, so
 * the straight segments between kept vertices stay within 2 / maxPoints of the full curve in
 * both axes: invisible at plot size, and steep parts keep their detail.
 */
export function downsampleCurve(
  points: ReadonlyArray<RocPoint>,
  maxPoints = 500,
): ReadonlyArray<RocPoint> {
  if (points.length <= maxPoints) return points;
  if (maxPoints < 2) throw new RangeError(`maxPoints must be at least 2, got ${maxPoints}`);
  const first = points[0]!;
  const last = points[points.length - 1]!;
  const start = first.fpr + first.tpr;
  const span = last.fpr + last.tpr - start;
  const bins = maxPoints - 2;
  const kept: Array<RocPoint> = [first];
  let lastBin = -1;
  for (let i = 1; i < points.length - 1; i++) {
    const p = points[i]!;
    const bin = Math.min(bins - 1, Math.floor(((p.fpr + p.tpr - start) / span) * bins));
    // The first vertex of each bin is kept: each bin then contributes at most one vertex.
    if (bin > lastBin) {
      kept.push(p);
      lastBin = bin;
    }
  }
  kept.push(last);
  return kept;
}

/** Scores of one detector by set (`id` = the ID test set), as a `DetectorRun` holds them. */
export interface ScoresBySet {
  readonly detector?: string;
  readonly scores: ReadonlyMap<string, ArrayLike<number>>;
  /** Near/far group of each OOD set, for legends (taken from a run's rows when present). */
  readonly groups?: ReadonlyMap<string, "near" | "far">;
}

/** A run or plain scores. */
export type PlotInput = DetectorRun | ScoresBySet;

function normalise(input: PlotInput, plot: string) {
  const scores = input.scores;
  const id = scores.get(ID_SET);
  if (id === undefined) {
    throw new PlotInputError({ plot, problem: `no "${ID_SET}" scores (the ID test set)` });
  }
  const groups = new Map<string, "near" | "far">();
  if ("rows" in input) { for (const r of input.rows) groups.set(r.set, r.group); }
  if ("groups" in input && input.groups !== undefined) {
    for (const [k, v] of input.groups) groups.set(k, v);
  }
  const oodSets = [...scores.keys()].filter((k) => k !== ID_SET);
  if (oodSets.length === 0) throw new PlotInputError({ plot, problem: "no OOD set scores" });
  return { detector: input.detector ?? "detector", id, scores, groups, oodSets };
}

/** Options of `rocCurves`. */
export interface RocOptions {
  /** Vertices kept per curve (default 500). */
  readonly maxPoints?: number;
  readonly title?: string;
  readonly width?: number;
  readonly height?: number;
}

/** Axis titles of the ROC chart (OOD is the positive class). */
export const ROC_AXES = {
  x: "False positive rate (ID test flagged as OOD)",
  y: "True positive rate (OOD detected)",
} as const;

/**
 * ROC curves of one detector, one per OOD set, in one chart. The legend gives each set's AUROC
 * (computed from the full curve, before downsampling) and its near/far group when known.
 */
export function rocCurves(input: PlotInput, options: RocOptions = {}): TopLevelSpec {
  const { detector, id, scores, groups, oodSets } = normalise(input, "ROC curves");
  const values: Array<Record<string, string | number>> = [];
  const labels: Array<string> = [];
  for (const set of oodSets) {
    const full = rocPoints(id, scores.get(set)!, { id: `${detector} on ID test`, ood: set });
    const group = groups.get(set);
    const label = `${set}${group === undefined ? "" : ` (${group})`}: AUROC ${
      (100 * areaUnder(full)).toFixed(1)
    }`;
    labels.push(label);
    downsampleCurve(full, options.maxPoints ?? 500).forEach((p, order) =>
      values.push({ set: label, fpr: p.fpr, tpr: p.tpr, order })
    );
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: options.title ?? `${detector}: ROC per OOD set`,
    width: options.width ?? 360,
    height: options.height ?? 360,
    config: CONFIG,
    layer: [
      {
        // Chance line: a detector no better than a coin lies on it.
        data: { values: [{ fpr: 0, tpr: 0 }, { fpr: 1, tpr: 1 }] },
        mark: { type: "line", color: "#999", strokeDash: [4, 4], strokeWidth: 1 },
        encoding: {
          x: { field: "fpr", type: "quantitative" },
          y: { field: "tpr", type: "quantitative" },
        },
      },
      {
        data: { values },
        mark: { type: "line", strokeWidth: 2 },
        encoding: {
          x: {
            field: "fpr",
            type: "quantitative",
            title: ROC_AXES.x,
            scale: { domain: [0, 1] },
          },
          y: {
            field: "tpr",
            type: "quantitative",
            title: ROC_AXES.y,
            scale: { domain: [0, 1] },
          },
          color: {
            field: "set",
            type: "nominal",
            title: "OOD set",
            sort: labels,
            legend: { orient: "right", labelLimit: 400 },
          },
          // Vertices in curve order: sorting by x alone would scramble vertical steps.
          order: { field: "order", type: "quantitative" },
        },
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Histograms

/** Options of `scoreHistograms`. */
export interface HistogramOptions {
  /** Bins over the shared score range (default 40). */
  readonly bins?: number;
  /**
   * `facet` (default): one panel per OOD set, ID test against it; `layer`: every set,
   * ID test included, as step lines in one chart.
   */
  readonly layout?: "facet" | "layer";
  /**
   * Quantiles of all scores that bound the range (default [0.005, 0.995]). Scores beyond are
   * counted in the edge bins, so a few extreme scores do not squash every histogram into one
   * bin; pass [0, 1] for the full range.
   */
  readonly clip?: readonly [number, number];
  /**
   * x axis: `linear`, `log` (of score − min score, bins equal in log), or `auto` (default):
   * log when the scores are strongly right-skewed (the 99.5th percentile lies more than 20
   * times farther above the median than the 0.5th lies below it), as k-NN distances and
   * −MSP are: on a linear axis nearly all ID mass then falls into one bin.
   */
  readonly xScale?: "auto" | "linear" | "log";
  readonly title?: string;
  /** Width and height of one panel. */
  readonly width?: number;
  readonly height?: number;
  /** Panels per row in the facet layout (default 3). */
  readonly columns?: number;
}

function quantile(sorted: Float64Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Density histogram of `values` over `bins` equal bins on [lo, hi] (values outside go to the
 * edge bins): count / (n × bin width), so every set integrates to 1 whatever its size.
 */
export function densityHistogram(
  values: ArrayLike<number>,
  lo: number,
  hi: number,
  bins: number,
): ReadonlyArray<{ readonly x0: number; readonly x1: number; readonly density: number }> {
  // A constant score (lo = hi) still gets a visible bar of width 1.
  const width = hi > lo ? (hi - lo) / bins : 1 / bins;
  const base = hi > lo ? lo : lo - 0.5;
  const counts = new Float64Array(bins);
  for (let i = 0; i < values.length; i++) {
    const b = Math.floor((values[i]! - base) / width);
    counts[Math.max(0, Math.min(bins - 1, b))]! += 1;
  }
  return Array.from(counts, (c, b) => ({
    x0: base + b * width,
    x1: base + (b + 1) * width,
    density: c / (values.length * width),
  }));
}

/** Axis titles of the histograms. */
export const HISTOGRAM_AXES = { x: "Score (higher = more OOD)", y: "Density" } as const;
/** x axis title of a histogram on the log axis (the subtitle gives the smallest score). */
export const LOG_HISTOGRAM_X = "Score − smallest score (log)";

/** Score histograms of one detector: ID test against each OOD set (normalised densities). */
export function scoreHistograms(input: PlotInput, options: HistogramOptions = {}): TopLevelSpec {
  const { detector, id, scores, groups, oodSets } = normalise(input, "score histograms");
  const bins = options.bins ?? 40;
  const [qLo, qHi] = options.clip ?? [0.005, 0.995];
  let total = 0;
  for (const v of scores.values()) total += v.length;
  const all = new Float64Array(total);
  let offset = 0;
  for (const [name, v] of scores) {
    checkFinite(name, v);
    for (let i = 0; i < v.length; i++) all[offset++] = v[i]!;
  }
  all.sort();
  const min = all[0]!;
  const median = quantile(all, 0.5);
  const skewed = quantile(all, qHi) - median > 20 * (median - quantile(all, qLo));
  const positive = all.filter((x) => x > min);
  const log = positive.length > 0 &&
    (options.xScale === "log" || (options.xScale !== "linear" && skewed));
  // Binning happens on t = log10(s − min) on a log axis (the smallest score itself goes to the
  // first bin), on s otherwise; the axis then shows s − min, which a log scale needs positive.
  const position = log ? (s: number) => Math.log10(s - min) : (s: number) => s;
  const spread = log ? positive.map((x) => Math.log10(x - min)) : all;
  const lo = quantile(spread, qLo);
  const hi = quantile(spread, qHi);
  const histogram = (v: ArrayLike<number>) =>
    densityHistogram(Float64Array.from(v, position), lo, hi, bins).map((b) =>
      log ? { x0: 10 ** b.x0, x1: 10 ** b.x1, density: b.density } : b
    );
  const label = (set: string) => {
    const group = groups.get(set);
    return group === undefined ? set : `${set} (${group})`;
  };
  const idHistogram = histogram(id);
  const clipped = qLo > 0 || qHi < 1;
  // Notes go in the subtitle: as an axis title they would overlap across panels.
  const notes = [
    ...(clipped
      ? [
        `Range: the ${100 * qLo}–${100 * qHi} percentiles of all scores; ` +
        "scores beyond are counted in the edge bins.",
      ]
      : []),
    ...(log
      ? [
        `Skewed scores: log x axis of score ${min < 0 ? "+" : "−"} ${
          Math.abs(min).toPrecision(4)
        } (minus the smallest score), bins equal in log10, density per decade.`,
      ]
      : []),
  ];
  const title = {
    text: options.title ?? `${detector}: score densities, ID test vs OOD`,
    ...(notes.length > 0 ? { subtitle: notes } : {}),
  };
  const xScale = log
    ? { type: "log" as const, nice: false, domain: [10 ** lo, 10 ** hi] }
    : { zero: false, nice: false, domain: hi > lo ? [lo, hi] : [lo - 0.5, lo + 0.5] };
  // Ticks and grid lines at powers of ten only: vega's default log ticks draw a grid line at
  // every 2…9 multiple, which buries the bars.
  const decades: Array<number> = [];
  for (let k = Math.ceil(lo); k <= Math.floor(hi); k++) decades.push(10 ** k);
  const xAxis = log ? { values: decades, format: "~g" } : {};
  const xTitle = log ? LOG_HISTOGRAM_X : HISTOGRAM_AXES.x;
  const yTitle = log ? `${HISTOGRAM_AXES.y} (per decade)` : HISTOGRAM_AXES.y;
  if (options.layout === "layer") {
    const values = [ID_SET, ...oodSets].flatMap((set) => {
      const name = set === ID_SET ? "ID test" : label(set);
      const h = set === ID_SET ? idHistogram : histogram(scores.get(set)!);
      // Step lines need the right edge of the last bin too.
      return [
        ...h.map((b) => ({ set: name, x: b.x0, density: b.density })),
        { set: name, x: h[h.length - 1]!.x1, density: h[h.length - 1]!.density },
      ];
    });
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title,
      width: options.width ?? 480,
      height: options.height ?? 280,
      config: CONFIG,
      data: { values },
      mark: { type: "line", interpolate: "step-after", strokeWidth: 1.5 },
      encoding: {
        x: { field: "x", type: "quantitative", title: xTitle, scale: xScale, axis: xAxis },
        y: { field: "density", type: "quantitative", title: yTitle },
        color: {
          field: "set",
          type: "nominal",
          title: "Set",
          sort: null,
          legend: { labelLimit: 400 },
        },
      },
    };
  }
  const values = oodSets.flatMap((set) => {
    const panel = label(set);
    return [
      ...idHistogram.map((b) => ({ panel, series: "ID test", ...b })),
      ...histogram(scores.get(set)!).map((b) => ({ panel, series: "OOD set", ...b })),
    ];
  });
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    config: CONFIG,
    data: { values },
    facet: { field: "panel", type: "nominal", title: null, sort: oodSets.map(label) },
    columns: options.columns ?? 3,
    spec: {
      width: options.width ?? 220,
      height: options.height ?? 140,
      mark: { type: "rect", opacity: 0.55 },
      encoding: {
        x: { field: "x0", type: "quantitative", title: xTitle, scale: xScale, axis: xAxis },
        x2: { field: "x1" },
        y: { field: "density", type: "quantitative", title: yTitle },
        color: {
          field: "series",
          type: "nominal",
          title: null,
          scale: { domain: ["ID test", "OOD set"], range: ["#4c78a8", "#e45756"] },
          legend: { orient: "top" },
        },
      },
    },
    // Densities differ by orders of magnitude between sets: each panel gets its own y scale.
    resolve: { scale: { y: "independent" } },
  };
}

// ---------------------------------------------------------------------------------------------
// Ablations

/** Options of `ablationChart`. */
export interface AblationChartOptions {
  readonly title?: string;
  readonly width?: number;
  readonly height?: number;
  /** Axis title of the metric (default: the column name, or "value" for several). */
  readonly yTitle?: string;
  /** Display names of metric columns (panel titles), e.g. `{ nearAuroc: "near-OOD" }`. */
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * A metric (or several: one panel each) of an ablation table against one parameter `x`, one
 * line per value of `color` (e.g. near/far AUROC against λ, per early layer). Rows that share
 * (x, color) should be unique: aggregate the table first when the grid varies more parameters.
 */
export function ablationChart(
  table: Table,
  x: string,
  y: string | ReadonlyArray<string>,
  color?: string,
  options: AblationChartOptions = {},
): TopLevelSpec {
  const metrics = typeof y === "string" ? [y] : [...y];
  const names = table.columnNames();
  for (const column of [x, ...metrics, ...(color === undefined ? [] : [color])]) {
    if (!names.includes(column)) {
      throw new PlotInputError({
        plot: "the ablation chart",
        problem: `the table has no column "${column}" (columns: ${names.join(", ")})`,
      });
    }
  }
  const rows = table.objects() as Array<Record<string, unknown>>;
  const numericX = rows.every((r) => typeof r[x] === "number");
  const values = rows.flatMap((r) =>
    metrics.map((metric) => ({
      x: r[x],
      metric: options.labels?.[metric] ?? metric,
      value: r[metric],
      ...(color === undefined ? {} : { color: String(r[color]) }),
    }))
  );
  const layer = {
    width: options.width ?? 300,
    height: options.height ?? 220,
    mark: { type: "line" as const, point: true },
    encoding: {
      x: {
        field: "x",
        type: numericX ? "quantitative" as const : "ordinal" as const,
        title: x,
        ...(numericX ? { scale: { zero: false } } : {}),
      },
      y: {
        field: "value",
        type: "quantitative" as const,
        title: options.yTitle ?? (metrics.length === 1 ? metrics[0]! : "value"),
        scale: { zero: false },
      },
      ...(color === undefined ? {} : {
        color: { field: "color", type: "nominal" as const, title: color },
      }),
    },
  };
  const title = options.title ?? `${metrics.join(", ")} vs ${x}${color ? ` by ${color}` : ""}`;
  if (metrics.length === 1) {
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title,
      config: CONFIG,
      data: { values },
      ...layer,
    };
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    config: CONFIG,
    data: { values },
    facet: {
      column: {
        field: "metric",
        type: "nominal",
        title: null,
        sort: metrics.map((m) => options.labels?.[m] ?? m),
      },
    },
    spec: layer,
    // Near and far AUROC live on different levels; shared y would flatten one of them.
    resolve: { scale: { y: "independent" } },
  };
}

// ---------------------------------------------------------------------------------------------
// Images

/** Options of `imageGridSvg`. */
export interface ImageGridOptions {
  /** Tiles per row (default 8). */
  readonly columns?: number;
  /** Integer upscale of each 28×28 tile (default 3). */
  readonly scale?: number;
  readonly title?: string;
}

/** Escape text for SVG/HTML content and attributes. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A grid of 28×28 uint8 images (image-major, as in an `ImageSet`) with a caption under each
 * (e.g. its label and score; `\n` starts a new line), as an SVG. Each tile is a PNG data URI
 * upscaled by nearest neighbour in the PNG itself, so it looks the same in a browser and in
 * resvg. Cells widen to fit the longest caption line.
 */
export function imageGridSvg(
  pixels: Uint8Array,
  captions: ReadonlyArray<string>,
  options: ImageGridOptions = {},
): string {
  const count = captions.length;
  if (pixels.length < count * IMAGE_SIZE) {
    throw new PlotInputError({
      plot: "the image grid",
      problem: `${count} captions but pixels for ${Math.floor(pixels.length / IMAGE_SIZE)} images`,
    });
  }
  const columns = Math.max(1, Math.min(options.columns ?? 8, count));
  const scale = options.scale ?? 3;
  const side = IMAGE_SIDE * scale;
  const gap = 8;
  const lines = captions.map((c) => c.split("\n"));
  const lineHeight = 13;
  const captionHeight = 4 + lineHeight * Math.max(1, ...lines.map((l) => l.length));
  const top = options.title === undefined ? 0 : 24;
  // About 6.2 px per character at 11 px DejaVu Sans: wide enough that captions never overlap.
  const longest = Math.max(0, ...lines.flatMap((l) => l.map((t) => t.length)));
  const cellWidth = Math.max(side, Math.ceil(longest * 6.2) + 6);
  const rows = Math.ceil(count / columns);
  const width = columns * (cellWidth + gap) + gap;
  const height = top + rows * (side + captionHeight + gap) + gap;
  const parts: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="${PLOT_FONT}, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  if (options.title !== undefined) {
    parts.push(
      `<text x="${gap}" y="17" font-size="14" font-weight="bold">${
        escapeXml(options.title)
      }</text>`,
    );
  }
  for (let k = 0; k < count; k++) {
    const tile = new Uint8Array(side * side);
    const base = k * IMAGE_SIZE;
    for (let y = 0; y < side; y++) {
      const row = base + Math.floor(y / scale) * IMAGE_SIDE;
      for (let x = 0; x < side; x++) tile[y * side + x] = pixels[row + Math.floor(x / scale)]!;
    }
    const png = encodePng({ width: side, height: side, data: tile, channels: 1, depth: 8 });
    const x = gap + (k % columns) * (cellWidth + gap);
    const y = top + gap + Math.floor(k / columns) * (side + captionHeight + gap);
    parts.push(
      `<image x="${x + (cellWidth - side) / 2}" y="${y}" width="${side}" height="${side}" ` +
        `href="data:image/png;base64,${base64(png)}"/>`,
      `<text x="${x + cellWidth / 2}" y="${y + side + 12}" text-anchor="middle">${
        lines[k]!.map((line, i) =>
          `<tspan x="${x + cellWidth / 2}" dy="${i === 0 ? 0 : lineHeight}">${
            escapeXml(line)
          }</tspan>`
        ).join("")
      }</text>`,
    );
  }
  parts.push("</svg>");
  return parts.join("\n");
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

// ---------------------------------------------------------------------------------------------
// Rendering

/** Render a vega-lite spec to an SVG string (vega's headless renderer, no canvas needed). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Options of `renderPng`/`svgToPng`. */
export interface PngOptions {
  /** Pixel density: 2 (default) makes a crisp PNG for reports. */
  readonly scale?: number;
}

/** Rasterise an SVG with resvg: white background, DejaVu Sans for every generic family. */
export function svgToPng(svg: string, options: PngOptions = {}): Uint8Array {
  const resvg = new Resvg(svg, {
    background: "white",
    fitTo: { mode: "zoom", value: options.scale ?? 2 },
    font: {
      loadSystemFonts: true,
      defaultFontFamily: PLOT_FONT,
      sansSerifFamily: PLOT_FONT,
    },
  });
  return new Uint8Array(resvg.render().asPng());
}

/** Render a vega-lite spec to PNG bytes. */
export async function renderPng(spec: TopLevelSpec, options: PngOptions = {}): Promise<Uint8Array> {
  return svgToPng(await renderSvg(spec), options);
}

/** Plot file formats. */
export type PlotFormat = "png" | "svg";

/**
 * Write a plot atomically. The format follows the extension of `path` (`.png` or `.svg`);
 * `formats` writes several, replacing the extension (`roc.png` → `roc.png`, `roc.svg`).
 * Returns the paths written.
 */
export async function writePlot(
  path: string,
  spec: TopLevelSpec,
  formats?: ReadonlyArray<PlotFormat>,
): Promise<ReadonlyArray<string>> {
  const match = /\.(png|svg)$/i.exec(path);
  const stem = match === null ? path : path.slice(0, -match[0].length);
  const wanted: ReadonlyArray<PlotFormat> = formats ??
    (match === null ? ["png"] : [match[1]!.toLowerCase() as PlotFormat]);
  const svg = await renderSvg(spec);
  const written: Array<string> = [];
  for (const format of wanted) {
    const target = `${stem}.${format}`;
    await writeFileAtomic(target, format === "svg" ? svg : svgToPng(svg));
    written.push(target);
  }
  return written;
}

/** A detector name as a file-name part: `GROOD[lambda=0.1]` → `grood-lambda-0-1`. */
export function plotSlug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "detector";
}

/**
 * Write `roc-<detector>.png` and `hist-<detector>.png` into `dir` for the GROOD run (the run
 * named `GROOD`, else the first whose name starts with GROOD, else the first run), or for every
 * run with `all`. Returns the paths written.
 */
export async function writeReportPlots(
  dir: string,
  runs: ReadonlyArray<DetectorRun>,
  options: { readonly all?: boolean; readonly formats?: ReadonlyArray<PlotFormat> } = {},
): Promise<ReadonlyArray<string>> {
  const chosen = options.all === true ? runs : [
    runs.find((r) => r.detector === "GROOD") ??
      runs.find((r) => r.detector.startsWith("GROOD")) ?? runs[0],
  ].filter((r): r is DetectorRun => r !== undefined);
  const formats = options.formats ?? ["png"];
  const written: Array<string> = [];
  for (const run of chosen) {
    const slug = plotSlug(run.detector);
    const title = `${run.benchmark}: ${run.detector}`;
    written.push(
      ...await writePlot(
        join(dir, `roc-${slug}.png`),
        rocCurves(run, { title: `${title}, ROC per OOD set` }),
        formats,
      ),
      ...await writePlot(
        join(dir, `hist-${slug}.png`),
        scoreHistograms(run, { title: `${title}, score densities (ID test vs OOD)` }),
        formats,
      ),
    );
  }
  return written;
}
