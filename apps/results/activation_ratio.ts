/**
 * The activation-ratio analysis behind the README's explanation of ASH-S and SCALE: both
 * multiply an image's penultimate features by exp(s1 / s2), where s1 = Σ h and s2 = the sum of
 * its k largest activations (k = n − round(n·p/100), as `ashKeptCount`). The ratio s1/s2 ≥ 1
 * measures how flat the activation profile is: 1 when the top k hold everything, larger when
 * mass sits outside them (0 for a row whose kept activations are all 0: nothing is scaled). A larger factor raises every logit, so the Energy score
 * −logsumexp(z) falls (looks more ID). An OOD set with flatter profiles than the ID set is then
 * pushed towards ID by the scaling, whatever the pruning does.
 *
 * Per set (ID test and every OOD test set) this gives the distribution of s1/s2 (quartiles and
 * mean) and the share of the set whose ratio is above the ID median: the numbers the README's
 * "because" rests on, written by `deno task reproduce` as `activation-ratio.{json,md}` and
 * plotted as `plots/activation-ratio.png` (`activationRatioMarkdown`, `activationRatioChart`).
 *
 * @module
 */
import { join } from "node:path";
import type { Matrix } from "../../lib/data/mod.ts";
import { tryIo, writeFileAtomic, writeJsonAtomic } from "../../lib/io/mod.ts";
import type { PreparedBenchmark } from "../../lib/pipeline/mod.ts";
import { writePlot } from "./plot_files.ts";
import { scaleExponents } from "../../lib/detectors/mod.ts";
import { PLOT_CONFIG, quantile, type TopLevelSpec } from "../../lib/report/mod.ts";

/**
 * s1/s2 per row at percentile `p`: SCALE's and ASH-S's exponent (`scaleExponents`; 0 where
 * every kept activation is 0, so nothing is scaled).
 */
export const activationRatios = (features: Matrix, p: number): Float64Array =>
  scaleExponents(features, p);

/** One set's distribution of s1/s2. */
export interface ActivationRatioRow {
  /** The set's name. */
  readonly set: string;
  /** `id` for the ID test set, else the OOD set's group. */
  readonly group: "id" | "near" | "far";
  /** Number of images in the set. */
  readonly count: number;
  /** First quartile of s1/s2. */
  readonly q1: number;
  /** Median of s1/s2. */
  readonly median: number;
  /** Third quartile of s1/s2. */
  readonly q3: number;
  /** Mean of s1/s2. */
  readonly mean: number;
  /** Share of the set whose ratio is above the ID test set's median. */
  readonly aboveIdMedian: number;
}

/** A set whose penultimate features enter the analysis. */
export interface RatioSet {
  /** The set's name. */
  readonly name: string;
  /** `id` for the ID reference set, else the OOD set's group. */
  readonly group: "id" | "near" | "far";
  /** N × D penultimate features of its images. */
  readonly penultimate: Matrix;
}

/**
 * The distribution of s1/s2 at percentile `p` for each set; the first set is the ID reference
 * of `aboveIdMedian`.
 *
 * @example
 * ```ts
 * import { activationRatioRows } from "./activation_ratio.ts";
 * import { matrix } from "../../lib/data/mod.ts";
 * // 10 features, p = 90 keeps 1: a peaked row has ratio 1, a flat row ratio 10.
 * const peaked = matrix(1, 10, [5, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
 * const flat = matrix(1, 10, Array(10).fill(1));
 * const [id, ood] = activationRatioRows([
 *   { name: "id", group: "id", penultimate: peaked },
 *   { name: "letters", group: "near", penultimate: flat },
 * ], 90);
 * if (id!.median !== 1 || ood!.median !== 10 || ood!.aboveIdMedian !== 1) throw new Error("wrong");
 * ```
 */
export function activationRatioRows(
  sets: ReadonlyArray<RatioSet>,
  p: number,
): ReadonlyArray<ActivationRatioRow> {
  const ratios = sets.map((set) => activationRatios(set.penultimate, p).sort());
  const idMedian = ratios[0] === undefined ? NaN : quantile(ratios[0], 0.5);
  return sets.map((set, s) => {
    const sorted = ratios[s]!;
    let above = 0;
    let sum = 0;
    for (const r of sorted) {
      sum += r;
      if (r > idMedian) above++;
    }
    return {
      set: set.name,
      group: set.group,
      count: sorted.length,
      q1: quantile(sorted, 0.25),
      median: quantile(sorted, 0.5),
      q3: quantile(sorted, 0.75),
      mean: sum / sorted.length,
      aboveIdMedian: above / sorted.length,
    };
  });
}

