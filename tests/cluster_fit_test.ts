/**
 * The distributed fit (`grood cluster fit`) on three runners on loopback, with a throwaway
 * PostgreSQL, against one-process `grood fit` of the same data and settings: the fitted folders
 * must hold the same files, byte for byte (so the same digest). The driver is killed with
 * SIGKILL after a few feature chunks and started again: it must resume without mapping the
 * finished chunks again; then a runner is killed with SIGKILL while chunks remain, then
 * PostgreSQL is restarted while chunks remain (the driver paused with SIGSTOP during each, so
 * that chunks surely remain: they are mapped in tens of milliseconds); then the same for GROOD
 * with the IVF index (no kills). Every process is `grood` on the real deno binary
 * (`loopback.ts`); both fits run with `SOURCE_DATE_EPOCH` set, so their `createdAt` agree.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect, Exit, Scope } from "effect";
import { Data, Io } from "../mod.ts";
import {
  freePorts,
  groodSucceeds,
  type Started,
  startGrood,
  waitFor,
  whilePaused,
} from "../apps/cluster/loopback.ts";
import { throwawayPostgres } from "../apps/cluster/throwaway_postgres.ts";
import { text } from "../apps/cluster/bench.ts";
import { folderFiles } from "../apps/cluster/bench_fit.ts";

const MODEL = fileURLToPath(new URL("../fixtures/models/mnist", import.meta.url));
const TRAIN = 2000;
/** 1,800 training images after the held-out 200: 36 chunks. */
const CHUNK = 50;
const CHUNKS = 36;

/** What a process has logged so far (nothing before its shell has created the file). */
const logOf = (started: Started): string => text(started.log);

/** The feature parts in a fit job folder. */
const featureParts = (job: string): ReadonlyArray<string> => {
  try {
    return [...Deno.readDirSync(join(job, "parts"))].filter((e) => /^f-\d+\.bin$/.test(e.name))
      .map((e) => e.name);
  } catch {
    return [];
  }
};

const fitArgs = (out: string, detector: ReadonlyArray<string> = []) => [
  "--model",
  MODEL,
  "--train",
  "train.npy",
  "--out",
  out,
  "--chunk",
  String(CHUNK),
  ...detector,
];

/** Whether two folders hold the same files, byte for byte; the first that differs if not. */
const folderDifference = (a: string, b: string): string | undefined => {
  const expected = folderFiles(a);
  const actual = folderFiles(b);
  const names = [...expected.keys()].sort();
  if (names.join() !== [...actual.keys()].sort().join()) return "the file lists";
  return names.find((name) => {
    const [x, y] = [expected.get(name)!, actual.get(name)!];
    return x.length !== y.length || x.some((v, i) => v !== y[i]);
  });
};

