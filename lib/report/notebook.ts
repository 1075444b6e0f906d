/**
 * Rendering of vega-lite specs (SVG with vega's headless renderer, PNG with resvg) and rich
 * display in Jupyter notebooks run by the Deno kernel, which shows a cell's last value through its
 * `Symbol.for("Jupyter.display")` method: `show(spec)` as `image/svg+xml`, `display(table)` as
 * `text/html` (with `text/markdown` and `text/plain` for other front ends).
 *
 * @example In a notebook cell (the last expression is displayed)
 * ```ts ignore
 * import { display, show, rocCurves } from "../mod.ts";
 * show(rocCurves(result.runs[0]!));
 * ```
 *
 * @module
 */
import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import * as vl from "vega-lite";
import { SUMMARY_METRICS, type Table } from "../pipeline/tables.ts";
import { OOD_METRICS } from "../stages/evaluate.ts";
import { escapeXml, PLOT_FONT, type TopLevelSpec } from "./chart.ts";

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

/** The symbol the Deno Jupyter kernel looks for (same as `Deno.jupyter.$display`). */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

/** A MIME bundle: MIME type → content. */
export type MimeBundle = Readonly<Record<string, string>>;

/** A value the Deno kernel renders richly. */
export interface Displayable {
  /** The MIME bundle the kernel renders. */
  readonly [JUPYTER_DISPLAY]: () => MimeBundle;
}

/**
 * A plot for the notebook: `await show(spec)` as a cell's last expression. The spec is rendered
 * first so the kernel's display call is synchronous (an asynchronous one can resolve after the
 * cell has finished, its output lost). `mime()` gives the bundle directly.
 */
export async function show(plot: TopLevelSpec | string): Promise<
  Displayable & { readonly mime: () => MimeBundle }
> {
  const bundle: MimeBundle = {
    "image/svg+xml": typeof plot === "string" ? plot : await renderSvg(plot),
  };
  const mime = () => bundle;
  return { [JUPYTER_DISPLAY]: mime, mime };
}

/** Options of `display`. */
export interface DisplayOptions {
  /** Rows shown (default 50); the caption says how many were left out. */
  readonly limit?: number;
  /** Columns to show as percentages with 2 decimals (metrics in [0, 1]). */
  readonly percent?: ReadonlyArray<string>;
  /** Fractional digits of other numbers below 1,000 in size (default 4; larger: none). */
  readonly digits?: number;
  /** A caption above the table. */
  readonly caption?: string;
}

/** Metric columns of grood's tables, shown in percent by default. */
export const METRIC_COLUMNS: ReadonlyArray<string> = [
  ...OOD_METRICS,
  "idAccuracy",
  ...SUMMARY_METRICS,
  "meanAuroc",
];

/** An arquero table as HTML (and Markdown, and plain text) for the notebook. */
export function display(table: Table, options: DisplayOptions = {}): Displayable & {
  readonly mime: () => MimeBundle;
} {
  const limit = options.limit ?? 50;
  const digits = options.digits ?? 4;
  const names = table.columnNames();
  const percent = new Set(
    (options.percent ?? METRIC_COLUMNS).filter((c) => names.includes(c)),
  );
  // One formatter per column: percent for metrics, fixed digits for other numbers (arquero's
  // inferred formats would print full float noise like 0.9712000012).
  const format = Object.fromEntries(names.map((name) => [
    name,
    (v: unknown) =>
      typeof v !== "number"
        ? String(v ?? "")
        : percent.has(name)
        ? (100 * v).toFixed(2)
        : Number.isInteger(v) || Math.abs(v) >= 1000
        ? v.toFixed(0)
        // Rounded, trailing zeros dropped: λ = 0.1 reads "0.1", not "0.1000".
        : String(Number(v.toFixed(digits))),
  ]));
  const rows = table.numRows();
  const note = rows > limit ? `first ${limit} of ${rows} rows` : `${rows} rows`;
  const unit = percent.size > 0 ? `; ${[...percent].join(", ")} in %` : "";
  const caption = `${options.caption === undefined ? "" : `${options.caption}: `}${note}${unit}`;
  const mime = (): MimeBundle => ({
    "text/html": `<div><p><em>${escapeXml(caption)}</em></p>${
      table.toHTML({ limit, format })
    }</div>`,
    "text/markdown": `*${caption}*\n\n${table.toMarkdown({ limit, format })}`,
    "text/plain": `${caption}\n${table.toMarkdown({ limit, format })}`,
  });
  return { [JUPYTER_DISPLAY]: mime, mime };
}
