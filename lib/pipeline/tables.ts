/**
 * Result tables (arquero, immutable) and their files: per-set rows, the ranked per-detector
 * summary (near/far means), and the Markdown/CSV/JSON written to `results/<benchmark>/`.
 *
 * @module
 */
import * as aq from "arquero";
import { join } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../io/files.ts";
import { TIE_REPORT_LIMIT } from "../stages/evaluate.ts";
import type { DetectorRun } from "./run.ts";

/** An arquero table. */
export type Table = ReturnType<typeof aq.from>;

/** One row per (detector, OOD set) with every metric and the tie report. */
export function resultsTable(runs: ReadonlyArray<DetectorRun>): Table {
  return aq.from(
    runs.flatMap((run) =>
      run.rows.map((r) => ({
        benchmark: r.benchmark,
        detector: r.detector,
        set: r.set,
        group: r.group,
        auroc: r.auroc,
        auprIn: r.auprIn,
        auprOut: r.auprOut,
        fpr95IdKept: r.fpr95IdKept,
        fpr95OpenOod: r.fpr95OpenOod,
        tiedId: r.tiedId,
        tiedOod: r.tiedOod,
        tiedAcross: r.tiedAcross,
        idAccuracy: r.idAccuracy,
      }))
    ),
  );
}

/**
 * The mean of `values`, or null when there are none: a group without sets has no mean (it is
 * absent from the tables, never NaN).
 *
 * @example
 * ```ts
 * import { groupMean } from "./tables.ts";
 * if (groupMean([0.5, 1]) !== 0.75 || groupMean([]) !== null) throw new Error("wrong");
 * ```
 */
export function groupMean(values: ReadonlyArray<number | null | undefined>): number | null {
  const present = values.filter((v): v is number => typeof v === "number");
  return present.length === 0 ? null : present.reduce((a, b) => a + b, 0) / present.length;
}

/**
 * One row per (benchmark, detector): near- and far-OOD mean AUROC and FPR@95 (both
 * conventions: `…Fpr95IdKept`, `…Fpr95OpenOod`, see `lib/stages/evaluate.ts`), ID accuracy, fit
 * time and scoring throughput; ranked by the mean of near and far AUROC. A group without sets
 * (a benchmark with near-OOD sets only) has null means, and the ranking uses the group that
 * exists.
 */
export function summaryTable(runs: ReadonlyArray<DetectorRun>): Table {
  return aq.from(runs.map((run) => {
    const near = run.rows.filter((r) => r.group === "near");
    const far = run.rows.filter((r) => r.group === "far");
    const nearAuroc = groupMean(near.map((r) => r.auroc));
    const farAuroc = groupMean(far.map((r) => r.auroc));
    return {
      benchmark: run.benchmark,
      detector: run.detector,
      nearAuroc,
      farAuroc,
      nearFpr95IdKept: groupMean(near.map((r) => r.fpr95IdKept)),
      farFpr95IdKept: groupMean(far.map((r) => r.fpr95IdKept)),
      nearFpr95OpenOod: groupMean(near.map((r) => r.fpr95OpenOod)),
      farFpr95OpenOod: groupMean(far.map((r) => r.fpr95OpenOod)),
      meanAuroc: groupMean([nearAuroc, farAuroc]),
      idAccuracy: run.rows[0]?.idAccuracy ?? null,
      fitSeconds: run.fitSeconds,
      scoredPerSecond: run.scoredPerSecond,
    };
  })).orderby("benchmark", aq.desc("meanAuroc"));
}

/** A detector's near- and far-OOD summary metrics (means over each group's sets), as fractions. */
export const SUMMARY_METRICS = [
  "nearAuroc",
  "farAuroc",
  "nearFpr95IdKept",
  "farFpr95IdKept",
  "nearFpr95OpenOod",
  "farFpr95OpenOod",
] as const;

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
  const metrics = ["auroc", "auprIn", "auprOut", "fpr95IdKept", "fpr95OpenOod"];
  return results.select("detector", "set", "group", ...metrics)
    .toMarkdown({ format: inPercent(metrics) });
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