/** The rows as a Markdown table (ratios with two decimals, the share in %). */
export function activationRatioMarkdown(rows: ReadonlyArray<ActivationRatioRow>): string {
  return [
    "| set | group | images | q1 | median s1/s2 | q3 | mean | above the ID median |",
    "| :-- | :-- | --: | --: | --: | --: | --: | --: |",
    ...rows.map((r) =>
      `| ${r.set} | ${r.group} | ${r.count} | ${r.q1.toFixed(2)} | ${r.median.toFixed(2)} | ` +
      `${r.q3.toFixed(2)} | ${r.mean.toFixed(2)} | ${(100 * r.aboveIdMedian).toFixed(1)}% |`
    ),
  ].join("\n");
}

/** A chart of each set's quartiles of s1/s2 (bar from q1 to q3, tick at the median). */
export function activationRatioChart(
  rows: ReadonlyArray<ActivationRatioRow>,
  options: { readonly title: string },
): TopLevelSpec {
  const order = rows.map((r) => r.set);
  const y = { field: "set", type: "nominal", sort: order, title: null } as const;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: options.title,
    width: 420,
    height: 28 * rows.length,
    data: { values: rows.map((r) => ({ ...r })) },
    layer: [
      {
        mark: { type: "bar", height: 14, opacity: 0.5 },
        encoding: {
          y,
          x: { field: "q1", type: "quantitative", title: "s1/s2 (quartiles, median tick)" },
          x2: { field: "q3" },
          color: { field: "group", type: "nominal", title: "group" },
        },
      },
      {
        mark: { type: "tick", thickness: 2, size: 18, color: "black" },
        encoding: { y, x: { field: "median", type: "quantitative" } },
      },
    ],
    config: PLOT_CONFIG,
  } as TopLevelSpec;
}

/** The percentile of ASH-S's default, at which the activation ratios are analysed. */
export const RATIO_PERCENTILE = 90;

/** One model's activation-ratio rows (ID test set first, then every OOD test set). */
export interface SeedRatios {
  /** The model's training seed. */
  readonly seed: number;
  /** The distribution of s1/s2 per test set. */
  readonly rows: ReadonlyArray<ActivationRatioRow>;
}

/**
 * The activation-ratio rows of one model's test sets at `RATIO_PERCENTILE`: computed as its
 * seed ends, so its features need not be kept for the file written with every seed's.
 */
export const seedActivationRatios = (seed: number, prepared: PreparedBenchmark): SeedRatios => ({
  seed,
  rows: activationRatioRows([
    { name: "id", group: "id", penultimate: prepared.idTest.features.penultimate },
    ...prepared.oodTest.map((set) => ({
      name: set.images.name,
      group: set.group,
      penultimate: set.features.penultimate,
    })),
  ], RATIO_PERCENTILE),
});

/**
 * `activation-ratio.{json,md}` (every seed) and `plots/activation-ratio.png` (the first seed
 * given): the distribution of s1/s2 per test set, the measurement behind the README's
 * explanation of ASH-S's and SCALE's results.
 */
export const writeActivationRatios = (
  tmp: string,
  benchmark: string,
  perSeed: ReadonlyArray<SeedRatios>,
) =>
  tryIo(tmp, "write the activation-ratio analysis into", async () => {
    await writeJsonAtomic(join(tmp, "activation-ratio.json"), {
      benchmark,
      percentile: RATIO_PERCENTILE,
      measure: "s1/s2: sum of all penultimate activations over the sum of the kept top " +
        "(100 − p)% (ASH-S's and SCALE's exponent)",
      seeds: perSeed,
    });
    await writeFileAtomic(
      join(tmp, "activation-ratio.md"),
      `# ${benchmark}: activation ratio s1/s2 at p = ${RATIO_PERCENTILE}\n\n` +
        perSeed.map((s) =>
          `## Model of training seed ${s.seed}\n\n${activationRatioMarkdown(s.rows)}`
        )
          .join("\n\n") +
        "\n",
    );
    await writePlot(
      join(tmp, "plots", "activation-ratio.png"),
      activationRatioChart(perSeed[0]!.rows, {
        title: `${benchmark}: s1/s2 at p = ${RATIO_PERCENTILE} (seed ${perSeed[0]!.seed})`,
      }),
    );
  });
