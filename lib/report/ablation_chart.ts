/**
 * Ablation charts as vega-lite specs: a metric against one parameter, a line per value of another.
 *
 * @module
 */
import { PlotInputError, specBase, type TopLevelSpec } from "./chart.ts";
import type { Table } from "../pipeline/tables.ts";

/** Options of `ablationChart`. */
export interface AblationChartOptions {
  /** The chart's title (default: the metrics against the varied parameter). */
  readonly title?: string;
  /** Width of one panel in pixels (default 300). */
  readonly width?: number;
  /** Height of one panel in pixels (default 220). */
  readonly height?: number;
  /** Axis title of the metric (default: the column name, or "value" for several). */
  readonly yTitle?: string;
  /** Display names of metric columns (panel titles), e.g. `{ nearAuroc: "near-OOD" }`. */
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * A metric (or several: one panel each) of an ablation table against one parameter `x`, one
 * line per value of `color` (e.g. near/far AUROC against λ, per early layer). Rows that share
 * (x, color) should be unique: aggregate the table first when the grid varies more parameters.
 */
export function ablationChart(
  table: Table,
  x: string,
  y: string | ReadonlyArray<string>,
  color?: string,
  options: AblationChartOptions = {},
): TopLevelSpec {
  const metrics = typeof y === "string" ? [y] : [...y];
  const names = table.columnNames();
  const missing = [x, ...metrics, ...(color === undefined ? [] : [color])]
    .find((column) => !names.includes(column));
  if (missing !== undefined) {
    throw new PlotInputError({
      plot: "the ablation chart",
      problem: `the table has no column "${missing}" (columns: ${names.join(", ")})`,
    });
  }
  const label = (metric: string) => options.labels?.[metric] ?? metric;
  const rows = table.objects() as Array<Record<string, unknown>>;
  const numericX = rows.every((r) => typeof r[x] === "number");
  const values = rows.flatMap((r) =>
    metrics.map((metric) => ({
      x: r[x],
      metric: label(metric),
      value: r[metric],
      ...(color === undefined ? {} : { color: String(r[color]) }),
    }))
  );
  const layer = {
    width: options.width ?? 300,
    height: options.height ?? 220,
    mark: { type: "line" as const, point: true },
    encoding: {
      x: {
        field: "x",
        type: numericX ? "quantitative" as const : "ordinal" as const,
        title: x,
        ...(numericX ? { scale: { zero: false } } : {}),
      },
      y: {
        field: "value",
        type: "quantitative" as const,
        title: options.yTitle ?? (metrics.length === 1 ? metrics[0]! : "value"),
        scale: { zero: false },
      },
      ...(color === undefined ? {} : {
        color: { field: "color", type: "nominal" as const, title: color },
      }),
    },
  };
  const base = {
    ...specBase(options.title ?? `${metrics.join(", ")} vs ${x}${color ? ` by ${color}` : ""}`),
    data: { values },
  };
  if (metrics.length === 1) return { ...base, ...layer };
  return {
    ...base,
    facet: {
      column: { field: "metric", type: "nominal", title: null, sort: metrics.map(label) },
    },
    spec: layer,
    // Near and far AUROC live on different levels; shared y would flatten one of them.
    resolve: { scale: { y: "independent" } },
  };
}
