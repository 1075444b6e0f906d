/**
 * Replicas behind HAProxy (item 6 of issue 25), on loopback: `scripts/serve.sh --replicas N`
 * (the real Deno binary, so signals reach the supervisor) serving an MSP detector fitted on 2,000
 * MNIST digits with the committed ONNX model. Under bounded load (a few hundred single-image
 * requests, 8 at a time): a `kill -9` of one replica fails no request beyond those in flight at
 * the kill and every later one is 200; a rolling restart (SIGHUP) fails none; SIGTERM to the
 * supervisor leaves no HAProxy and no replica running. Every wait is bounded.
 *
 * With `GROOD_WRITE_BENCH=1` the throughput of 1 and 2 replicas and the failover pause are written
 * to `bench/serve_replicas.json`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect } from "effect";
import { haproxyInstalled, parseStat, serverStats } from "../apps/serve/haproxy.ts";
import { replicaArgv } from "../tasks/serve_replicas.ts";
import { fitMspFolder } from "./msp_folder.ts";
import {
  digitPng,
  kill,
  pidsMentioning,
  sleep,
  spawnCollecting,
  type Spawned,
  waitForOutput,
} from "./service_process.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const launcher = join(root, "scripts/serve.sh");
const ignore = !haproxyInstalled();
const reason = ignore ? " (ignored: haproxy is not installed; scripts/setup.sh installs it)" : "";
const dir = ignore ? "" : await Deno.makeTempDir({ prefix: "grood-serve-replicas-" });

if (!ignore) await fitMspFolder(dir);

const digit = ignore ? new Uint8Array() : await digitPng();

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/** The supervisor, HAProxy's URL and pid, and the replicas' pids by name. */
interface Supervisor extends Spawned {
  readonly url: string;
  readonly haproxyPid: number;
  readonly replicas: () => Map<string, number>;
}

/**
 * Start `scripts/serve.sh --replicas n` and wait (at most 120 s) for HAProxy's address;
 * `onFirstReady` runs when the first replica is ready, before HAProxy starts.
 */
async function start(
  n: number,
  onFirstReady?: (child: Deno.ChildProcess) => void,
  detector = "detector",
): Promise<Supervisor> {
  const args = ["--detector", detector, "--replicas", String(n), "--port", "0"];
  const process = spawnCollecting(launcher, [...args, "--drain-seconds", "5"], dir);
  if (onFirstReady !== undefined) {
    await waitForOutput(process, /replica r\d+ \(pid \d+\) ready/, 120_000, "a replica");
    onFirstReady(process.child);
  }
  const replicas = () => {
    const found = new Map<string, number>();
    for (const m of process.output().matchAll(/replica (r\d+) \(pid (\d+)\) ready/g)) {
      found.set(m[1]!, Number(m[2]));
    }
    return found;
  };
  const match = await waitForOutput(
    process,
    /HAProxy \(pid (\d+)\) at (http:\/\/127\.0\.0\.1:\d+)\//,
    120_000,
    "HAProxy's address",
  );
  return { ...process, url: match[2]!, haproxyPid: Number(match[1]), replicas };
}

/** SIGTERM the supervisor and wait (at most 40 s) for it to exit. */
async function stop(s: Supervisor): Promise<Deno.CommandStatus> {
  try {
    s.child.kill("SIGTERM");
  } catch {
    // gone
  }
  const status = await Promise.race([s.exited, sleep(40_000)]);
  if (status === undefined) {
    for (const pid of [s.child.pid, s.haproxyPid, ...s.replicas().values()]) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    throw new Error(`still running 40 s after SIGTERM: ${s.output()}`);
  }
  return status;
}

/** One request's outcome: when it started and ended (ms since the load began), its status. */
interface Outcome {
  readonly start: number;
  readonly end: number;
  readonly status: number;
}

/**
 * `total` scoring requests, `concurrency` at a time, each bounded to 15 s (status 0 when it
 * failed); `during(inFlight, outcomes, sinceStart)` runs once, when `at` of them have completed
 * (`sinceStart()`: ms since the load began, the clock of the outcomes' `start` and `end`).
 */
