/**
 * Score histograms of one detector as a vega-lite spec: ID test against each OOD set, as
 * normalised densities, on a linear or log axis.
 *
 * @module
 */
import { ID_SET, normalise, PLOT_CONFIG, type PlotInput, type TopLevelSpec } from "./chart.ts";
import { densityHistogram, quantile } from "./histogram.ts";
import { checkFinite } from "./plot_errors.ts";

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
  /** The chart's title (default: the detector's score densities). */
  readonly title?: string;
  /** Width and height of one panel. */
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
      config: PLOT_CONFIG,
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
    config: PLOT_CONFIG,
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
