/**
 * Spread over training seeds: one benchmark's summary rows from several models (the same
 * recipe, seeds 0, 1, 2 …) become mean ± standard deviation per detector, and paired
 * differences between detectors (same seed, same data) with their spread and whether their
 * sign holds on every seed.
 *
 * The standard deviation is the sample one (n − 1 in the denominator; arquero's `stdev`);
 * with one seed it is reported as NaN, never as 0.
 *
 * @module
 */
import * as aq from "arquero";
import { SUMMARY_METRICS, type Table } from "../../lib/pipeline/mod.ts";

/** The metrics of a summary row that are aggregated over seeds: the near/far summary metrics. */
export const SEED_METRICS: typeof SUMMARY_METRICS = SUMMARY_METRICS;
/** One aggregated metric. */
export type SeedMetric = (typeof SEED_METRICS)[number];

/** One detector's summary on one seed (a row of `summaryTable` plus its seed). */
export type SeedRow =
  & { readonly seed: number; readonly detector: string }
  & {
    readonly [M in SeedMetric]: number;
  };

/**
 * Mean and sample standard deviation of every metric per detector (columns `<metric>Mean`,
 * `<metric>Sd`, and `seeds`), ranked by the mean of near and far AUROC means.
 *
 * @example
 * ```ts
 * import { seedSpread } from "./seeds.ts";
 * const row = (seed: number, nearAuroc: number) => ({
 *   seed, detector: "A", nearAuroc, farAuroc: 0.9, nearFpr95IdKept: 0.1, farFpr95IdKept: 0.1,
 *   nearFpr95OpenOod: 0.1, farFpr95OpenOod: 0.1,
 * });
 * const [a] = seedSpread([row(0, 0.8), row(1, 0.9), row(2, 1.0)]).objects() as Array<
 *   Record<string, number>
 * >;
 * if (Math.abs(a!.nearAurocMean! - 0.9) > 1e-12 || Math.abs(a!.nearAurocSd! - 0.1) > 1e-12) {
 *   throw new Error("wrong spread");
 * }
 * ```
 */
export function seedSpread(rows: ReadonlyArray<SeedRow>): Table {
  const rollup: Record<string, unknown> = { seeds: aq.op.count() };
  for (const metric of SEED_METRICS) {
    rollup[`${metric}Mean`] = aq.op.mean(metric);
    rollup[`${metric}Sd`] = aq.op.stdev(metric);
  }
  return aq.from(rows as Array<SeedRow>)
    .groupby("detector")
    .rollup(rollup as Parameters<Table["rollup"]>[0])
    .derive(
      Object.fromEntries(
        SEED_METRICS.map((m) => [
          `${m}Sd`,
          aq.escape((d: Record<string, number>) => (d.seeds! > 1 ? d[`${m}Sd`]! : NaN)),
        ]),
      ),
    )
    .derive({
      // The mean of the groups that exist (a benchmark may have near-OOD sets only).
      meanAuroc: aq.escape((d: { nearAurocMean?: number; farAurocMean?: number }) => {
        const present = [d.nearAurocMean, d.farAurocMean].filter((v) => typeof v === "number");
        return present.length === 0 ? null : present.reduce((a, b) => a + b, 0) / present.length;
      }),
    })
    .orderby(aq.desc("meanAuroc"));
}

/** A pair of detectors to compare seed by seed (`first − second`). */
export interface DetectorPair {
  /** The detector whose metric is subtracted from. */
  readonly first: string;
  /** The detector subtracted. */
  readonly second: string;
}

/** The comparisons the GROOD paper's claims rest on. */
export const CLAIM_PAIRS: ReadonlyArray<DetectorPair> = [
  { first: "GROOD", second: "GROOD-no-mixup" },
  { first: "GROOD", second: "KNN" },
  { first: "GROOD-τ (extension)", second: "KNN" },
];

/** One paired difference of one metric over the seeds both detectors ran on. */
export interface PairedDifference {
  /** The first detector's name. */
  readonly first: string;
  /** The second detector's name. */
  readonly second: string;
  /** The metric compared. */
  readonly metric: SeedMetric;
  /** first − second on each seed, in seed order. */
  readonly perSeed: ReadonlyArray<{ readonly seed: number; readonly difference: number }>;
  /** Mean of the per-seed differences. */
  readonly mean: number;
  /** Sample standard deviation (NaN with one seed). */
  readonly sd: number;
  /** Smallest per-seed difference. */
  readonly min: number;
  /** Largest per-seed difference. */
  readonly max: number;
  /** Every seed's difference has the sign of the mean (and none is 0). */
  readonly holdsOnAllSeeds: boolean;
}

