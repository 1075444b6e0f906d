/**
 * The activation-ratio analysis (`Report.activationRatioRows`: ASH-S's and SCALE's s1/s2 per
 * set) as `deno task reproduce` writes it: a Markdown table and a chart of each set's quartiles.
 *
 * @module
 */
import { type ActivationRatioRow, PLOT_CONFIG, type TopLevelSpec } from "../../lib/report/mod.ts";

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
