/**
 * `grood bench cluster [--images N] [--out FILE]`: measure cluster scoring on this machine and
 * write `bench/cluster.json`: one-process `score` as the baseline; 1, 2 and 3 runners on
 * loopback (images/s, per runner); the coordination cost per chunk (one runner, one chunk in
 * flight: the driver's wall time per chunk minus the runner's own scoring time); the failover
 * pause (two runners, one chunk in flight, one runner killed with SIGKILL: the longest wait for a
 * chunk after the kill, minus the median before it); and how long a runner takes to leave on
 * SIGTERM. Every run uses a throwaway PostgreSQL and the default failover settings; runners and
 * drivers are started as `grood cluster runner` and `grood cluster score` (`loopback.ts`).
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect, Exit, Scope } from "effect";
import { DEFAULT_FAILOVER } from "./failover.ts";
import { clusterFixture } from "./fixture.ts";
import {
  DENO,
  freePorts,
  groodArgs,
  partsIn,
  releasedOnSignal,
  startDriver,
  type Started,
  startRunner,
  waitFor,
} from "./loopback.ts";
import { throwawayPostgres } from "./throwaway_postgres.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The benchmark's defaults: 20 chunks of 512 images; the checkout's `bench/cluster.json`. */
export const BENCH_CLUSTER_DEFAULTS = {
  images: 10_240,
  out: join(root, "bench/cluster.json"),
} as const;

/** The fewest images: 5 chunks, since the failover run kills a runner after the 4th. */
export const MIN_BENCH_IMAGES = 5 * 512;

/** The most images the fixture holds: MNIST's 10,000 test and 58,000 unused training images. */
export const MAX_BENCH_IMAGES = 68_000;

/** What `grood bench cluster` measures: how many images, and where the results go. */
export interface BenchClusterOptions {
  readonly images: number;
  /** The results file (absolute). */
  readonly out: string;
}

/** A file's text, or "" when it cannot be read (a log not yet written, no /proc). */
export const text = (path: string): string => {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
};
/** The machine's 1, 5 and 15 minute load averages (empty where /proc is absent). */
export const loadAverage = (): Array<number> =>
  text("/proc/loadavg").split(" ").slice(0, 3).map(Number);
const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor(sorted.length / 2)]!;
};
/** The checkout's short commit (what a measurement ran on). */
export const commitOf = (): string =>
  new TextDecoder().decode(
    new Deno.Command("git", { args: ["rev-parse", "--short", "HEAD"], cwd: root }).outputSync()
      .stdout,
  ).trim();

/** What the cluster benches say of the machine: everything on one machine, over loopback. */
export const LOOPBACK_NOTE = "runners, driver and PostgreSQL share this one machine (loopback)";

/** When and where a measurement ran: date, commit, cores, load averages before and now, a note. */
export const runRecord = (loadBefore: ReadonlyArray<number>, note: string): {
  readonly date: string;
  readonly commit: string;
  readonly machine: {
    readonly cores: number;
    readonly loadAverageBefore: ReadonlyArray<number>;
    readonly loadAverageAfter: ReadonlyArray<number>;
    readonly note: string;
  };
} => ({
  date: new Date().toISOString(),
  commit: commitOf(),
  machine: {
    cores: navigator.hardwareConcurrency,
    loadAverageBefore: loadBefore,
    loadAverageAfter: loadAverage(),
    note,
  },
});

/** The driver's summary line, parsed. */
const summaryOf = (log: string) => {
  const m =
    /(\d+) images scored in (\d+) chunks .* in ([\d.]+) s \(scoring ([\d.]+) s, runners busy ([\d.]+) s\)/
      .exec(log);
  if (m === null) throw new Error(`no summary in the driver's log:\n${log}`);
  return {
    images: Number(m[1]),
    chunks: Number(m[2]),
    seconds: Number(m[3]),
    scoringSeconds: Number(m[4]),
    runnerSeconds: Number(m[5]),
  };
};

