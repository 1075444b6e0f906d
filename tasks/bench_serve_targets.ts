/**
 * The targets of issue 25 for `grood bench serve`, each judged met or not from what the benchmark
 * measured, with its measured value and the load average while it was measured; the replica
 * targets come from `bench/serve_replicas.json` (written by `tests/serve_replicas_test.ts` with
 * `GROOD_WRITE_BENCH=1`), decoded strictly.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import type { LoadSample } from "../bench/harness/machine.ts";
import { decodeJsonText, type InvalidInput } from "../mod.ts";
import { IoError, osReason } from "../lib/io/mod.ts";

/** One target: what it asks, what was measured, whether it holds, and how busy the machine was. */
export interface ServeTarget {
  readonly name: string;
  /** The target as the issue states it. */
  readonly target: string;
  /** The measured value (null: not measured; then `met` is false and `note` says why). */
  readonly value: number | null;
  readonly met: boolean;
  /** 1-, 5- and 15-minute load averages at the end of the measurement. */
  readonly load: readonly [number, number, number] | null;
  /** How the value was obtained, or why it could not be. */
  readonly note?: string;
}

/** What `tests/serve_replicas_test.ts` writes to `bench/serve_replicas.json`. */
export const ReplicaReport = Schema.Struct({
  measured: Schema.String,
  cores: Schema.Number,
  load_average: Schema.Tuple([Schema.Number, Schema.Number, Schema.Number]),
  load: Schema.String,
  images_per_second: Schema.Struct({ replicas_1: Schema.Number, replicas_2: Schema.Number }),
  rounds: Schema.Struct({
    replicas_1: Schema.Array(Schema.Number),
    replicas_2: Schema.Array(Schema.Number),
  }),
  speed_up: Schema.Number,
  failover: Schema.optional(Schema.Struct({
    requests: Schema.Number,
    failed: Schema.Number,
    in_flight_on_killed_replica: Schema.Number,
    median_ms: Schema.Number,
    worst_ms: Schema.Number,
  })),
  rolling_restart: Schema.optional(Schema.Struct({
    requests: Schema.Number,
    failed: Schema.Number,
  })),
});

/** The replica report. */
export type ReplicaReport = typeof ReplicaReport.Type;

/** The replica report at `path`, or undefined when there is none (not measured yet). */
export const readReplicaReport = (
  path: string,
): Effect.Effect<ReplicaReport | undefined, IoError | InvalidInput> =>
  Effect.tryPromise({
    try: () =>
      Deno.readTextFile(path).catch((e) =>
        e instanceof Deno.errors.NotFound ? undefined : Promise.reject(e)
      ),
    catch: (cause) => new IoError({ path, operation: "read", reason: osReason(cause) }),
  }).pipe(
    Effect.flatMap((text) =>
      text === undefined ? Effect.succeed(undefined) : decodeJsonText(ReplicaReport, path)(text)
    ),
  );

/** What the targets are judged from. */
export interface ServeMeasurements {
  /** Offline images/s of the same detector on the same engine (decode + score in batches). */
  readonly offlineImagesPerSecond: number;
  /** Whether the detector is GROOD on the mnist fixture (the ≥ 1,500 images/s target's case). */
  readonly groodOnMnistFixture: boolean;
  readonly c64: { readonly imagesPerSecond: number; readonly load: LoadSample };
  readonly c1: { readonly p99Ms: number; readonly load: LoadSample };
  readonly overload: {
    readonly other5xx: number;
    readonly p99AcceptedMs: number;
    readonly accepted: number;
    readonly deadlineMs: number;
    readonly load: LoadSample;
  };
  readonly memory: {
    readonly growth: number;
    readonly requests: number;
    readonly load: LoadSample;
  };
  /** Non-2xx answers, errors and timeouts under valid load at 1, 16 and 64 connections. */
  readonly failedUnderValidLoad: { readonly count: number; readonly load: LoadSample };
  readonly replicas: ReplicaReport | undefined;
  /** Where the replica report is read from (named when it is missing). */
  readonly replicasPath: string;
}

