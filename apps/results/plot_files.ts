/**
 * Plots as files: a spec written atomically as PNG and/or SVG, and the plots `deno task
 * reproduce` writes next to its tables.
 *
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic } from "../../lib/io/mod.ts";
import type { DetectorRun } from "../../lib/pipeline/mod.ts";
import {
  renderSvg,
  rocCurves,
  scoreHistograms,
  svgToPng,
  type TopLevelSpec,
} from "../../lib/report/mod.ts";

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
