/**
 * The Prometheus text exposition format (version 0.0.4): counters, gauges and cumulative
 * histograms with labels, as `GET /metrics` renders them, from Effect `Metric` snapshots
 * (`renderMetric`) or from values read at the scrape (`family`).
 *
 * @module
 */
import type { Metric } from "effect";

/** Escape a label value. */
export const escapeLabel = (value: string): string =>
  value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

/** `{a="x",b="y"}` of `labels` (nothing when there are none). */
export function labelText(labels: Readonly<Record<string, string>>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** `# HELP` and `# TYPE` lines of a family. */
export const header = (name: string, type: string, help: string): Array<string> => [
  `# HELP ${name} ${help}`,
  `# TYPE ${name} ${type}`,
];

/** What `renderMetric` draws a family from: Effect `Metric` snapshots (`Metric.snapshotUnsafe`). */
export type MetricSnapshot = Metric.Metric.Snapshot;

/**
 * A family in the text format: its `# HELP` and `# TYPE` lines (help from the metric's
 * description), then one sample per series (counters and gauges) or the cumulative `_bucket`
 * lines, `_sum` and `_count` of each histogram series (Effect's buckets are cumulative already;
 * `+Inf` is the count). Series of other kinds are left out.
 *
 * @example
 * ```ts
 * import { Context, Metric } from "effect";
 * import { renderMetric } from "./prometheus.ts";
 * const context = Context.make(Metric.MetricRegistry, new Map());
 * Metric.counter("hits_total", { description: "Hits.", attributes: { code: "a" } })
 *   .updateUnsafe(2, context);
 * const text = renderMetric("hits_total", Metric.snapshotUnsafe(context)).join("\n");
 * if (!text.includes('hits_total{code="a"} 2')) throw new Error(text);
 * ```
 */
export function renderMetric(
  name: string,
  snapshots: ReadonlyArray<MetricSnapshot>,
): Array<string> {
  const series = snapshots.filter((s) => s.id === name);
  if (series.length === 0) return [];
  const first = series[0]!;
  const type = first.type === "Counter"
    ? "counter"
    : first.type === "Gauge"
    ? "gauge"
    : "histogram";
  const lines = header(name, type, first.description ?? name);
  for (const s of series) {
    const labels = s.attributes ?? {};
    switch (s.type) {
      case "Counter":
        lines.push(`${name}${labelText(labels)} ${s.state.count}`);
        break;
      case "Gauge":
        lines.push(`${name}${labelText(labels)} ${s.state.value}`);
        break;
      case "Histogram": {
        const inner = labelText(labels).slice(1, -1);
        const withLe = (le: string) => `{${inner === "" ? "" : `${inner},`}le="${le}"}`;
        for (const [bound, cumulative] of s.state.buckets) {
          lines.push(`${name}_bucket${withLe(String(bound))} ${cumulative}`);
        }
        lines.push(
          `${name}_bucket${withLe("+Inf")} ${s.state.count}`,
          `${name}_sum${labelText(labels)} ${s.state.sum}`,
          `${name}_count${labelText(labels)} ${s.state.count}`,
        );
        break;
      }
    }
  }
  return lines;
}

/** A counter or gauge family: `values` by label set. */
export function family(
  name: string,
  type: "counter" | "gauge",
  help: string,
  values: Iterable<readonly [Readonly<Record<string, string>>, number]>,
): Array<string> {
  return [
    ...header(name, type, help),
    ...[...values].map(([labels, n]) => `${name}${labelText(labels)} ${n}`),
  ];
}
