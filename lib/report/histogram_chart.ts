/**
 * Score histograms of one detector as a vega-lite spec (ID test against each OOD set, normalised
 * densities, on a linear or log axis), and their maths.
 *
 * @module
 */
import { checkFinite, ID_SET, normalise, type PlotInput, specBase } from "./chart.ts";
import type { TopLevelSpec } from "./chart.ts";

/** The `q`-quantile of ascending `sorted` values (linear interpolation between ranks). */
export function quantile(sorted: Float64Array, q: number): number {
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

/** Options of `scoreHistograms`. */
export interface HistogramOptions {
  /** Bins over the shared score range (default 40). */
  readonly bins?: number;
  /** `facet` (default): one panel per OOD set against ID test; `layer`: every set as step lines. */
  readonly layout?: "facet" | "layer";
  /** Quantiles of all scores bounding the range (default [0.005, 0.995]); beyond: edge bins. */
  readonly clip?: readonly [number, number];
  /**
   * x axis: `linear`, `log` (of score − min score), or `auto` (default): log when the upper clip
   * quantile is over 20 times farther above the median than the lower one below it.
   */
  readonly xScale?: "auto" | "linear" | "log";
  /** The chart's title (default: the detector's score densities). */
  readonly title?: string;
  /** Width of one panel in pixels. */
  readonly width?: number;
  /** Height of one panel in pixels. */
  readonly height?: number;
  /** Panels per row in the facet layout (default 3). */
  readonly columns?: number;
}

/** Axis titles of the histograms. */
export const HISTOGRAM_AXES = { x: "Score (higher = more OOD)", y: "Density" } as const;
/** x axis title of a histogram on the log axis (the subtitle gives the smallest score). */
export const LOG_HISTOGRAM_X = "Score − smallest score (log)";

/** Score histograms of one detector: ID test against each OOD set (normalised densities). */
export function scoreHistograms(input: PlotInput, options: HistogramOptions = {}): TopLevelSpec {
  const { detector, scores, label, oodSets } = normalise(input, "score histograms");
  const bins = options.bins ?? 40;
  const [qLo, qHi] = options.clip ?? [0.005, 0.995];
  for (const [name, v] of scores) checkFinite(name, v);
  const all = Float64Array.from([...scores.values()].flatMap((v) => Array.from(v))).sort();
  const min = all[0]!;
  const median = quantile(all, 0.5);
  const skewed = quantile(all, qHi) - median > 20 * (median - quantile(all, qLo));
  const positive = all.filter((x) => x > min);
  const log = positive.length > 0 &&
    (options.xScale === "log" || (options.xScale !== "linear" && skewed));
  // On a log axis, bins are on t = log10(s − min) (the smallest score itself goes to the first
  // bin) and the axis shows s − min, which a log scale needs positive.
  const position = log ? (s: number) => Math.log10(s - min) : (s: number) => s;
  const spread = log ? positive.map((x) => Math.log10(x - min)) : all;
  const lo = quantile(spread, qLo);
  const hi = quantile(spread, qHi);
  const histogram = (set: string) =>
    densityHistogram(Float64Array.from(scores.get(set)!, position), lo, hi, bins).map((b) =>
      log ? { x0: 10 ** b.x0, x1: 10 ** b.x1, density: b.density } : b
    );
  // Notes go in the subtitle: as an axis title they would overlap across panels.
  const notes = [];
  if (qLo > 0 || qHi < 1) {
    notes.push(
      `Range: the ${100 * qLo}–${100 * qHi} percentiles of all scores; ` +
        "scores beyond are counted in the edge bins.",
    );
  }
  if (log) {
    notes.push(
      `Skewed scores: log x axis of score ${min < 0 ? "+" : "−"} ${
        Math.abs(min).toPrecision(4)
      } (minus the smallest score), bins equal in log10, density per decade.`,
    );
  }
  const title = {
    text: options.title ?? `${detector}: score densities, ID test vs OOD`,
    ...(notes.length > 0 ? { subtitle: notes } : {}),
  };
  // Ticks and grid lines at powers of ten only: vega's default log ticks draw a grid line at
  // every 2…9 multiple, which buries the bars.
  const first = Math.ceil(lo);
  const decades = Array.from(
    { length: log ? Math.floor(hi) - first + 1 : 0 },
    (_, k) => 10 ** (first + k),
  );
  const x = {
    type: "quantitative" as const,
    title: log ? LOG_HISTOGRAM_X : HISTOGRAM_AXES.x,
    scale: log
      ? { type: "log" as const, nice: false, domain: [10 ** lo, 10 ** hi] }
      : { zero: false, nice: false, domain: hi > lo ? [lo, hi] : [lo - 0.5, lo + 0.5] },
    axis: log ? { values: decades, format: "~g" } : {},
  };
  const y = {
    field: "density",
    type: "quantitative" as const,
    title: log ? `${HISTOGRAM_AXES.y} (per decade)` : HISTOGRAM_AXES.y,
  };
  const idHistogram = histogram(ID_SET);
  if (options.layout === "layer") {
    const values = [ID_SET, ...oodSets].flatMap((set) => {
      const name = set === ID_SET ? "ID test" : label(set);
      const h = set === ID_SET ? idHistogram : histogram(set);
      // Step lines need the right edge of the last bin too.
      return [
        ...h.map((b) => ({ set: name, x: b.x0, density: b.density })),
        { set: name, x: h[h.length - 1]!.x1, density: h[h.length - 1]!.density },
      ];
    });
    return {
      ...specBase(title),
      width: options.width ?? 480,
      height: options.height ?? 280,
      data: { values },
      mark: { type: "line", interpolate: "step-after", strokeWidth: 1.5 },
      encoding: {
        x: { field: "x", ...x },
        y,
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
      ...histogram(set).map((b) => ({ panel, series: "OOD set", ...b })),
    ];
  });
  return {
    ...specBase(title),
    data: { values },
    facet: { field: "panel", type: "nominal", title: null, sort: oodSets.map(label) },
    columns: options.columns ?? 3,
    spec: {
      width: options.width ?? 220,
      height: options.height ?? 140,
      mark: { type: "rect", opacity: 0.55 },
      encoding: {
        x: { field: "x0", ...x },
        x2: { field: "x1" },
        y,
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
