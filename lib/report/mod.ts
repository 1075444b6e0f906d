/**
 * Reports: plots as vega-lite specs (plain JSON values, so a notebook can tweak them before
 * rendering): `rocCurves`, `scoreHistograms`, `ablationChart`, and `imageGridSvg` (captioned
 * 28×28 images); their rendering (SVG with vega's headless renderer, PNG with resvg); Jupyter
 * display. (The results folder and page that `deno task reproduce` writes are an app:
 * `apps/results/`.) Curves and histograms are computed in TypeScript rather than by vega
 * transforms: raw score arrays (~50,000 values per detector) would make every SVG megabytes large.
 *
 * @example ROC curves of one detector's scores, as SVG
 * ```ts
 * import { renderSvg, rocCurves } from "./mod.ts";
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
export {
  escapeXml,
  NonFinitePlotData,
  PLOT_CONFIG,
  PLOT_FONT,
  type PlotInput,
  PlotInputError,
  PlotRenderError,
  type ScoresBySet,
  type TopLevelSpec,
} from "./chart.ts";
export {
  downsampleCurve,
  ROC_AXES,
  rocCurves,
  type RocOptions,
  type RocPoint,
  rocPoints,
} from "./roc_chart.ts";
export {
  densityHistogram,
  HISTOGRAM_AXES,
  type HistogramOptions,
  LOG_HISTOGRAM_X,
  quantile,
  scoreHistograms,
} from "./histogram_chart.ts";
export { ablationChart, type AblationChartOptions } from "./ablation_chart.ts";
export { type ImageGridOptions, imageGridSvg } from "./image_grid.ts";
export {
  display,
  type Displayable,
  type DisplayOptions,
  JUPYTER_DISPLAY,
  METRIC_COLUMNS,
  type MimeBundle,
  type PngOptions,
  renderPng,
  renderSvg,
  show,
  svgToPng,
} from "./notebook.ts";
