/**
 * The service's metrics, rendered in the Prometheus text exposition format (version 0.0.4) for
 * `GET /metrics`: requests by route and status, request latency per route, queue wait per
 * request, compute time and size per micro-batch, refusals and failures by kind, images scored,
 * the verdicts returned and the OOD share over a sliding window (`drift.ts`), build information,
 * the standard `process_*` metrics (`process_metrics.ts`) and gauges sampled at each scrape.
 *
 * The registry is this module's own (`prometheus.ts`): the service's numbers are plain counters
 * updated on the request path, outside any Effect fiber.
 *
 * @module
 */
import { DEFAULT_OOD_WINDOW_SECONDS, type Verdict, VerdictLog } from "./drift.ts";
import { processMetrics } from "./process_metrics.ts";
import { family, header, Histogram, LabelledHistograms, labelText } from "./prometheus.ts";

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

/** Counters of one running service. */
export class ServiceMetrics {
  private readonly requests = new Map<string, [Record<string, string>, number]>();
  private readonly errors = new Map<string, number>();
  private readonly latency = new LabelledHistograms(LATENCY_BUCKETS);
  private readonly queueWait = new Histogram(LATENCY_BUCKETS);
  private readonly compute = new Histogram(LATENCY_BUCKETS);
  private readonly batches = new Histogram(BATCH_BUCKETS);
  private imagesScored = 0;
  /** The verdicts returned, the OOD share in the window and per minute. */
  readonly verdicts: VerdictLog;
  private readonly build: BuildInfo | undefined;

  /** Empty counters, the OOD share over `options.oodWindowSeconds` (default 5 minutes). */
  constructor(options: MetricsOptions = {}) {
    this.verdicts = new VerdictLog(options.oodWindowSeconds ?? DEFAULT_OOD_WINDOW_SECONDS);
    this.build = options.build;
  }

  /** Count a finished request: its route, status and duration. */
  request(route: string, status: number, seconds: number): void {
    const key = `${route}\n${status}`;
    const entry = this.requests.get(key);
    if (entry === undefined) this.requests.set(key, [{ route, status: String(status) }, 1]);
    else entry[1] += 1;
    this.latency.observe({ route }, seconds);
  }

  /** Count a refusal or a failure by its code. */
  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  /** Count a scored batch of `images` that took `seconds` to score. */
  batch(images: number, seconds = 0): void {
    this.batches.observe(images);
    this.compute.observe(seconds);
    this.imagesScored += images;
  }

  /** A request waited `seconds` in the queue before its batch started. */
  waited(seconds: number): void {
    this.queueWait.observe(seconds);
  }

  /** Count the verdicts of one answer. */
  verdict(verdicts: Iterable<Verdict>): void {
    this.verdicts.record(verdicts);
  }

  /** Batches scored and images in them so far (mean batch size = images / batches). */
  batchTotals(): { readonly batches: number; readonly images: number } {
    return { batches: this.batches.count, images: this.imagesScored };
  }

  /** The Prometheus text; `gauges` are sampled now (tensors, queue, in flight). */
  render(gauges: Readonly<Record<string, { help: string; value: number }>> = {}): string {
    const totals = this.verdicts.totals();
    const window = this.verdicts.oodShare();
    return [
      ...family(
        "grood_requests_total",
        "counter",
        "HTTP requests by route and status.",
        [...this.requests.values()],
      ),
      ...this.latency.render(
        "grood_request_duration_seconds",
        "Time from a request's arrival to its answer, by route.",
      ),
      ...this.queueWait.render(
        "grood_queue_wait_seconds",
        "Time a scoring request's images waited in the queue for their micro-batch.",
      ),
      ...this.compute.render(
        "grood_batch_compute_seconds",
        "Time the detector took to score one micro-batch.",
      ),
      ...this.batches.render("grood_batch_images", "Images per scored micro-batch."),
      ...family(
        "grood_errors_total",
        "counter",
        "Refused or failed requests by code.",
        [...this.errors].map(([code, n]) => [{ code }, n] as const),
      ),
      ...family("grood_images_scored_total", "counter", "Images scored.", [[
        {},
        this.imagesScored,
      ]]),
      ...family(
        "grood_verdicts_total",
        "counter",
        "Verdicts returned, by verdict (in, ood, invalid).",
        (["in", "ood", "invalid"] as const).map((v) => [{ verdict: v }, totals[v]] as const),
      ),
      ...family(
        "grood_ood_share",
        "gauge",
        `OOD verdicts / (in + ood verdicts) over the last ${this.verdicts.windowSeconds} s ` +
          "(0 when there were none).",
        [[{}, window.share]],
      ),
      ...family(
        "grood_ood_window_verdicts",
        "gauge",
        `In and OOD verdicts over the last ${this.verdicts.windowSeconds} s.`,
        [[{}, window.verdicts]],
      ),
      ...(this.build === undefined ? [] : [
        ...header("grood_build_info", "gauge", "Build information (always 1)."),
        `grood_build_info${labelText({ ...this.build })} 1`,
      ]),
      ...processMetrics(),
      ...Object.entries(gauges).flatMap(([name, { help, value }]) =>
        family(name, "gauge", help, [[{}, value]])
      ),
      "",
    ].join("\n");
  }
}
