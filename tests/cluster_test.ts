/**
 * Batch scoring on a three-runner cluster on loopback, with a throwaway PostgreSQL, against
 * one-process `grood score` of the same images. One job goes through the three failures in turn:
 * the driver killed with SIGKILL and started again (it must resume without rescoring the finished
 * chunks), a runner killed with SIGKILL (its chunks are delivered again to the others), and
 * PostgreSQL restarted (the driver paused with SIGSTOP during each of these two, so that chunks
 * surely remain whatever the speed of a chunk). The merged output must be byte for byte the
 * one-process output: every image once, every score bit-identical. Every process is `grood`
 * (`apps/cli/main.ts`: `grood cluster runner`, `grood cluster score`) on the real deno binary, so
 * the signals reach the programs; one runner is started through the `./grood` launcher, which must
 * exec that binary in its place for the final SIGTERM to reach it. Then a folder of 1,100 PNG files
 * on the two runners left, against one-process `score` of the folder. `GROOD_CLUSTER_TEST_IMAGES`
 * sets the image count of the first job (default 20,000).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect, Exit, Scope } from "effect";
import sharp from "sharp";
import {
  freePorts,
  groodSucceeds,
  partsIn,
  startDriver,
  type Started,
  startRunner,
  waitFor,
  whilePaused,
} from "../apps/cluster/loopback.ts";
import { throwawayPostgres } from "../apps/cluster/throwaway_postgres.ts";
import { text } from "../apps/cluster/bench.ts";
import { clusterFixture } from "../apps/cluster/fixture.ts";
const IMAGES = Number(Deno.env.get("GROOD_CLUSTER_TEST_IMAGES") ?? 20_000);
const CHUNK = 512;
const CHUNKS = Math.ceil(IMAGES / CHUNK);
/** PNG files of the folder job (3 chunks, the last one short). */
const FOLDER_IMAGES = 1100;

/** What a process has logged so far (nothing before its shell has created the file). */
const logOf = (started: Started): string => text(started.log);

