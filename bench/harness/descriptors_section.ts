/**
 * Bench section 2, descriptor throughput on the real training penultimate features: GROOD's
 * closed form against per-sample autograd (the reference, on a subset, as a rate) and batched
 * autograd, with how far apart their results are.
 *
 * @module
 */
import { Effect } from "effect";
import { type LabelledSet, takeRows } from "../../lib/data/mod.ts";
import { autogradDescriptors, groodDescriptors } from "../../lib/stages/mod.ts";
import { type Bench, maxAbsDifference, range } from "./context.ts";
import type { FitState } from "./fit_section.ts";
import { repeat } from "./measure.ts";
import { figure } from "./report.ts";

/** Measure descriptor throughput on the fit's training features. */
export const descriptorsSection = Effect.fn("descriptorsSection")(function* (
  bench: Bench,
  fit: FitState,
  train: LabelledSet,
) {
  const { plan, timedRuns, emit, section, details } = bench;
  const { gp, correctRows } = fit;
  const features = fit.extraction.features;
  section("descriptor throughput (real training penultimate features)");
  const rows = takeRows(features.penultimate, correctRows);
  const labels = Uint8Array.from(correctRows, (i) => train.labels[i]!); // = predicted classes
  const closed = yield* repeat(timedRuns, () => groodDescriptors(rows, gp));
  const subRows = Math.min(plan.perSampleRows, rows.rows);
  const sub = takeRows(rows, range(subRows));
  const perSample = yield* repeat(
    timedRuns,
    () => autogradDescriptors(sub, gp, labels.subarray(0, subRows), "per-sample"),
  );
  const batched = yield* repeat(
    timedRuns,
    () => autogradDescriptors(rows, gp, labels, "batched"),
  );
  const rate = (count: number, seconds: ReadonlyArray<number>) => seconds.map((s) => count / s);
  const closedRates = rate(rows.rows, closed.seconds);
  const perSampleRates = rate(subRows, perSample.seconds);
  emit(
    figure(
      "descriptors.closed",
      `descriptors: closed form (${rows.rows} rows)`,
      "descriptors/s",
      closedRates,
    ),
  );
  emit(
    figure(
      "descriptors.per_sample",
      `descriptors: per-sample autograd (${subRows} rows, as a rate)`,
      "descriptors/s",
      perSampleRates,
      { note: "one tf.grad per row, as the reference; rate extrapolated" },
    ),
  );
  emit(
    figure(
      "descriptors.batched",
      `descriptors: batched autograd (${rows.rows} rows)`,
      "descriptors/s",
      rate(rows.rows, batched.seconds),
      { note: "tf.grad per 1,000 rows" },
    ),
  );
  emit(
    figure(
      "descriptors.speedup",
      "descriptors: closed form over per-sample autograd",
      "x",
      closedRates.map((r, i) => r / perSampleRates[i]!),
      { target: { op: ">=", value: 50 } },
    ),
  );
  details.descriptors = {
    maxAbsDifferenceClosedVsBatched: maxAbsDifference(closed.last.data, batched.last.data),
    maxAbsDifferenceClosedVsPerSample: maxAbsDifference(
      closed.last.data.subarray(0, subRows * rows.cols),
      perSample.last.data,
    ),
  };
});
