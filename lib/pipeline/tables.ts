/**
 * Result tables (arquero): per-set rows and the ranked per-detector summary (near/far means).
 *
 * @module
 */
import * as aq from "arquero";
import { OOD_METRICS, type OodMetrics } from "../stages/evaluate.ts";
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
        ...Object.fromEntries(OOD_METRICS.map((m) => [m, r[m]])),
        tiedId: r.tiedId,
        tiedOod: r.tiedOod,
        tiedAcross: r.tiedAcross,
        idAccuracy: r.idAccuracy,
      }))
    ),
  );
}

/**
 * The mean of the numbers of `values`, or null when there are none (a group without sets).
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
 * One row per (benchmark, detector): near- and far-OOD means of AUROC and both FPR@95, ID
 * accuracy, fit time and throughput; ranked by the mean of near and far AUROC (a group without
 * sets has null means, and the ranking uses the one that exists).
 */
export function summaryTable(runs: ReadonlyArray<DetectorRun>): Table {
  return aq.from(runs.map((run) => {
    const mean = (group: "near" | "far", metric: keyof OodMetrics) =>
      groupMean(run.rows.filter((r) => r.group === group).map((r) => r[metric]));
    const nearAuroc = mean("near", "auroc");
    const farAuroc = mean("far", "auroc");
    return {
      benchmark: run.benchmark,
      detector: run.detector,
      nearAuroc,
      farAuroc,
      nearFpr95IdKept: mean("near", "fpr95IdKept"),
      farFpr95IdKept: mean("far", "fpr95IdKept"),
      nearFpr95OpenOod: mean("near", "fpr95OpenOod"),
      farFpr95OpenOod: mean("far", "fpr95OpenOod"),
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