Deno.test({
  name: "cluster scoring survives a killed driver, a killed runner and a PostgreSQL restart",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "grood-cluster-" });
    const scope = await Effect.runPromise(Scope.make());
    const runners: Array<Started> = [];
    const drivers: Array<Started> = [];
    try {
      const { detector, images } = await clusterFixture(dir, IMAGES);
      // The reference: one process, `grood score`.
      const expected = await groodSucceeds(["score", "--detector", detector, "images.npy"], dir);
      assert.equal(expected.trimEnd().split("\n").length, IMAGES + 1);

      const pg = await Effect.runPromise(Scope.provide(throwawayPostgres(), scope));
      for (const [k, port] of freePorts(3).entries()) {
        runners.push(startRunner({
          detector,
          pg: pg.url,
          port,
          cwd: dir,
          log: join(dir, `runner-${k}.log`),
          // The last runner as a process manager starts it (`./grood cluster runner`): the
          // SIGTERM at the end must reach it through the launcher's exec.
          viaLauncher: k === 2,
        }));
      }
      for (const runner of runners) {
        await waitFor(
          `runner ${runner.log} listening`,
          180,
          () => /Listening on/.test(logOf(runner)),
        );
      }
      const job = join(dir, "job");
      const driverOptions = (n: number) => ({
        detector,
        pg: pg.url,
        job,
        out: join(dir, "cluster.csv"),
        sources: [images.replace(`${dir}/`, "")],
        cwd: dir,
        log: join(dir, `driver-${n}.log`),
        // Two chunks in flight at a time pace the job (about one PostgreSQL round trip a chunk),
        // so each fault below lands while chunks remain however fast a chunk is scored.
        extra: ["--in-flight", "2"],
      });

      // 1. The driver killed after a few chunks, then started again. The counts are polled
      // every 20 ms (a chunk may take only tens of milliseconds).
      const poll = 20;
      drivers.push(startDriver(driverOptions(1)));
      await waitFor("4 chunks scored", 300, () => partsIn(job).length >= 4, poll);
      drivers[0]!.kill("SIGKILL");
      await drivers[0]!.exit(30);
      assert.ok(partsIn(job).length < CHUNKS, "the job ended before the driver was killed");
      const before = new Set(partsIn(job));
      // Long enough for the replies of these chunks to be stored: from here on, none is owed.
      await new Promise((done) => setTimeout(done, 3000));
      const stamps = new Map(
        [...before].map((name) => {
          const info = Deno.statSync(join(job, "parts", name));
          return [name, `${info.ino}/${info.mtime?.getTime()}`];
        }),
      );
      drivers.push(startDriver(driverOptions(2)));
      await waitFor(
        "the driver resumes",
        120,
        () => /resuming: \d+ of/.test(logOf(drivers[1]!)),
        poll,
      );
      const resumed = Number(/resuming: (\d+) of/.exec(logOf(drivers[1]!))![1]);
      assert.ok(resumed >= before.size, `resumed ${resumed}, ${before.size} parts were on disk`);

      /**
       * Pause the second driver (SIGSTOP) once `more` chunks have been scored since now (fewer
       * when the job is near its end: at most up to `last`), check that chunks remain, `disrupt`,
       * and resume it (SIGCONT). Only the driver writes parts, and it sends no chunk while paused,
       * so the job cannot end before the disruption, however fast the chunks are scored.
       */
      const pausedAfter = async (
        more: number,
        last: number,
        what: string,
        disrupt: () => Promise<unknown>,
      ) => {
        const from = partsIn(job).length;
        const target = Math.min(from + more, last);
        await waitFor(`${target} chunks (${what})`, 300, () => partsIn(job).length >= target, poll);
        // A part being written as the signal came is on disk once the count stays put.
        await whilePaused(drivers[1]!, () => partsIn(job).length, async (count) => {
          assert.ok(count < CHUNKS, `the job ended before ${what}`);
          await disrupt();
        });
      };

      // 2. A runner killed mid-job: its shards move, its unanswered chunks are delivered again.
      await pausedAfter(6, CHUNKS - 12, "the runner was killed", async () => {
        runners[0]!.kill("SIGKILL");
        await runners[0]!.exit(30);
      });

      // 3. PostgreSQL restarted mid-job.
      await pausedAfter(
        4,
        CHUNKS - 6,
        "PostgreSQL was restarted",
        () => Effect.runPromise(pg.restart),
      );

      const status = await drivers[1]!.exit(900);
      assert.equal(status.code, 0, logOf(drivers[1]!));
      assert.match(logOf(drivers[1]!), new RegExp(`${IMAGES} images scored in ${CHUNKS} chunks`));

      console.log(logOf(drivers[1]!).split("\n").filter((l) => !/^chunks /.test(l)).join("\n"));
      // Every image once, every score bit-identical: the same bytes as one process.
      const merged = await Deno.readTextFile(join(dir, "cluster.csv"));
      const lines = merged.trimEnd().split("\n");
      assert.equal(lines.length, IMAGES + 1);
      assert.equal(new Set(lines.slice(1).map((l) => l.split(",")[1])).size, IMAGES);
      assert.ok(merged === expected, "the cluster's rows differ from one-process score's");
      // The chunks finished before the driver was killed were not scored again.
      for (const [name, stamp] of stamps) {
        const info = Deno.statSync(join(job, "parts", name));
        assert.equal(`${info.ino}/${info.mtime?.getTime()}`, stamp, `${name} was written again`);
      }
      // A folder of PNG images (chunks read from their own files) on the two runners left.
      const pngs = join(dir, "pngs");
      await Deno.mkdir(pngs);
      const file = await Deno.readFile(images);
      // The fixture's .npy: a 128-byte header, then uint8 pixels.
      assert.equal(file.length, 128 + IMAGES * 784);
      const raw = file.subarray(128);
      for (let i = 0; i < FOLDER_IMAGES; i++) {
        await sharp(raw.subarray(i * 784, (i + 1) * 784), {
          raw: { width: 28, height: 28, channels: 1 },
        }).png().toFile(join(pngs, `digit-${String(i).padStart(4, "0")}.png`));
      }
      const folderReference = await groodSucceeds(["score", "--detector", detector, "pngs"], dir);
      drivers.push(startDriver({
        ...driverOptions(3),
        job: join(dir, "folder-job"),
        out: join(dir, "folder.csv"),
        sources: ["pngs"],
      }));
      assert.equal((await drivers[2]!.exit(600)).code, 0, logOf(drivers[2]!));
      assert.equal(
        await Deno.readTextFile(join(dir, "folder.csv")),
        folderReference,
      );

      // The surviving runners leave on SIGTERM: the program itself received it (runMain
      // interrupts the runner, which releases its shards, and exits with 130), not a wrapper
      // (killed by the signal, it would leave the runner running).
      for (const runner of runners.slice(1)) runner.kill("SIGTERM");
      for (const runner of runners.slice(1)) {
        const exit = await runner.exit(60);
        assert.equal(exit.signal, null, `${runner.log} was killed by ${exit.signal}`);
        assert.equal(exit.code, 130, `${runner.log}: runMain's exit after an interruption`);
      }
    } finally {
      for (const started of [...drivers, ...runners]) started.kill("SIGKILL");
      for (const started of [...drivers, ...runners]) await started.exit(10);
      await Effect.runPromise(Scope.close(scope, Exit.void));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
