/**
 * The service's counters, rendered in the Prometheus text exposition format (version 0.0.4) for
 * `GET /metrics`: requests by route and status, request latency and batch-size histograms,
 * refusals and failures by kind, images scored, and the engine's live tensors and the process's
 * resident memory as gauges.
 *
 * @module
 */

/** Upper bounds (seconds) of the request latency histogram. */
export const LATENCY_BUCKETS: ReadonlyArray<number> = [
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
];
/** Upper bounds (images) of the batch-size histogram. */
export const BATCH_BUCKETS: ReadonlyArray<number> = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** A cumulative histogram with fixed upper bounds. */
class Histogram {
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
  render(name: string, help: string): Array<string> {
    let cumulative = 0;
    return [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} histogram`,
      ...this.bounds.map((b, i) => {
        cumulative += this.counts[i]!;
        return `${name}_bucket{le="${b}"} ${cumulative}`;
      }),
      `${name}_bucket{le="+Inf"} ${this.count}`,
      `${name}_sum ${this.sum}`,
      `${name}_count ${this.count}`,
    ];
  }
}

const escape = (value: string) =>
  value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

/** Counters of one running service. */
export class ServiceMetrics {
  private readonly requests = new Map<string, number>();
  private readonly errors = new Map<string, number>();
  private readonly latency = new Histogram(LATENCY_BUCKETS);
  private readonly batches = new Histogram(BATCH_BUCKETS);
  private imagesScored = 0;

  /** Count a finished request: its route, status and duration. */
  request(route: string, status: number, seconds: number): void {
    const key = `route="${escape(route)}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    this.latency.observe(seconds);
  }

  /** Count a refusal or a failure by its code. */
  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  /** Count a scored batch of `images`. */
  batch(images: number): void {
    this.batches.observe(images);
    this.imagesScored += images;
  }

  /** Batches scored and images in them so far (mean batch size = images / batches). */
  batchTotals(): { readonly batches: number; readonly images: number } {
    return { batches: this.batches.count, images: this.imagesScored };
  }

  /** The Prometheus text; `gauges` are sampled now (tensors, memory). */
  render(gauges: Readonly<Record<string, { help: string; value: number }>> = {}): string {
    const counter = (name: string, help: string, values: Map<string, number>) => [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} counter`,
      ...[...values].map(([labels, n]) => `${name}{${labels}} ${n}`),
    ];
    const errors = new Map([...this.errors].map(([code, n]) => [`code="${escape(code)}"`, n]));
    return [
      ...counter("grood_requests_total", "HTTP requests by route and status.", this.requests),
      ...this.latency.render(
        "grood_request_duration_seconds",
        "Time from a request's arrival to its answer.",
      ),
      ...this.batches.render("grood_batch_images", "Images per scored micro-batch."),
      ...counter("grood_errors_total", "Refused or failed requests by code.", errors),
      "# HELP grood_images_scored_total Images scored.",
      "# TYPE grood_images_scored_total counter",
      `grood_images_scored_total ${this.imagesScored}`,
      ...Object.entries(gauges).flatMap(([name, { help, value }]) => [
        `# HELP ${name} ${help}`,
        `# TYPE ${name} gauge`,
        `${name} ${value}`,
      ]),
      "",
    ].join("\n");
  }
}