Deno.test({
  name:
    "a distributed fit on 3 runners, its driver killed and restarted, a runner killed, PostgreSQL restarted, equals grood fit; with the IVF index too",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "grood-cluster-fit-" });
    const scope = await Effect.runPromise(Scope.make());
    const started: Array<Started> = [];
    // Both fits write the same createdAt (the reproducible-builds convention).
    Deno.env.set("SOURCE_DATE_EPOCH", "1796601600");
    try {
      const train = await Effect.runPromise(Data.loadSplit("mnist", "train"));
      const per = 28 * 28;
      await Effect.runPromise(
        Io.writeNpyAtomic(join(dir, "train.npy"), train.pixels.slice(0, TRAIN * per), [
          TRAIN,
          28,
          28,
        ]),
      );
      await Effect.runPromise(
        Io.writeNpyAtomic(join(dir, "train.labels.npy"), train.labels.slice(0, TRAIN), [TRAIN]),
      );
      // The reference: one process, `grood fit`.
      await groodSucceeds(["fit", ...fitArgs("reference")], dir);

      const pg = await Effect.runPromise(Scope.provide(throwawayPostgres(), scope));
      const runners = freePorts(3).map((port, k) =>
        startGrood(["cluster", "runner", "--pg", pg.url, "--port", String(port)], {
          cwd: dir,
          log: join(dir, `runner-${k}.log`),
        })
      );
      started.push(...runners);
      for (const runner of runners) {
        await waitFor(`${runner.log} listening`, 180, () => /Listening on/.test(logOf(runner)));
      }
      assert.match(logOf(runners[0]!), /fit chunks only/);
      const job = join(dir, "job");
      const driver = (n: number, inFlight: number) =>
        startGrood([
          "cluster",
          "fit",
          ...fitArgs("cluster"),
          "--job",
          job,
          "--pg",
          pg.url,
          "--in-flight",
          String(inFlight),
          "--progress",
          "1",
        ], { cwd: dir, log: join(dir, `driver-${n}.log`) });

      // The driver killed after a few feature chunks, then started again. A chunk takes tens of
      // milliseconds here, so the counts are polled every 20 ms, and from the second driver on
      // each disruption happens with the driver paused (SIGSTOP: with one chunk in flight, at
      // most that chunk's part is written meanwhile), so chunks are surely left after it.
      const poll = 20;
      const first = driver(1, 2);
      started.push(first);
      await waitFor("4 feature chunks mapped", 300, () => featureParts(job).length >= 4, poll);
      first.kill("SIGKILL");
      await first.exit(30);
      assert.ok(featureParts(job).length < CHUNKS / 2, "the features were done before the kill");
      // Long enough for the replies of these chunks to be stored: from here on, none is owed.
      await new Promise((done) => setTimeout(done, 3000));
      const stamps = new Map(
        featureParts(job).map((name) => {
          const info = Deno.statSync(join(job, "parts", name));
          return [name, `${info.ino}/${info.mtime?.getTime()}`];
        }),
      );
      // One chunk in flight: the job is paced so that the runner below dies with chunks left.
      const second = driver(2, 1);
      started.push(second);
      /** Pause the second driver once it has mapped 2 more chunks; resume it after `disrupt`. */
      const pausedAfterTwoMore = async (what: string, disrupt: () => Promise<unknown>) => {
        const before = featureParts(job).length;
        await waitFor(
          `2 more feature chunks (${what})`,
          300,
          () => featureParts(job).length >= before + 2,
          poll,
        );
        await whilePaused(second, () => featureParts(job).length, async (count) => {
          assert.ok(count < CHUNKS, `the features were done before ${what}`);
          await disrupt();
        });
      };
      // A runner killed mid-job: its shards move, its unanswered chunk is delivered again.
      await pausedAfterTwoMore("the runner died", async () => {
        runners[0]!.kill("SIGKILL");
        await runners[0]!.exit(30);
      });
      // PostgreSQL restarted mid-job (fast shutdown: every session is cut): the runners and the
      // driver reconnect, and the chunks asked for meanwhile are asked again (deduplicated).
      await pausedAfterTwoMore("the restart", () => Effect.runPromise(pg.restart));
      const status = await second.exit(600);
      assert.equal(status.code, 0, logOf(second));
      const resumed = new RegExp(`features: (\\d+) of ${CHUNKS} chunks already done`)
        .exec(logOf(second));
      assert.ok(resumed !== null, logOf(second));
      assert.ok(Number(resumed[1]) >= stamps.size, `resumed ${resumed[1]} of ${stamps.size}`);
      for (const [name, stamp] of stamps) {
        const info = Deno.statSync(join(job, "parts", name));
        assert.equal(`${info.ino}/${info.mtime?.getTime()}`, stamp, `${name} was written again`);
      }
      // The chunks were spread over the runners (which runner gets a chunk is the shards').
      const mappers = runners.filter((r) => /fit (features|descriptors) chunk/.test(logOf(r)));
      assert.ok(mappers.length >= 2, `${mappers.length} runner(s) mapped chunks`);

      // The same folder: the same files, byte for byte (the digest covers them all).
      const expected = folderFiles(join(dir, "reference"));
      const actual = folderFiles(join(dir, "cluster"));
      assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
      for (const [name, bytes] of expected) {
        assert.ok(
          bytes.length === actual.get(name)!.length &&
            bytes.every((b, i) => b === actual.get(name)![i]),
          `${name} differs`,
        );
      }
      const manifest = JSON.parse(new TextDecoder().decode(expected.get("detector.json")!));
      assert.equal(manifest.detector.settings.fitChunk, CHUNK);
      assert.equal(manifest.data.train.count, TRAIN - 200);

      // GROOD with the IVF index: the same folder too (its centroids file included).
      const ivf = ["--detector", '{"kind":"grood","index":{"kind":"ivf","lists":12}}'];
      await groodSucceeds(["fit", ...fitArgs("reference-ivf", ivf)], dir);
      const ivfDriver = startGrood(
        ["cluster", "fit", ...fitArgs("cluster-ivf", ivf), "--job", join(dir, "job-ivf")]
          .concat(["--pg", pg.url]),
        { cwd: dir, log: join(dir, "driver-ivf.log") },
      );
      started.push(ivfDriver);
      assert.equal((await ivfDriver.exit(600)).code, 0, logOf(ivfDriver));
      assert.ok(Deno.statSync(join(dir, "cluster-ivf/state/ivf-centroids.npy")).isFile);
      const ivfDiffers = folderDifference(join(dir, "reference-ivf"), join(dir, "cluster-ivf"));
      assert.equal(ivfDiffers, undefined, `${ivfDiffers} differs`);

      for (const runner of runners.slice(1)) runner.kill("SIGTERM");
      for (const runner of runners.slice(1)) {
        const exit = await runner.exit(60);
        assert.equal(exit.signal, null, `${runner.log} was killed by ${exit.signal}`);
      }
    } finally {
      Deno.env.delete("SOURCE_DATE_EPOCH");
      for (const process of started) process.kill("SIGKILL");
      for (const process of started) await process.exit(10);
      await Effect.runPromise(Scope.close(scope, Exit.void));
      await Deno.remove(dir, { recursive: true });
    }
  },
});
