/**
 * The service's metrics on Effect's `Metric` (issue 25, item 4): each service has its own
 * registry, and the registry's snapshot renders as Prometheus text with cumulative buckets.
 */
import assert from "node:assert/strict";
import { LATENCY_BUCKETS, ServiceMetrics } from "../apps/serve/metrics.ts";

const sample = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

Deno.test("two services in one process keep their own numbers", () => {
  const a = new ServiceMetrics();
  const b = new ServiceMetrics();
  a.request("/v1/score", 200, 0.002);
  a.error("overloaded");
  a.batch(5, 0.01);
  a.verdict(["in", "ood", "ood"]);
  const textA = a.render();
  const textB = b.render();
  assert.equal(sample(textA, 'grood_requests_total{route="/v1/score",status="200"}'), 1);
  assert.equal(sample(textB, 'grood_requests_total{route="/v1/score",status="200"}'), undefined);
  assert.equal(sample(textA, 'grood_errors_total{code="overloaded"}'), 1);
  assert.equal(sample(textB, 'grood_errors_total{code="overloaded"}'), undefined);
  assert.equal(sample(textA, "grood_images_scored_total"), 5);
  assert.equal(sample(textB, "grood_images_scored_total"), 0);
  assert.equal(sample(textA, 'grood_verdicts_total{verdict="ood"}'), 2);
  assert.equal(sample(textB, 'grood_verdicts_total{verdict="ood"}'), 0);
  assert.deepEqual(b.batchTotals(), { batches: 0, images: 0 });
  assert.deepEqual(a.batchTotals(), { batches: 1, images: 5 });
});

Deno.test("histograms render cumulative buckets, +Inf, sum and count; gauges are sampled", () => {
  const m = new ServiceMetrics();
  const observed = [0.0005, 0.003, 0.003, 0.2, 20];
  for (const s of observed) m.request("/healthz", 200, s);
  const text = m.render({ grood_queued_images: { help: "Images waiting.", value: 7 } });
  const series = (le: string) =>
    sample(text, `grood_request_duration_seconds_bucket{route="/healthz",le="${le}"}`);
  for (const bound of LATENCY_BUCKETS) {
    assert.equal(series(String(bound)), observed.filter((s) => s <= bound).length, `le ${bound}`);
  }
  assert.equal(series("+Inf"), observed.length);
  assert.equal(sample(text, 'grood_request_duration_seconds_count{route="/healthz"}'), 5);
  const sum = sample(text, 'grood_request_duration_seconds_sum{route="/healthz"}')!;
  assert.ok(Math.abs(sum - observed.reduce((a, b) => a + b, 0)) < 1e-12);
  assert.match(text, /^# TYPE grood_request_duration_seconds histogram$/m);
  assert.match(text, /^# TYPE grood_requests_total counter$/m);
  assert.match(text, /^# HELP grood_queued_images Images waiting\.$/m);
  assert.equal(sample(text, "grood_queued_images"), 7);
  assert.equal(
    sample(m.render({ grood_queued_images: { help: "x", value: 2 } }), "grood_queued_images"),
    2,
  );
});
