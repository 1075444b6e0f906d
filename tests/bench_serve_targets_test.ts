/**
 * The targets of `grood bench serve` (issue 25): each judged from the measurements it names, the
 * overload bound taken from the deadline in force, the replica targets from a strictly decoded
 * `bench/serve_replicas.json`, and a missing report recorded as not measured, not as met.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect, Exit } from "effect";
import type { LoadSample } from "../bench/harness/machine.ts";
import {
  readReplicaReport,
  type ReplicaReport,
  type ServeMeasurements,
  serveTargets,
} from "../tasks/bench_serve_targets.ts";

const sample = (one: number): LoadSample => ({
  at: "2026-12-07T00:00:00.000Z",
  label: "x",
  loadavg: [one, 1, 1],
});

const report: ReplicaReport = {
  measured: "2026-12-06T22:32:14.904Z",
  cores: 4,
  load_average: [0.5, 0.5, 0.5],
  load: "single PNG",
  images_per_second: { replicas_1: 600, replicas_2: 1100 },
  rounds: { replicas_1: [600], replicas_2: [1100] },
  speed_up: 1.83,
  failover: {
    requests: 400,
    failed: 2,
    in_flight_on_killed_replica: 1,
    median_ms: 9,
    worst_ms: 80,
  },
};

const measured = (over: Partial<ServeMeasurements> = {}): ServeMeasurements => ({
  offlineImagesPerSecond: 2000,
  groodOnMnistFixture: true,
  c64: { imagesPerSecond: 1900, load: sample(1.5) },
  c1: { p99Ms: 12, load: sample(1.1) },
  overload: {
    other5xx: 0,
    p99AcceptedMs: 19_000,
    accepted: 50,
    deadlineMs: 10_000,
    load: sample(3),
  },
  memory: { growth: 0.02, requests: 100_000, load: sample(2) },
  failedUnderValidLoad: { count: 0, load: sample(2) },
  replicas: report,
  replicasPath: "bench/serve_replicas.json",
  ...over,
});

const byName = (targets: ReturnType<typeof serveTargets>, part: string) => {
  const found = targets.filter((t) => t.name.includes(part));
  assert.equal(found.length, 1, `one target named …${part}…`);
  return found[0]!;
};

Deno.test("every target is judged from its own measurement, with that level's load", () => {
  const targets = serveTargets(measured());
  assert.equal(byName(targets, "offline").value, 1900 / 2000);
  assert.equal(byName(targets, "offline").met, true);
  assert.equal(byName(targets, "images/s, GROOD").met, true);
  assert.deepEqual(byName(targets, "c=1 p99").load, [1.1, 1, 1]);
  assert.equal(byName(targets, "p99 of accepted").met, true); // 19 s ≤ 2 × 10 s
  assert.deepEqual(byName(targets, "p99 of accepted").load, [3, 1, 1]);
  assert.equal(byName(targets, "two replicas").value, 1.83);
  assert.equal(byName(targets, "two replicas").met, true);
  // 2 failed with 1 in flight on the killed replica: 1 beyond, not met.
  assert.equal(byName(targets, "kill -9").value, 1);
  assert.equal(byName(targets, "kill -9").met, false);

  const worse = serveTargets(measured({
    c64: { imagesPerSecond: 1700, load: sample(1.5) },
    c1: { p99Ms: 21, load: sample(1.1) },
    overload: {
      other5xx: 1,
      p99AcceptedMs: 19_000,
      accepted: 50,
      deadlineMs: 9_000,
      load: sample(3),
    },
    memory: { growth: 0.1, requests: 100_000, load: sample(2) },
    groodOnMnistFixture: false,
  }));
  assert.equal(byName(worse, "offline").met, false); // 0.85
  assert.equal(byName(worse, "images/s, GROOD").met, false); // not the mnist fixture's GROOD
  assert.match(byName(worse, "images/s, GROOD").note!, /not GROOD/);
  assert.equal(byName(worse, "c=1 p99").met, false);
  assert.equal(byName(worse, "other than 503").met, false);
  assert.equal(byName(worse, "p99 of accepted").met, false); // 19 s > 2 × 9 s
  assert.equal(byName(worse, "resident memory").met, false);
});

Deno.test("no accepted request under overload, or no replica report: not measured, not met", () => {
  const targets = serveTargets(measured({
    overload: { other5xx: 0, p99AcceptedMs: 0, accepted: 0, deadlineMs: 10_000, load: sample(3) },
    replicas: undefined,
  }));
  const accepted = byName(targets, "p99 of accepted");
  assert.equal(accepted.value, null);
  assert.equal(accepted.met, false);
  for (const name of ["two replicas", "kill -9"]) {
    const t = byName(targets, name);
    assert.equal(t.value, null);
    assert.equal(t.met, false);
    assert.match(t.note!, /serve_replicas\.json is missing/);
  }
});

Deno.test("the replica report is decoded strictly; a missing one is undefined", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-bench-targets-" });
  try {
    const path = join(dir, "serve_replicas.json");
    assert.equal(await Effect.runPromise(readReplicaReport(path)), undefined);
    await Deno.writeTextFile(path, JSON.stringify(report));
    assert.deepEqual(await Effect.runPromise(readReplicaReport(path)), report);
    await Deno.writeTextFile(path, JSON.stringify({ ...report, speedup: 2 }));
    const exit = await Effect.runPromiseExit(readReplicaReport(path));
    assert.ok(Exit.isFailure(exit));
    assert.match(String(exit.cause), /speedup/);
    assert.match(String(exit.cause), /serve_replicas\.json/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
