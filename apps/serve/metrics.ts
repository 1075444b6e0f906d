/**
 * The service's metrics, rendered in the Prometheus text exposition format (version 0.0.4) for
 * `GET /metrics`: requests by route and status, request latency per route, queue wait per
 * request, compute time and size per micro-batch, refusals and failures by kind, images scored,
 * the verdicts returned and the OOD share over a sliding window (`drift.ts`), build information,
 * the standard `process_*` metrics (`process_metrics.ts`) and gauges sampled at each scrape.
 *
 * The numbers are Effect `Metric`s (counters, histograms, gauges) in a registry of the service's
 * own, updated on the request path outside any fiber; `prometheus.ts` renders their snapshot.
 * The `process_*` metrics are read at each scrape (`process_metrics.ts`).
 *
 * @module
 */
import { Context, Metric } from "effect";
import { DEFAULT_OOD_WINDOW_SECONDS, type Verdict, VerdictLog } from "./drift.ts";
import { processMetrics } from "./process_metrics.ts";
import { renderMetric } from "./prometheus.ts";

/** Upper bounds (seconds) of the latency, queue-wait and compute histograms. */
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
  5,
  10,
];
/** Upper bounds (images) of the batch-size histogram. */
export const BATCH_BUCKETS: ReadonlyArray<number> = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** Labels of `grood_build_info`. */
export interface BuildInfo {
  /** grood's version. */
  readonly version: string;
  /** Deno's version. */
  readonly deno: string;
  /** The model's format (`onnx`, `tfjs-layers`, `grood`…). */
  readonly model_kind: string;
  /** The detector's kind (`grood`, `msp`…). */
  readonly detector: string;
}

/** Settings of the metrics. */
export interface MetricsOptions {
  /** Sliding window of `grood_ood_share`, in seconds (default 300). */
  readonly oodWindowSeconds?: number;
  /** `grood_build_info`'s labels. */
  readonly build?: BuildInfo;
}

/** Names of the families kept as Effect metrics, in the order `/metrics` lists them. */
const FAMILIES = [
  "grood_requests_total",
  "grood_request_duration_seconds",
  "grood_queue_wait_seconds",
  "grood_batch_compute_seconds",
  "grood_batch_images",
  "grood_errors_total",
  "grood_images_scored_total",
  "grood_verdicts_total",
  "grood_ood_share",
  "grood_ood_window_verdicts",
  "grood_build_info",
] as const;

/** One metric per label set of a family, made on first use (`make` gets the labels). */
class Series<M> {
  private readonly byKey = new Map<string, M>();
  constructor(private readonly make: (labels: Record<string, string>) => M) {}
  of(labels: Record<string, string>): M {
    const key = Object.values(labels).join("\n");
    let metric = this.byKey.get(key);
    if (metric === undefined) {
      metric = this.make(labels);
      this.byKey.set(key, metric);
    }
    return metric;
  }
}

/**
 * The metrics of one running service, kept by Effect's `Metric` (counters, histograms, gauges)
 * in a registry of its own, so two services in one process never mix their numbers. They are
 * updated on the request path, outside any fiber (`updateUnsafe` on the registry's context),
 * and rendered in the Prometheus text format from the registry's snapshot.
 */
export class ServiceMetrics {
  /** The context holding this service's registry (`Metric.MetricRegistry`). */
  readonly context: Context.Context<never> = Context.make(Metric.MetricRegistry, new Map());
  private readonly requests = new Series((attributes) =>
    Metric.counter("grood_requests_total", {
      description: "HTTP requests by route and status.",
      attributes,
      incremental: true,
    })
  );
  private readonly latency = new Series((attributes) =>
    Metric.histogram("grood_request_duration_seconds", {
      description: "Time from a request's arrival to its answer, by route.",
      attributes,
      boundaries: LATENCY_BUCKETS,
    })
  );
  private readonly errors = new Series((attributes) =>
    Metric.counter("grood_errors_total", {
      description: "Refused or failed requests by code.",
      attributes,
      incremental: true,
    })
  );
  private readonly verdictCounts = new Series((attributes) =>
    Metric.counter("grood_verdicts_total", {
      description: "Verdicts returned, by verdict (in, ood, invalid).",
      attributes,
      incremental: true,
    })
  );
  private readonly queueWait = Metric.histogram("grood_queue_wait_seconds", {
    description: "Time a scoring request's images waited in the queue for their micro-batch.",
    boundaries: LATENCY_BUCKETS,
  });
  private readonly compute = Metric.histogram("grood_batch_compute_seconds", {
    description: "Time the detector took to score one micro-batch.",
    boundaries: LATENCY_BUCKETS,
  });
  private readonly batches = Metric.histogram("grood_batch_images", {
    description: "Images per scored micro-batch.",
    boundaries: BATCH_BUCKETS,
  });
  private readonly imagesScored = Metric.counter("grood_images_scored_total", {
    description: "Images scored.",
    incremental: true,
  });
  private readonly oodShare: Metric.Gauge<number>;
  private readonly windowVerdicts: Metric.Gauge<number>;
  /** Gauges sampled at each scrape (`render`'s), by name. */
  private readonly sampled = new Map<string, Metric.Gauge<number>>();
  /** The verdicts returned, the OOD share in the window and per minute. */
  readonly verdicts: VerdictLog;

