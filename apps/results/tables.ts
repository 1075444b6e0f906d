/**
 * The result tables as files and Markdown: `results.{json,csv,md}` and `summary.csv` of
 * `results/<benchmark>/` (`writeResults`), the summary and per-set tables in percent, and the
 * tie report (the detectors whose AUROC depends on scores tied across ID and OOD).
 *
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../../lib/io/mod.ts";
import {
  type DetectorRun,
  resultsTable,
  SUMMARY_METRICS,
  summaryTable,
  type Table,
} from "../../lib/pipeline/mod.ts";
import { OOD_METRICS, TIE_REPORT_LIMIT } from "../../lib/stages/mod.ts";

/** A fraction as a percentage with two decimals; an absent value (an empty group) as "–". */
const percent = (v: unknown) =>
  typeof v === "number" ? (100 * v).toFixed(2) : v === null || v === undefined ? "–" : String(v);

/** Markdown formats that show `columns` in percent (`Table.toMarkdown`'s `format`). */
export const inPercent = (
  columns: ReadonlyArray<string>,
): Record<string, (value: unknown) => string> =>
  Object.fromEntries(columns.map((column) => [column, percent]));

const seconds = (v: unknown) => typeof v === "number" ? v.toFixed(1) : String(v);
const rate = (v: unknown) => typeof v === "number" ? v.toFixed(0) : String(v);

/** Markdown of the summary, metrics in percent. */
export function summaryMarkdown(summary: Table): string {
  return summary.select(
    "detector",
    ...SUMMARY_METRICS,
    "idAccuracy",
    "fitSeconds",
    "scoredPerSecond",
  )
    .toMarkdown({
      format: {
        ...inPercent([...SUMMARY_METRICS, "idAccuracy"]),
        fitSeconds: seconds,
        scoredPerSecond: rate,
      },
    });
}

/**
 * Markdown of the per-set results (AUROC, AUPR and both FPR@95 conventions per detector and
 * set), in percent.
 */
export function perSetMarkdown(results: Table): string {
  return results.select("detector", "set", "group", ...OOD_METRICS)
    .toMarkdown({ format: inPercent(OOD_METRICS) });
}

/** A detector whose metrics on some OOD set depend on ties across ID and OOD. */
export interface TieFlag {
  /** The detector's name in tables. */
  readonly detector: string;
  /** The sets where more than {@link TIE_REPORT_LIMIT} of the scores tie across, with the share. */
  readonly sets: ReadonlyArray<{ readonly set: string; readonly tiedAcross: number }>;
}

/**
 * The detectors whose AUROC on some set depends on ties of more than {@link TIE_REPORT_LIMIT}
 * of its scores (ID and OOD tied with each other), for the results page and `results.md`.
 */
export function tieFlags(runs: ReadonlyArray<DetectorRun>): ReadonlyArray<TieFlag> {
  return runs.flatMap((run) => {
    const sets = run.rows.filter((r) => r.tiedAcross > TIE_REPORT_LIMIT)
      .map((r) => ({ set: r.set, tiedAcross: r.tiedAcross }));
    return sets.length === 0 ? [] : [{ detector: run.detector, sets }];
  });
}

/** A flag's sets and shares as one line: `letters 40.00%, textures 12.50%`. */
export const tieFlagSets = (flag: TieFlag): string =>
  flag.sets.map((s) => `${s.set} ${(100 * s.tiedAcross).toFixed(2)}%`).join(", ");

/** One line per flagged detector, or a line saying that no result depends on ties. */
export function tieReportMarkdown(runs: ReadonlyArray<DetectorRun>): string {
  const flags = tieFlags(runs);
  const limit = `${100 * TIE_REPORT_LIMIT}%`;
  if (flags.length === 0) {
    return `No detector has more than ${limit} of its scores tied across ID and OOD on any set.`;
  }
  return [
    `These detectors have more than ${limit} of their scores tied across ID and OOD (their ` +
    "AUROC counts those pairs as ½, so it depends on the ties, not only on the ranking):",
    "",
    ...flags.map((f) => `- ${f.detector}: ${tieFlagSets(f)}`),
  ].join("\n");
}

/**
 * Write `results.json`, `results.csv`, `summary.csv` and `results.md` into `dir`. `header` goes
 * into `results.json` and the head of `results.md`; `extra` only into `results.json`.
 */
export async function writeResults(
  dir: string,
  runs: ReadonlyArray<DetectorRun>,
  header: Readonly<Record<string, unknown>>,
  extra: Readonly<Record<string, unknown>> = {},
): Promise<{ summary: Table; results: Table }> {
  const results = resultsTable(runs);
  const summary = summaryTable(runs);
  await writeJsonAtomic(join(dir, "results.json"), {
    ...header,
    ...extra,
    detectors: runs.map((run) => ({
      detector: run.detector,
      description: run.description,
      settings: run.settings,
      tuned: run.tuned,
      fitSeconds: run.fitSeconds,
      scoreSeconds: run.scoreSeconds,
      scoredPerSecond: run.scoredPerSecond,
      sets: run.rows,
    })),
  });
  await writeFileAtomic(join(dir, "results.csv"), results.toCSV() + "\n");
  await writeFileAtomic(join(dir, "summary.csv"), summary.toCSV() + "\n");
  const md = [
    `# ${String(header.benchmark)}: OOD detection results`,
    "",
    ...Object.entries(header).map(([k, v]) =>
      `- ${k}: ${typeof v === "object" ? JSON.stringify(v) : String(v)}`
    ),
    "",
    "## Summary (ranked by mean of near and far AUROC; metrics in %)",
    "",
    "FPR@95 IdKept = share of OOD accepted when 95% of ID is kept; FPR@95 OpenOod = share of ID " +
    "flagged when 95% of OOD is caught (OpenOOD v1.5's metrics.py).",
    "",
    summaryMarkdown(summary),
    "",
    "## Per OOD set (%)",
    "",
    perSetMarkdown(results),
    "",
    "## Tie report",
    "",
    tieReportMarkdown(runs),
    "",
  ].join("\n");
  await writeFileAtomic(join(dir, "results.md"), md);
  return { summary, results };
}