async function load(
  url: string,
  total: number,
  concurrency: number,
  at = -1,
  during: (
    inFlight: number,
    so: ReadonlyArray<Outcome>,
    sinceStart: () => number,
  ) => Promise<void> | void = () => {},
  until: (so: ReadonlyArray<Outcome>) => boolean = () => false,
) {
  const t0 = performance.now();
  const outcomes: Array<Outcome> = [];

  let next = 0;
  let act: Promise<void> | undefined;
  let inFlight = 0;
  const worker = async () => {
    while (next < total && !until(outcomes)) {
      next++;
      const start = performance.now() - t0;
      let status = 0;
      inFlight++;
      try {
        const response = await fetch(`${url}/v1/score`, {
          method: "POST",
          headers: { "content-type": "image/png" },
          body: digit,
          signal: AbortSignal.timeout(15_000),
        });
        await response.arrayBuffer();
        status = response.status;
      } catch {
        status = 0;
      }
      inFlight--;
      outcomes.push({ start, end: performance.now() - t0, status });
      if (outcomes.length === at) {
        act = Promise.resolve(during(inFlight, outcomes, () => performance.now() - t0));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await act;
  return { outcomes, seconds: (performance.now() - t0) / 1000 };
}

const bench: Record<string, unknown> = {};

Deno.test({
  name: `kill -9 of one of 2 replicas under load fails only requests in flight on it${reason}`,
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const s = await start(2);
    try {
      const victim = s.replicas().get("r1")!;
      assert.ok(victim > 0 && alive(victim));
      let inFlightAtKill = 0;
      // In flight on the victim: HAProxy's open sessions to r1 just before the kill.
      const socket = join(/config (\/[^\s")]+)\/haproxy\.cfg/.exec(s.output())![1]!, "admin.sock");
      let onVictim = -1;
      let killedAt = Infinity;
      const { outcomes } = await load(s.url, 400, 8, 120, async (inFlight, _, sinceStart) => {
        const stats = await Effect.runPromise(serverStats(socket));
        onVictim = stats.find((x) => x.name === "r1")?.current ?? -1;
        Deno.kill(victim, "SIGKILL");
        killedAt = sinceStart();
        inFlightAtKill = inFlight;
      });
      const failed = outcomes.filter((o) => o.status !== 200);
      assert.equal(outcomes.length, 400);
      assert.ok(inFlightAtKill > 0, "the kill happened during the load");
      assert.ok(onVictim >= 0, "HAProxy's stats name r1");
      assert.ok(
        failed.length <= Math.min(onVictim, inFlightAtKill),
        `${failed.length} failed, more than the ${onVictim} in flight on r1 at the kill`,
      );
      // Requests that started after the kill (by the clock, not by their rank: the kill comes
      // after a query to HAProxy, as long as the machine makes it): all answered.
      const later = outcomes.filter((o) => o.start > killedAt);
      assert.ok(later.length > 0, "no request started after the kill");
      assert.ok(later.every((o) => o.status === 200), JSON.stringify(failed));
      // The supervisor starts the killed replica again (at most 60 s).
      const deadline = Date.now() + 60_000;
      while (s.replicas().get("r1") === victim && Date.now() < deadline) await sleep(100);
      const again = s.replicas().get("r1")!;
      assert.ok(again !== victim && alive(again), `r1 not started again: ${s.output()}`);
      assert.match(s.output(), new RegExp(`replica r1 \\(pid ${victim}\\) exited`));
      const latencies = outcomes.map((o) => o.end - o.start).sort((a, b) => a - b);
      bench.failover = {
        requests: outcomes.length,
        failed: failed.length,
        in_flight_on_killed_replica: onVictim,
        median_ms: Math.round(latencies[latencies.length >> 1]!),
        worst_ms: Math.round(latencies[latencies.length - 1]!),
      };
    } finally {
      const status = await stop(s);
      assert.equal(status.code, 0, s.output());
    }
  },
});

Deno.test({
  name: `a rolling restart (SIGHUP) under load fails no request${reason}`,
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const s = await start(2);
    try {
      const before = [...s.replicas().values()];
      let restarted = false;
      let doneAt = 0;
      const done = () => (s.output().match(/rolling restart done/g) ?? []).length;
      // The load runs from before the SIGHUP until 100 requests after the restart is over (or
      // 120 s, or 20,000 requests).
      const { outcomes } = await load(s.url, 20_000, 8, 50, async (_, so) => {
        s.child.kill("SIGHUP");
        const deadline = Date.now() + 120_000;
        while (done() === 0 && Date.now() < deadline) await sleep(50);
        restarted = done() === 1;
        doneAt = so.length;
      }, (so) => doneAt > 0 && so.length > doneAt + 100);
      assert.ok(restarted, `the rolling restart did not finish: ${s.output()}`);
      assert.ok(outcomes.length > doneAt + 100, "the load outlasted the restart");
      const failed = outcomes.filter((o) => o.status !== 200);
      assert.deepEqual(failed, [], `${failed.length} of ${outcomes.length} failed`);
      const after = [...s.replicas().values()];
      assert.equal(after.length, 2);
      for (const pid of before) assert.ok(!after.includes(pid) && !alive(pid), "old replica gone");
      assert.ok(after.every(alive));
      bench.rolling_restart = { requests: outcomes.length, failed: failed.length };
    } finally {
      await stop(s);
    }
  },
});

Deno.test({
  name:
    `a SIGHUP while the replicas start is kept: the rolling restart runs once they are up${reason}`,
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // HAProxy can answer /readyz before the supervisor's last start-up step (docs/guide.md waits
    // for /readyz, then sends SIGHUP); a SIGHUP then used to kill the supervisor.
    const s = await start(2, (child) => child.kill("SIGHUP"));
    try {
      await waitForOutput(s, /rolling restart done/, 120_000, "the rolling restart");
      assert.match(s.output(), /SIGHUP came while the replicas started/);
      assert.equal(s.output().match(/ready on 127\.0\.0\.1/g)?.length, 4, "2, then 2 new");
      const { outcomes } = await load(s.url, 20, 4);
      assert.ok(outcomes.every((o) => o.status === 200), JSON.stringify(outcomes));
    } finally {
      const status = await stop(s);
      assert.equal(status.code, 0, s.output());
    }
  },
});

Deno.test({
  name: `SIGTERM during a rolling restart starts no replica that outlives the supervisor${reason}`,
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // The folder's name marks this test's processes. The SIGTERM comes right after r1's
    // replacement: r2's old replica is draining, and its replacement used to be started anyway,
    // with nothing left to stop it.
    const marked = join(dir, "detector-restart-stop");
    await Deno.symlink(join(dir, "detector"), marked);
    const s = await start(2, undefined, marked);
    try {
      s.child.kill("SIGHUP");
      await waitForOutput(s, /rolling restart: r1 replaced/, 120_000, "r1's replacement");
      const status = await stop(s);
      assert.equal(status.code, 0, s.output());
      const deadline = Date.now() + 20_000;
      while (pidsMentioning(marked).length > 0 && Date.now() < deadline) await sleep(100);
      assert.deepEqual(pidsMentioning(marked), [], "processes left after SIGTERM");
    } finally {
      for (const pid of pidsMentioning(marked)) kill(pid);
    }
  },
});

Deno.test({
  name: `SIGTERM to the supervisor stops HAProxy and every replica${reason}`,
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const s = await start(2);
    const pids = [s.haproxyPid, ...s.replicas().values()];
    const folder = /config (\/[^\s")]+)\/haproxy\.cfg/.exec(s.output())?.[1] ?? "";
    try {
      assert.ok(folder !== "" && Deno.statSync(folder).isDirectory, s.output());
      assert.equal(pids.length, 3);
      assert.ok(pids.every(alive));
    } catch (error) {
      await stop(s).catch(() => {});
      throw error;
    }
    const status = await stop(s);
    assert.equal(status.code, 0, s.output());
    const deadline = Date.now() + 5000;
    while (pids.some(alive) && Date.now() < deadline) await sleep(50);
    assert.deepEqual(pids.filter(alive), [], "processes left after SIGTERM");
    assert.throws(() => Deno.statSync(folder), Deno.errors.NotFound, "temporary folder left");
    assert.match(s.output(), /"stopped"|stopped/);
  },
});

Deno.test({
  name: `Ctrl-C (SIGINT to every process at once) stops everything, nothing restarted${reason}`,
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const s = await start(2);
    const pids = [s.haproxyPid, ...s.replicas().values()];
    for (const pid of [s.child.pid, ...pids]) Deno.kill(pid, "SIGINT");
    const status = await Promise.race([s.exited, sleep(40_000)]);
    const deadline = Date.now() + 5000;
    while (pids.some(alive) && Date.now() < deadline) await sleep(50);
    const left = pids.filter(alive);
    if (status === undefined) await stop(s).catch(() => {});
    assert.ok(status !== undefined && status.code === 0, s.output());
    assert.deepEqual(left, [], "processes left after SIGINT");
    assert.doesNotMatch(s.output(), /restarting/);
    assert.equal(
      s.output().match(/replica r\d+ \(pid \d+\) ready/g)?.length,
      2,
      "none started again",
    );
  },
});

Deno.test({
  name: `kill -9 of the supervisor: HAProxy and the replicas stop by themselves${reason}`,
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const s = await start(2);
    const pids = [s.haproxyPid, ...s.replicas().values()];
    const folder = /config (\/[^\s")]+)\/haproxy\.cfg/.exec(s.output())?.[1] ?? "";
    s.child.kill("SIGKILL");
    await Promise.race([s.exited, sleep(5000)]);
    // HAProxy gets SIGTERM as its parent-death signal; the replicas see their parent gone.
    const deadline = Date.now() + 20_000;
    while (pids.some(alive) && Date.now() < deadline) await sleep(100);
    const left = pids.filter(alive);
    for (const pid of left) Deno.kill(pid, "SIGKILL");
    // Nobody is left to remove the supervisor's folder: the test does.
    if (folder !== "") Deno.removeSync(folder, { recursive: true });
    assert.deepEqual(left, [], "processes left 20 s after the supervisor was killed");
  },
});

Deno.test({
  name: `a bad --replicas is a usage error naming the flag${reason}`,
  ignore,
  fn: async () => {
    const out = await new Deno.Command(launcher, {
      args: ["--detector", "detector", "--replicas", "0", "--port", "0"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    assert.equal(out.code, 2);
    assert.match(
      new TextDecoder().decode(out.stderr),
      /Invalid value for flag --replicas: "0"\. Expected: a number from 1 to 64/,
    );
  },
});

Deno.test({
  name: `throughput of 1 and 2 replicas at concurrency 8${reason}`,
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // Both set-ups run at once; 3 rounds of 1,000 requests each, interleaved, so that the
    // machine's other work weighs on both alike; the median round of each is kept.
    const setups = [await start(1)];
    const runs: Record<string, Array<number>> = { replicas_1: [], replicas_2: [] };
    try {
      setups.push(await start(2));
      for (const s of setups) await load(s.url, 50, 8); // warm-up
      for (let round = 0; round < 3; round++) {
        for (const [i, s] of setups.entries()) {
          const { outcomes, seconds } = await load(s.url, 1000, 8);
          assert.ok(outcomes.every((o) => o.status === 200));
          runs[`replicas_${i + 1}`]!.push(Math.round(outcomes.length / seconds));
        }
      }
    } finally {
      for (const s of setups) await stop(s);
    }
    const median = (xs: ReadonlyArray<number>) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
    const rates = { replicas_1: median(runs.replicas_1!), replicas_2: median(runs.replicas_2!) };
    assert.ok(rates.replicas_1! > 0 && rates.replicas_2! > 0);
    if (Deno.env.get("GROOD_WRITE_BENCH") === "1") {
      const report = {
        measured: new Date().toISOString(),
        cores: navigator.hardwareConcurrency,
        load_average: Deno.loadavg(),
        load:
          "single 28x28 PNG per request, concurrency 8; 3 interleaved rounds of 1,000 requests per set-up after 50 warm-up, median round",
        images_per_second: rates,
        rounds: runs,
        speed_up: Math.round((rates.replicas_2! / rates.replicas_1!) * 100) / 100,
        ...bench,
      };
      await Deno.writeTextFile(
        join(root, "bench/serve_replicas.json"),
        JSON.stringify(report, null, 2) + "\n",
      );
    }
  },
});

Deno.test("a replica gets the user's flags but its own --host and --port; show stat is read", () => {
  assert.deepEqual(
    replicaArgv(["--detector", "d", "--replicas", "2", "--port=80", "--host", "0.0.0.0", "-x"]),
    ["--detector", "d", "-x"],
  );
  assert.deepEqual(replicaArgv(["--replicas=3", "--batch-size", "8"]), ["--batch-size", "8"]);
  const csv = [
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status",
    "grood,FRONTEND,,,3,5,4096,10,0,0,0,0,0,,,,,OPEN",
    "replicas,r1,0,0,2,4,,9,0,0,,0,,0,0,0,0,UP",
    "replicas,r2,0,0,0,4,,9,0,0,,0,,0,0,0,0,MAINT",
    "replicas,BACKEND,0,0,2,5,410,18,0,0,0,0,,0,0,0,0,UP",
  ].join("\n");
  assert.deepEqual(parseStat(csv), [
    { name: "r1", status: "UP", current: 2 },
    { name: "r2", status: "MAINT", current: 0 },
  ]);
});

globalThis.addEventListener("unload", () => {
  if (dir !== "") Deno.removeSync(dir, { recursive: true });
});
