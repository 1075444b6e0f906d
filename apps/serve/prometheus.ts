/**
 * The Prometheus text exposition format (version 0.0.4): counters, gauges and cumulative
 * histograms with labels, as `GET /metrics` renders them.
 *
 * @module
 */

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

/** A cumulative histogram with fixed upper bounds. */
export class Histogram {
  readonly counts: Array<number>;
  sum = 0;
  count = 0;
  constructor(readonly bounds: ReadonlyArray<number>) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }
  observe(value: number): void {
    this.sum += value;
    this.count += 1;
    const at = this.bounds.findIndex((b) => value <= b);
    if (at >= 0) this.counts[at]! += 1;
  }
  /** The sample lines (no header), with `labels` on each. */
  samples(name: string, labels: Readonly<Record<string, string>> = {}): Array<string> {
    let cumulative = 0;
    const inner = labelText(labels).slice(1, -1);
    const withLe = (le: string) => `{${inner === "" ? "" : `${inner},`}le="${le}"}`;
    return [
      ...this.bounds.map((b, i) => {
        cumulative += this.counts[i]!;
        return `${name}_bucket${withLe(String(b))} ${cumulative}`;
      }),
      `${name}_bucket${withLe("+Inf")} ${this.count}`,
      `${name}_sum${labelText(labels)} ${this.sum}`,
      `${name}_count${labelText(labels)} ${this.count}`,
    ];
  }
  /** Header and samples of an unlabelled histogram. */
  render(name: string, help: string): Array<string> {
    return [...header(name, "histogram", help), ...this.samples(name)];
  }
}

/** Histograms of one family, one per label set (created on first use). */
export class LabelledHistograms {
  private readonly byKey = new Map<string, [Record<string, string>, Histogram]>();
  constructor(readonly bounds: ReadonlyArray<number>) {}
  observe(labels: Record<string, string>, value: number): void {
    const key = labelText(labels);
    let entry = this.byKey.get(key);
    if (entry === undefined) {
      entry = [labels, new Histogram(this.bounds)];
      this.byKey.set(key, entry);
    }
    entry[1].observe(value);
  }
  /** The histogram of `labels`, if anything was observed under them. */
  get(labels: Record<string, string>): Histogram | undefined {
    return this.byKey.get(labelText(labels))?.[1];
  }
  render(name: string, help: string): Array<string> {
    return [
      ...header(name, "histogram", help),
      ...[...this.byKey.values()].flatMap(([labels, h]) => h.samples(name, labels)),
    ];
  }
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
