/**
 * Result tables (arquero, immutable): per-set rows and the ranked per-detector summary
 * (near/far means). Their Markdown and the files `deno task reproduce` writes are
 * `apps/results/tables.ts`.
 *
 * @module
 */
import * as aq from "arquero";
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
