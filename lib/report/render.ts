/**
 * Rendering of vega-lite specs: SVG with vega's headless renderer, PNG with resvg.
 *
 * @module
 */
import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import * as vl from "vega-lite";
import { PLOT_FONT, type TopLevelSpec } from "./chart.ts";

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