/** Judge every target of issue 25 from `m`. */
export function serveTargets(m: ServeMeasurements): Array<ServeTarget> {
  const share = m.c64.imagesPerSecond / m.offlineImagesPerSecond;
  const deadline2x = 2 * m.overload.deadlineMs;
  const r = m.replicas;
  const missing = `${m.replicasPath} is missing: run ` +
    "`GROOD_WRITE_BENCH=1 deno test -A tests/serve_replicas_test.ts`";
  const failover = r?.failover;
  const beyond = failover === undefined
    ? null
    : Math.max(0, failover.failed - failover.in_flight_on_killed_replica);
  return [
    {
      name: "c=64 throughput ÷ offline score rate (same engine)",
      target: ">= 0.9",
      value: share,
      met: share >= 0.9,
      load: m.c64.load.loadavg,
    },
    {
      name: "c=64 images/s, GROOD on the mnist fixture",
      target: ">= 1500",
      value: m.c64.imagesPerSecond,
      met: m.groodOnMnistFixture && m.c64.imagesPerSecond >= 1500,
      load: m.c64.load.loadavg,
      ...(m.groodOnMnistFixture
        ? {}
        : { note: "the served detector is not GROOD on the mnist fixture (--detector)" }),
    },
    {
      name: "c=1 p99 latency (ms)",
      target: "<= 20",
      value: m.c1.p99Ms,
      met: m.c1.p99Ms <= 20,
      load: m.c1.load.loadavg,
    },
    {
      name: "overload (32 images × 256 connections): 5xx answers other than 503",
      target: "== 0",
      value: m.overload.other5xx,
      met: m.overload.other5xx === 0,
      load: m.overload.load.loadavg,
    },
    {
      name: "overload (32 images × 256 connections): p99 of accepted (2xx) requests (ms)",
      target: `<= 2 × the batch deadline (${deadline2x} ms)`,
      value: m.overload.accepted === 0 ? null : m.overload.p99AcceptedMs,
      met: m.overload.accepted > 0 && m.overload.p99AcceptedMs <= deadline2x,
      load: m.overload.load.loadavg,
      ...(m.overload.accepted === 0 ? { note: "no request was accepted" } : {}),
    },
    {
      name: `resident memory growth over ${m.memory.requests} requests after warm-up`,
      target: "< 0.1",
      value: m.memory.growth,
      met: m.memory.growth < 0.1,
      load: m.memory.load.loadavg,
    },
    {
      name: "non-2xx answers, errors and timeouts under valid load (c=1, 16, 64, memory run)",
      target: "== 0",
      value: m.failedUnderValidLoad.count,
      met: m.failedUnderValidLoad.count === 0,
      load: m.failedUnderValidLoad.load.loadavg,
    },
    r === undefined
      ? {
        name: "two replicas ÷ one behind HAProxy (throughput)",
        target: ">= 1.7 where cores allow",
        value: null,
        met: false,
        load: null,
        note: missing,
      }
      : {
        name: "two replicas ÷ one behind HAProxy (throughput)",
        target: ">= 1.7 where cores allow",
        value: r.speed_up,
        met: r.speed_up >= 1.7,
        load: r.load_average,
        note: `${r.cores} cores, measured ${r.measured} (${m.replicasPath})` +
          (r.cores < 3
            ? ": two replicas, HAProxy and the load generator share them, so the cores do not " +
              "allow the target here"
            : ""),
      },
    {
      name: "kill -9 of one of 2 replicas under load: failed requests beyond those in flight on it",
      target: "== 0",
      value: beyond,
      met: beyond === 0,
      load: r?.load_average ?? null,
      note: r === undefined
        ? missing
        : failover === undefined
        ? `${m.replicasPath} has no failover measurement`
        : `${failover.failed} failed of ${failover.requests}, ` +
          `${failover.in_flight_on_killed_replica} in flight on the killed replica ` +
          `(${m.replicasPath}, ${r.measured})`,
    },
  ];
}
