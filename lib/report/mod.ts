/**
 * Reports: plots as vega-lite specs (plain JSON values, so a notebook can tweak them before
 * rendering) and their rendering (SVG with vega's headless renderer, PNG with resvg), Jupyter
 * display. (The results folder and page that `deno task reproduce` writes, with its plot files,
 * `.npy` exports and seed spreads, are an app: `apps/results/`.)
 *
 * - `rocCurves`: one ROC curve per OOD set for one detector (OOD = positive, higher score =
 *   OOD, as everywhere in grood). The points are computed here, ties grouped, and downsampled.
 * - `scoreHistograms`: ID test against each OOD set, as normalised densities.
 * - `ablationChart`: a metric against a parameter, one line per value of another parameter.
 * - `imageGridSvg`: 28×28 images with captions (e.g. their scores), as an SVG.
 *
 * Curves and histograms are computed in TypeScript rather than by vega transforms: the score
 * arrays hold ~50,000 values per detector, and passing them raw into a spec would make every
 * SVG (and notebook) megabytes large and slow to render.
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
  PLOT_CONFIG,
  PLOT_FONT,
  type PlotInput,
  type ScoresBySet,
  type TopLevelSpec,
} from "./chart.ts";
export { NonFinitePlotData, PlotInputError, PlotRenderError } from "./plot_errors.ts";
export { downsampleCurve, type RocPoint, rocPoints } from "./roc.ts";
export { ROC_AXES, rocCurves, type RocOptions } from "./roc_chart.ts";
export { densityHistogram, quantile } from "./histogram.ts";
export {
  HISTOGRAM_AXES,
  type HistogramOptions,
  LOG_HISTOGRAM_X,
  scoreHistograms,
} from "./histogram_chart.ts";
export { ablationChart, type AblationChartOptions } from "./ablation_chart.ts";
export { type ImageGridOptions, imageGridSvg } from "./image_grid.ts";
export { type PngOptions, renderPng, renderSvg, svgToPng } from "./render.ts";
export { escapeXml } from "./xml.ts";
export {
  display,
  type Displayable,
  type DisplayOptions,
  JUPYTER_DISPLAY,
  METRIC_COLUMNS,
  type MimeBundle,
  show,
} from "./notebook.ts";