  /** Empty counters, the OOD share over `options.oodWindowSeconds` (default 5 minutes). */
  constructor(options: MetricsOptions = {}) {
    this.verdicts = new VerdictLog(options.oodWindowSeconds ?? DEFAULT_OOD_WINDOW_SECONDS);
    const window = this.verdicts.windowSeconds;
    this.oodShare = Metric.gauge("grood_ood_share", {
      description: `OOD verdicts / (in + ood verdicts) over the last ${window} s ` +
        "(0 when there were none).",
    });
    this.windowVerdicts = Metric.gauge("grood_ood_window_verdicts", {
      description: `In and OOD verdicts over the last ${window} s.`,
    });
    // Every verdict is listed from the start, at 0, as is the number of images scored.
    for (const verdict of ["in", "ood", "invalid"]) {
      this.verdictCounts.of({ verdict }).updateUnsafe(0, this.context);
    }
    this.imagesScored.updateUnsafe(0, this.context);
    if (options.build !== undefined) {
      Metric.gauge("grood_build_info", {
        description: "Build information (always 1).",
        attributes: { ...options.build },
      }).updateUnsafe(1, this.context);
    }
  }

  /** Count a finished request: its route, status and duration. */
  request(route: string, status: number, seconds: number): void {
    this.requests.of({ route, status: String(status) }).updateUnsafe(1, this.context);
    this.latency.of({ route }).updateUnsafe(seconds, this.context);
  }

  /** Count a refusal or a failure by its code. */
  error(code: string): void {
    this.errors.of({ code }).updateUnsafe(1, this.context);
  }

  /** Count a scored batch of `images` that took `seconds` to score. */
  batch(images: number, seconds = 0): void {
    this.batches.updateUnsafe(images, this.context);
    this.compute.updateUnsafe(seconds, this.context);
    this.imagesScored.updateUnsafe(images, this.context);
  }

  /** A request waited `seconds` in the queue before its batch started. */
  waited(seconds: number): void {
    this.queueWait.updateUnsafe(seconds, this.context);
  }

  /** Count the verdicts of one answer. */
  verdict(verdicts: ReadonlyArray<Verdict>): void {
    this.verdicts.record(verdicts);
    const counts = { in: 0, ood: 0, invalid: 0 };
    for (const v of verdicts) counts[v] += 1;
    for (const [verdict, n] of Object.entries(counts)) {
      if (n > 0) this.verdictCounts.of({ verdict }).updateUnsafe(n, this.context);
    }
  }

  /** Batches scored and images in them so far (mean batch size = images / batches). */
  batchTotals(): { readonly batches: number; readonly images: number } {
    return {
      batches: this.batches.valueUnsafe(this.context).count,
      images: Number(this.imagesScored.valueUnsafe(this.context).count),
    };
  }

  /** The Prometheus text; `gauges` are sampled now (tensors, queue, in flight). */
  render(gauges: Readonly<Record<string, { help: string; value: number }>> = {}): string {
    const window = this.verdicts.oodShare();
    this.oodShare.updateUnsafe(window.share, this.context);
    this.windowVerdicts.updateUnsafe(window.verdicts, this.context);
    for (const [name, { help, value }] of Object.entries(gauges)) {
      let gauge = this.sampled.get(name);
      if (gauge === undefined) {
        gauge = Metric.gauge(name, { description: help });
        this.sampled.set(name, gauge);
      }
      gauge.updateUnsafe(value, this.context);
    }
    const snapshots = Metric.snapshotUnsafe(this.context);
    return [
      ...FAMILIES.flatMap((name) => renderMetric(name, snapshots)),
      ...processMetrics(),
      ...[...this.sampled.keys()].flatMap((name) => renderMetric(name, snapshots)),
      "",
    ].join("\n");
  }
}