/** Run the benchmark and write its results to `options.out` (and stdout). */
export async function benchCluster(options: BenchClusterOptions): Promise<void> {
  const IMAGES = options.images;
  const OUT = options.out;
  const dir = await Deno.makeTempDir({ prefix: "grood-bench-cluster-" });
  const scope = await Effect.runPromise(Scope.make());
  const started: Array<Started> = [];
  const loadBefore = loadAverage();
  const release = releasedOnSignal(async () => {
    for (const s of started) s.kill("SIGKILL");
    for (const s of started) await s.exit(10);
    await Effect.runPromise(Scope.close(scope, Exit.void));
    await Deno.remove(dir, { recursive: true });
  });

  try {
    console.error(`fixture: ${IMAGES} images, detector fitted on 2,000 MNIST images`);
    const { detector, images } = await clusterFixture(dir, IMAGES);
    const t0 = performance.now();
    const one = await new Deno.Command(DENO, {
      args: groodArgs(["score", "--detector", detector, images]),
      cwd: dir,
      env: { NO_COLOR: "1", INIT_CWD: dir },
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!one.success) throw new Error(new TextDecoder().decode(one.stderr));
    const oneSeconds = (performance.now() - t0) / 1000;
    console.error(`one process: ${oneSeconds.toFixed(1)} s`);
    const pg = await Effect.runPromise(Scope.provide(throwawayPostgres(), scope));

    const runners = async (count: number, tag: string) => {
      const list = freePorts(count).map((port, k) =>
        startRunner({
          detector,
          pg: pg.url,
          port,
          cwd: dir,
          log: join(dir, `${tag}-runner-${k}.log`),
        })
      );
      started.push(...list);
      for (const r of list) {
        await waitFor(`${r.log} listening`, 180, () => /Listening on/.test(text(r.log)));
      }
      return list;
    };
    /** SIGTERM every runner; seconds until each has exited. */
    const stop = async (list: ReadonlyArray<Started>) => {
      const began = performance.now();
      for (const r of list) r.kill("SIGTERM");
      const seconds: Array<number> = [];
      for (const r of list) {
        await r.exit(60);
        seconds.push((performance.now() - began) / 1000);
      }
      return seconds;
    };
    const drive = (tag: string, extra: ReadonlyArray<string> = []) => {
      const driver = startDriver({
        detector,
        pg: pg.url,
        job: join(dir, `${tag}-job`),
        out: join(dir, `${tag}.csv`),
        sources: [images],
        cwd: dir,
        log: join(dir, `${tag}-driver.log`),
        extra,
      });
      started.push(driver);
      return driver;
    };

    const scaling: Array<Record<string, number>> = [];
    const sigterm: Array<number> = [];
    for (const count of [1, 2, 3]) {
      const list = await runners(count, `r${count}`);
      const driver = drive(`r${count}`);
      const status = await driver.exit(1800);
      if (status.code !== 0) throw new Error(text(driver.log));
      const summary = summaryOf(text(driver.log));
      const rate = summary.images / summary.scoringSeconds;
      scaling.push({
        runners: count,
        ...summary,
        imagesPerSecond: rate,
        imagesPerSecondPerRunner: rate / count,
        load1: loadAverage()[0]!,
      });
      console.error(`${count} runner(s): ${rate.toFixed(0)} images/s`);
      sigterm.push(...await stop(list));
    }

    // Coordination: one runner, one chunk in flight.
    const single = await runners(1, "coord");
    const coordDriver = drive("coord", ["--in-flight", "1"]);
    if ((await coordDriver.exit(1800)).code !== 0) throw new Error(text(coordDriver.log));
    const coord = summaryOf(text(coordDriver.log));
    await stop(single);

    // Failover: two runners, one chunk in flight, one runner killed after 4 chunks.
    const pair = await runners(2, "failover");
    const failDriver = drive("failover", ["--in-flight", "1"]);
    const job = join(dir, "failover-job");
    await waitFor("4 chunks", 600, () => partsIn(job).length >= 4);
    const killedAt = Date.now();
    pair[0]!.kill("SIGKILL");
    if ((await failDriver.exit(1800)).code !== 0) throw new Error(text(failDriver.log));
    const times = partsIn(job).map((name) =>
      Deno.statSync(join(job, "parts", name)).mtime!.getTime()
    )
      .sort((a, b) => a - b);
    const gaps = times.slice(1).map((t, i) => (t - times[i]!) / 1000);
    const beforeGaps = gaps.filter((_, i) => times[i + 1]! <= killedAt);
    const afterGaps = gaps.filter((_, i) => times[i + 1]! > killedAt);
    const pause = Math.max(...afterGaps) - median(beforeGaps);
    await stop(pair.slice(1));

    const result = {
      ...runRecord(loadBefore, LOOPBACK_NOTE),
      images: IMAGES,
      chunkSize: 512,
      failoverSettings: DEFAULT_FAILOVER,
      oneProcess: { seconds: oneSeconds, imagesPerSecond: IMAGES / oneSeconds },
      scaling,
      coordination: {
        chunks: coord.chunks,
        wallPerChunkSeconds: coord.scoringSeconds / coord.chunks,
        runnerPerChunkSeconds: coord.runnerSeconds / coord.chunks,
        coordinationPerChunkSeconds: (coord.scoringSeconds - coord.runnerSeconds) / coord.chunks,
      },
      failover: {
        medianGapBeforeKillSeconds: median(beforeGaps),
        longestGapAfterKillSeconds: Math.max(...afterGaps),
        pauseSeconds: pause,
      },
      sigtermExitSeconds: sigterm,
    };
    await Deno.mkdir(join(OUT, ".."), { recursive: true });
    // The fit's timings (`grood bench cluster --fit`) are kept.
    const fit = (JSON.parse(text(OUT) || "{}") as { fit?: unknown }).fit;
    await Deno.writeTextFile(
      OUT,
      JSON.stringify(fit === undefined ? result : { ...result, fit }, null, 2) + "\n",
    );
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await release();
  }
}