/**
 * Paired differences `first − second` of `metric` over the seeds both detectors have rows for
 * (pairs with no common seed are left out).
 *
 * @example
 * ```ts
 * import { pairedDifferences } from "./seeds.ts";
 * const row = (seed: number, detector: string, nearAuroc: number) => ({
 *   seed, detector, nearAuroc, farAuroc: 0, nearFpr95IdKept: 0, farFpr95IdKept: 0,
 *   nearFpr95OpenOod: 0, farFpr95OpenOod: 0,
 * });
 * const [d] = pairedDifferences(
 *   [row(0, "A", 0.9), row(0, "B", 0.8), row(1, "A", 0.7), row(1, "B", 0.75)],
 *   [{ first: "A", second: "B" }],
 *   ["nearAuroc"],
 * );
 * if (d!.holdsOnAllSeeds || Math.abs(d!.mean - 0.025) > 1e-12) throw new Error("wrong");
 * ```
 */
export function pairedDifferences(
  rows: ReadonlyArray<SeedRow>,
  pairs: ReadonlyArray<DetectorPair> = CLAIM_PAIRS,
  metrics: ReadonlyArray<SeedMetric> = ["nearAuroc", "farAuroc"],
): ReadonlyArray<PairedDifference> {
  const bySeed = (detector: string) =>
    new Map(rows.filter((r) => r.detector === detector).map((r) => [r.seed, r]));
  return pairs.flatMap(({ first, second }) => {
    const a = bySeed(first);
    const b = bySeed(second);
    const seeds = [...a.keys()].filter((seed) => b.has(seed)).sort((x, y) => x - y);
    if (seeds.length === 0) return [];
    return metrics.flatMap((metric): Array<PairedDifference> => {
      // Seeds where a group has no sets (its mean is absent) are not compared.
      const perSeed = seeds.filter((seed) =>
        typeof a.get(seed)![metric] === "number" && typeof b.get(seed)![metric] === "number"
      ).map((seed) => ({
        seed,
        difference: a.get(seed)![metric] - b.get(seed)![metric],
      }));
      if (perSeed.length === 0) return [];
      const values = perSeed.map((p) => p.difference);
      const mean = values.reduce((s, v) => s + v, 0) / values.length;
      const sd = values.length > 1
        ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1))
        : NaN;
      return [{
        first,
        second,
        metric,
        perSeed,
        mean,
        sd,
        min: Math.min(...values),
        max: Math.max(...values),
        holdsOnAllSeeds: mean !== 0 && values.every((v) => Math.sign(v) === Math.sign(mean)),
      }];
    });
  });
}

const percent = (v: number | null | undefined) =>
  typeof v !== "number" || Number.isNaN(v) ? "–" : (100 * v).toFixed(2);

/** Markdown: detector, seeds, near/far AUROC and FPR@95 as mean ± sd (in %). */
export function seedSpreadMarkdown(spread: Table): string {
  const lines = [
    "| detector | seeds | near AUROC | far AUROC | near FPR@95 (ID kept) | far FPR@95 (ID kept) | near FPR@95 (OpenOOD) | far FPR@95 (OpenOOD) |",
    "| :-- | --: | --: | --: | --: | --: | --: | --: |",
  ];
  for (const d of spread.objects() as Array<Record<string, number | string>>) {
    const cell = (m: SeedMetric) =>
      `${percent(d[`${m}Mean`] as number)} ± ${percent(d[`${m}Sd`] as number)}`;
    lines.push(
      `| ${d.detector} | ${d.seeds} | ${SEED_METRICS.map(cell).join(" | ")} |`,
    );
  }
  return lines.join("\n");
}

/** Markdown of paired differences (in points of the metric): mean ± sd, range, per seed. */
export function pairedMarkdown(differences: ReadonlyArray<PairedDifference>): string {
  const lines = [
    "| comparison | metric | mean ± sd | min | max | per seed | holds on all seeds |",
    "| :-- | :-- | --: | --: | --: | :-- | :-- |",
  ];
  for (const d of differences) {
    lines.push(
      `| ${d.first} − ${d.second} | ${d.metric} | ${percent(d.mean)} ± ${percent(d.sd)} | ${
        percent(d.min)
      } | ${percent(d.max)} | ${
        d.perSeed.map((p) => `${p.seed}: ${percent(p.difference)}`).join(", ")
      } | ${d.holdsOnAllSeeds ? "yes" : "no"} |`,
    );
  }
  return lines.join("\n");
}
