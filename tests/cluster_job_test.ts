/**
 * The cluster job folder and command lines without a cluster: chunking, resuming only the same
 * job, refusing folders and parts that are not this job's, the flags' checks, and the ranged
 * read of a folder source.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect, Stream } from "effect";
import sharp from "sharp";
import { Sources } from "../mod.ts";
import { chunkBatches } from "../apps/cluster/score_chunk.ts";
import { parseDriverArgs, parseRunnerArgs, UsageError } from "../apps/cluster/cli.ts";
import { DEFAULT_FAILOVER } from "../apps/cluster/failover.ts";
import {
  chunksOf,
  createOrResumeJob,
  type JobPlan,
  readPart,
  readPlan,
  sealPlan,
  writePart,
} from "../apps/cluster/job.ts";
import { formatRows, mergeParts } from "../apps/cluster/merge.ts";

const planOf = (count: number, chunkSize = 512): JobPlan =>
  sealPlan({
    format: "grood-cluster-score-job",
    version: 1,
    detector: { folder: "/d", version: "v1" },
    chunkSize,
    sources: [{
      argument: "x.npy",
      spec: { kind: "npy", images: "x.npy" } as JobPlan["sources"][number]["spec"],
      baseDir: "/data",
      count,
    }],
  });

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect);
const failure = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(Effect.flip(effect));

Deno.test("chunksOf covers every image once, the last chunk short", () => {
  const chunks = chunksOf(planOf(1100));
  assert.deepEqual(chunks.map((c) => [c.start, c.end]), [[0, 512], [512, 1024], [1024, 1100]]);
});

Deno.test("a job folder resumes only the same job and refuses anything else", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-cluster-job-" });
  try {
    const plan = planOf(1100);
    const created = await run(createOrResumeJob(join(dir, "job"), plan));
    assert.equal(created.state, "created");
    // The same job planned again (a new nonce) resumes the plan on disk, with its id.
    const again = await run(createOrResumeJob(join(dir, "job"), planOf(1100)));
    assert.equal(again.state, "resumed");
    assert.equal(again.plan.id, plan.id);
    assert.equal((await run(readPlan(join(dir, "job")))).id, plan.id);
    const other = await failure(createOrResumeJob(join(dir, "job"), planOf(2000)));
    assert.match(other.message, /holds another job/);
    await Deno.mkdir(join(dir, "mine"));
    await Deno.writeTextFile(join(dir, "mine", "notes.txt"), "a user's file");
    const notJob = await failure(createOrResumeJob(join(dir, "mine"), plan));
    assert.match(notJob.message, /not empty and is not a grood job folder/);
    assert.equal(await Deno.readTextFile(join(dir, "mine", "notes.txt")), "a user's file");
    // A plan edited by hand no longer matches its id.
    const path = join(dir, "job", "job.json");
    const edited = JSON.parse(await Deno.readTextFile(path));
    edited.chunkSize = 1024;
    await Deno.writeTextFile(path, JSON.stringify(edited));
    assert.match((await failure(readPlan(join(dir, "job")))).message, /id does not match/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parts are checked against the plan, and merge into score's rows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-cluster-job-" });
  try {
    const plan = planOf(3, 512);
    await run(createOrResumeJob(dir, plan));
    const rows = [
      { image: "0", verdict: "in" as const, score: 0.25, predicted: 1 },
      { image: "1", verdict: "ood" as const, score: 1e300, predicted: 0 },
      { image: "2", verdict: "invalid" as const, score: null, predicted: null, problem: "NaN" },
    ];
    const part = { job: plan.id, detector: "v1", source: 0, start: 0, end: 3, runner: "r", rows };
    await run(writePart(dir, { ...part, detector: "v2" }));
    const wrongDetector = await failure(readPart(dir, plan, { source: 0, start: 0, end: 3 }));
    assert.match(wrongDetector.message, /another detector version/);
    // Scored again (a redelivered chunk): the part is replaced, not added to.
    await run(writePart(dir, part));
    const merged = await run(mergeParts(dir, plan, ["zero", "one"]));
    const csv = formatRows(merged, { detector: "/d", threshold: 0.5 });
    assert.equal(
      csv,
      "source,image,verdict,score,ood,predicted,problem\n" +
        "x.npy,0,in,0.25,false,one,\nx.npy,1,ood,1e+300,true,zero,\nx.npy,2,invalid,,,,NaN\n",
    );
    const json = JSON.parse(formatRows(merged, { out: "x.json", detector: "/d", threshold: 0.5 }));
    assert.equal(json.rows[1].score, 1e300);
    assert.equal(json.rows[2].problem, "NaN");
    await run(writePart(dir, { ...part, rows: rows.slice(0, 2) }));
    assert.match(
      (await failure(mergeParts(dir, plan, ["zero", "one"]))).message,
      /does not cover images \[0, 3\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the command lines name what is missing or wrong", () => {
  const env = (name: string) => name === "GROOD_CLUSTER_PG" ? "postgres://x/y" : undefined;
  const none = () => undefined;
  const runner = parseRunnerArgs(["--detector", "d"], env, "/w");
  assert.ok(runner !== "help");
  assert.equal(runner.detector, "/w/d");
  assert.equal(runner.runner.pg, "postgres://x/y");
  assert.deepEqual(runner.runner.failover, DEFAULT_FAILOVER);
  assert.throws(() => parseRunnerArgs(["--detector", "d"], none, "/w"), /GROOD_CLUSTER_PG/);
  assert.throws(
    () => parseRunnerArgs(["--detector", "d", "--lock-expiration", "1"], env, "/w"),
    /--lock-expiration must be longer than --lock-refresh/,
  );
  assert.throws(() => parseRunnerArgs(["--detector", "d", "--port", "x"], env, "/w"), UsageError);
  const driver = parseDriverArgs(["--detector", "d", "--job", "j", "a.npy"], env, "/w");
  assert.ok(driver !== "help");
  assert.equal(driver.chunkSize, 512);
  assert.equal(driver.jobDir, "/w/j");
  assert.throws(() => parseDriverArgs(["--detector", "d", "a.npy"], env, "/w"), /--job DIR/);
  assert.throws(
    () => parseDriverArgs(["--detector", "d", "--job", "j", "--chunk", "100", "a.npy"], env, "/w"),
    /--chunk must be a multiple of 512/,
  );
  assert.throws(() => parseDriverArgs(["--job", "j", "--detector", "d"], env, "/w"), /SRC/);
  assert.throws(
    () => parseDriverArgs(["--detector", "d", "--job", "j", "--bogus", "a"], env, "/w"),
    /bogus/,
  );
});

Deno.test("a chunk of a folder source reads its own files, into the pixels the stream gives", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-cluster-folder-" });
  try {
    const count = 600;
    for (let i = 0; i < count; i++) {
      const pixels = Uint8Array.from({ length: 28 * 28 }, (_, p) => (i * 7 + p * 13) % 256);
      await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } }).png()
        .toFile(join(dir, `img-${String(i).padStart(4, "0")}.png`));
    }
    const spec = { kind: "folder", path: "." } as Sources.SourceSpec;
    const opened = await run(Sources.openSource(spec, { baseDir: dir, shape: Sources.GREY_28 }));
    const streamed: Array<Sources.SourceBatch> = [];
    await run(Stream.runForEach(opened.batches(512), (b) => Effect.sync(() => streamed.push(b))));
    for (const [k, range] of [{ start: 0, end: 512 }, { start: 512, end: count }].entries()) {
      const read: Array<Sources.SourceBatch> = [];
      await run(
        Stream.runForEach(
          chunkBatches(opened, spec, dir, range),
          (b) => Effect.sync(() => read.push(b)),
        ),
      );
      assert.equal(read.length, 1);
      assert.equal(read[0]!.start, range.start);
      assert.equal(read[0]!.size, range.end - range.start);
      assert.deepEqual(read[0]!.pixels, streamed[k]!.pixels);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
