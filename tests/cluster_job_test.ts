/**
 * The cluster job folder and command lines without a cluster: chunking, resuming only the same
 * job, refusing folders and parts that are not this job's, the command lines (`grood cluster
 * runner`, `grood cluster score`: decoded by `effect/cli`, refused by name). Ranged reads of
 * every source kind are tested in `sources_range_test.ts`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Cause, Effect, Exit, Layer } from "effect";
import { Io } from "../mod.ts";
import { runGrood } from "../apps/cli/app.ts";
import { TASKS } from "../apps/cli/commands/mod.ts";
import type { TaskInput } from "../apps/cli/task.ts";
import { askUntilPart } from "../apps/cluster/ask.ts";
import { DEFAULT_FAILOVER } from "../apps/cluster/failover.ts";
import { ChunkFailed } from "../apps/cluster/protocol.ts";
import { freePorts, groodOutput } from "../apps/cluster/loopback.ts";
import {
  clusterStorage,
  ClusterStorageUnreachable,
  withoutPassword,
} from "../apps/cluster/runner.ts";
import {
  DRIVER_DEFAULTS,
  type DriverFlags,
  driverOptions,
  RUNNER_DEFAULTS,
  type RunnerFlags,
  runnerOptions,
} from "../apps/cluster/options.ts";
import {
  chunksOf,
  createOrResumeJob,
  JOB_FORMAT_VERSION,
  type JobPlan,
  readPart,
  readPlan,
  sealPlan,
  sourceContent,
  writePart,
} from "../apps/cluster/job.ts";
import { mergeParts } from "../apps/cluster/merge.ts";
import { formatScoreRows } from "../apps/cli/score_rows.ts";
import { fitMspFolder } from "./msp_folder.ts";
import { writeDigitSet } from "./digit_sets.ts";
import { loadWithPipeAt } from "./named_pipe.ts";
import {
  encodeDescriptorPart,
  encodeFeaturePart,
  encodePart,
  fitPartPath,
  readDescriptorPart,
  readFeaturePart,
  writePartFile,
} from "../apps/cluster/fit_job.ts";

const planOf = (count: number, chunkSize = 512): JobPlan =>
  sealPlan<JobPlan>({
    format: "grood-cluster-score-job",
    version: JOB_FORMAT_VERSION,
    detector: { folder: "/d", version: "v1" },
    chunkSize,
    sources: [{
      argument: "x.npy",
      spec: { kind: "npy", images: "x.npy" } as JobPlan["sources"][number]["spec"],
      baseDir: "/data",
      count,
      content: "",
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
    assert.match(notJob.message, /holds files grood did not write/);
    assert.equal(await Deno.readTextFile(join(dir, "mine", "notes.txt")), "a user's file");
    // The output-folder rule: the job folder is grood's (marked), never an input, never a link.
    assert.ok((await Deno.stat(join(dir, "job", Io.OUTPUT_MARKER))).isFile);
    const inInput = await failure(
      createOrResumeJob(join(dir, "mine", "job"), plan, [join(dir, "mine")]),
    );
    assert.match(inInput.message, /lies inside an input/);
    await Deno.symlink(join(dir, "job"), join(dir, "link"));
    const linked = await failure(createOrResumeJob(join(dir, "link"), plan));
    assert.match(linked.message, /symbolic link/);
    // A folder with a marker that is not grood's is not a job folder; nor is a folder grood
    // made as a job that holds something else.
    await Deno.mkdir(join(dir, "marked"));
    await Deno.writeTextFile(join(dir, "marked", Io.OUTPUT_MARKER), "{}");
    await Deno.writeTextFile(join(dir, "marked", "results.csv"), "x");
    const marked = await failure(createOrResumeJob(join(dir, "marked"), plan));
    assert.match(marked.message, /marker is not one grood wrote/);
    await Deno.copyFile(join(dir, "job", Io.OUTPUT_MARKER), join(dir, "marked", Io.OUTPUT_MARKER));
    const notAJob = await failure(createOrResumeJob(join(dir, "marked"), plan));
    assert.match(notAJob.message, /not empty and is not a grood job folder/);
    // A plan edited by hand no longer matches its id.
    const path = join(dir, "job", "job.json");
    const edited = JSON.parse(await Deno.readTextFile(path));
    edited.chunkSize = 1024;
    await Deno.writeTextFile(path, JSON.stringify(edited));
    assert.match((await failure(readPlan(join(dir, "job")))).message, /id does not match/);
    // A plan of the format before sources held their content (a job of an older grood) is
    // refused as such, sealed as it was: it cannot tell whether its images changed.
    const { content: _, ...oldSource } = plan.sources[0]!;
    const { id: __, nonce: ___, ...oldPlan } = { ...plan, version: 1, sources: [oldSource] };
    await Deno.writeTextFile(path, JSON.stringify(sealPlan<JobPlan>(oldPlan as never)));
    assert.match(
      (await failure(readPlan(join(dir, "job")))).message,
      /planned by an older grood \(job format 1; this one reads 2\): start the job in a new folder/,
    );
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
    const csv = formatScoreRows(merged, { detector: "/d", threshold: 0.5 });
    assert.equal(
      csv,
      "source,image,verdict,score,ood,predicted,problem\n" +
        "x.npy,0,in,0.25,false,one,\nx.npy,1,ood,1e+300,true,zero,\nx.npy,2,invalid,,,,NaN\n",
    );
    const json = JSON.parse(
      formatScoreRows(merged, { out: "x.json", detector: "/d", threshold: 0.5 }),
    );
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

Deno.test("a part's rows are refused when they do not hold together (no score, no class, an unknown class)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-cluster-job-" });
  try {
    const plan = planOf(1, 512);
    await run(createOrResumeJob(dir, plan));
    const part = { job: plan.id, detector: "v1", source: 0, start: 0, end: 1, runner: "r" };
    const chunk = { source: 0, start: 0, end: 1 };
    for (
      const row of [
        { image: "0", verdict: "in", score: null, predicted: 1 },
        { image: "0", verdict: "ood", score: 2, predicted: null },
        { image: "0", verdict: "in", score: 0.1, predicted: -1 },
        { image: "0", verdict: "in", score: 0.1, predicted: 1, problem: "x" },
        { image: "0", verdict: "invalid", score: 0.1, predicted: null, problem: "NaN" },
        { image: "0", verdict: "invalid", score: null, predicted: null },
      ]
    ) {
      await Deno.writeTextFile(
        join(dir, "parts", "s0-0.json"),
        JSON.stringify({ ...part, rows: [row] }),
      );
      const refused = await failure(readPart(dir, plan, chunk));
      assert.equal(refused._tag, "JobFolderInvalid", JSON.stringify(row));
    }
    // A class the detector does not have is refused by the merge, not written as its number.
    await run(writePart(dir, {
      ...part,
      rows: [{ image: "0", verdict: "in", score: 0.1, predicted: 2 }],
    }));
    const unknown = await failure(mergeParts(dir, plan, ["zero", "one"]));
    assert.match(unknown.message, /class 2.*2 classes/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Decode `argv` as `grood …` in process with `env` as the environment: the exit code, the input
 * handed to the task, and what was printed on stderr (the help and the problem).
 */
async function decode(argv: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) {
  let input: TaskInput<unknown> | undefined;
  const printed: Array<string> = [];
  const { log, error } = console;
  console.log = () => {};
  console.error = (...args: Array<unknown>) => void printed.push(args.join(" "));
  try {
    const code = await runGrood(argv, {
      tasks: TASKS,
      version: "test",
      runner: { run: (_, given) => Effect.sync(() => void (input = given)) },
      env,
    });
    return { code, input, stderr: printed.join("\n") };
  } finally {
    Object.assign(console, { log, error });
  }
}

const PG = { GROOD_CLUSTER_PG: "postgres://x/y" };

Deno.test("grood cluster runner: flags decode into the runner's options, defaults shown", async () => {
  const { code, input } = await decode(["cluster", "runner", "--detector", "d"], PG);
  assert.equal(code, 0);
  const { detector, runner } = runnerOptions(input!.values as RunnerFlags, "/w");
  assert.equal(detector, "/w/d");
  assert.deepEqual(runner, {
    pg: "postgres://x/y",
    host: RUNNER_DEFAULTS.host,
    port: RUNNER_DEFAULTS.port,
    concurrency: RUNNER_DEFAULTS.concurrency,
    failover: DEFAULT_FAILOVER,
  });
  const given = await decode([
    "cluster",
    "runner",
    "--detector",
    "/abs/d",
    "--pg",
    "postgres://flag/wins",
    "--listen",
    "0.0.0.0",
    "--port",
    "4000",
    "--lock-refresh",
    "2.5",
    "--message-poll",
    "0.5",
  ], PG);
  assert.equal(given.code, 0, given.stderr);
  const options = runnerOptions(given.input!.values as RunnerFlags, "/w");
  assert.equal(options.detector, "/abs/d");
  assert.equal(options.runner.pg, "postgres://flag/wins");
  assert.equal(options.runner.listenHost, "0.0.0.0");
  assert.equal(options.runner.port, 4000);
  assert.deepEqual(options.runner.failover, {
    ...DEFAULT_FAILOVER,
    lockRefresh: 2.5,
    messagePoll: 0.5,
  });
});

Deno.test("grood cluster runner without --detector maps fit chunks only", async () => {
  const { code, input } = await decode(["cluster", "runner"], PG);
  assert.equal(code, 0);
  assert.equal(runnerOptions(input!.values as RunnerFlags, "/w").detector, undefined);
});

Deno.test("grood cluster score: flags and sources decode into the driver's options", async () => {
  const { code, input } = await decode(
    ["cluster", "score", "--detector", "d", "--job", "j", "--out", "o.csv", "a.npy", "b/"],
    PG,
  );
  assert.equal(code, 0);
  const driver = driverOptions(input!.values as DriverFlags, input!.positionals, "/w");
  assert.deepEqual(driver, {
    detector: "/w/d",
    sources: ["a.npy", "b/"],
    cwd: "/w",
    jobDir: "/w/j",
    out: "/w/o.csv",
    overwrite: false,
    pg: "postgres://x/y",
    chunkSize: DRIVER_DEFAULTS.chunk,
    inFlight: DRIVER_DEFAULTS["in-flight"],
    progressEvery: DRIVER_DEFAULTS.progress,
    chunkTimeout: DRIVER_DEFAULTS["chunk-timeout"],
    failover: DEFAULT_FAILOVER,
  });
  const chunked = await decode(
    ["cluster", "score", "--detector", "d", "--job", "j", "--chunk", "1024", "a.npy"],
    PG,
  );
  assert.equal(chunked.code, 0, chunked.stderr);
  assert.equal(
    driverOptions(chunked.input!.values as DriverFlags, ["a.npy"], "/w").chunkSize,
    1024,
  );
});

// Every bad command line exits 2 before the task runs, naming the problem.
for (
  const [argv, env, problem] of [
    [["cluster", "runner", "--detector", "d"], {}, /give --pg URL or set \$GROOD_CLUSTER_PG/],
    [
      ["cluster", "runner", "--detector", "d"],
      { GROOD_CLUSTER_PG: "" },
      /give --pg URL or set \$GROOD_CLUSTER_PG/,
    ],
    [
      ["cluster", "runner", "--detector", "d", "--pg", ""],
      {},
      /flag --pg\. Expected: a non-empty value/,
    ],
    [
      ["cluster", "fit", "--model", "m", "--train", "t", "--out", "o", "--pg", "p"],
      {},
      /Missing required flag: --job/,
    ],
    [
      [
        "cluster",
        "fit",
        "--model",
        "m",
        "--train",
        "t",
        "--out",
        "o",
        "--job",
        "j",
        "--pg",
        "p",
        "--chunk",
        "0",
      ],
      {},
      /--chunk/,
    ],
    [
      ["cluster", "runner", "--detector", "d", "--lock-expiration", "1"],
      PG,
      /--lock-expiration must be longer than --lock-refresh/,
    ],
    [["cluster", "runner", "--detector", "d", "--port", "x"], PG, /flag --port: "x"/],
    [["cluster", "runner", "--detector", "d", "--port", "0"], PG, /flag --port: "0"/],
    [["cluster", "runner", "--detector", "d", "--concurrency", "1.5"], PG, /--concurrency/],
    [["cluster", "runner", "--detector", "d", "--health-check", "0"], PG, /--health-check: "0"/],
    [["cluster", "runner", "--detector", "d", "--message-poll", "0x1"], PG, /--message-poll/],
    [["cluster", "runner", "--detector", "d", "extra"], PG, /extra/],
    [["cluster", "score", "--detector", "d", "a.npy"], PG, /Missing required flag: --job/],
    [
      ["cluster", "score", "--detector", "d", "--job", "j", "--chunk", "1000", "a.npy"],
      PG,
      /--chunk must be a multiple of 512/,
    ],
    [
      ["cluster", "score", "--detector", "d", "--job", "j", "--chunk", "256", "a.npy"],
      PG,
      /--chunk: "256"/,
    ],
    [["cluster", "score", "--job", "j", "--detector", "d"], PG, /Missing required argument: SRC/],
    [
      ["cluster", "score", "--detector", "d", "--job", "j", "--bogus", "a"],
      PG,
      /Unrecognized flag: --bogus in command grood cluster score/,
    ],
    [
      ["cluster", "score", "--detector", "d", "--job", "j", "--in-flight", "0", "a.npy"],
      PG,
      /--in-flight: "0"/,
    ],
    [
      ["cluster", "score", "--detector", "d", "--job", "j", "--progress", "-1", "a.npy"],
      PG,
      /--progress/,
    ],
    [["bench", "cluster", "--images", "100"], {}, /--images: "100"\. Expected: a number from 2560/],
    [["cluster", "runer"], {}, /Did you mean this\?\s+runner/],
  ] as const
) {
  Deno.test(`grood ${argv.join(" ")} is refused: exit 2, ${problem.source}`, async () => {
    const { code, input, stderr } = await decode(argv, env);
    assert.equal(code, 2, stderr);
    assert.equal(input, undefined, "the task ran");
    assert.match(stderr, problem);
  });
}

Deno.test("fit part files: written and read back exactly; a part of another chunk, job or prototypes, cut short or edited is refused by name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-fit-parts-" });
  try {
    await Deno.mkdir(join(dir, "parts"));
    const chunk = {
      start: 200,
      size: 3,
      earlySums: Float64Array.from([0.1, 0.2, 0.30000000000000004, 1e-300]),
      penultimateSums: Float64Array.from([1, 2]),
      counts: Float64Array.from([2, 1]),
      kept: Float32Array.from([0.5, 0.25, -1, 3]),
      keptImages: Int32Array.from([200, 202]),
      mixRanks: Uint32Array.from([7]),
      mixPixels: Uint8Array.from([1, 2, 3]),
      mixTargets: Uint8Array.from([1]),
    };
    const path = fitPartPath(dir, "features", 200);
    await run(writePartFile(path, encodeFeaturePart("job-a", chunk)));
    assert.deepEqual(await run(readFeaturePart(dir, "job-a", { start: 200, end: 203 })), chunk);
    assert.match(
      (await failure(readFeaturePart(dir, "job-b", { start: 200, end: 203 }))).message,
      /not the feature part of images \[200, 203\) of job job-b/,
    );
    assert.match(
      (await failure(readFeaturePart(dir, "job-a", { start: 200, end: 204 }))).message,
      /not the feature part/,
    );
    const bytes = await Deno.readFile(path);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 8));
    assert.match(
      (await failure(readFeaturePart(dir, "job-a", { start: 200, end: 203 }))).message,
      /runs past the end of the file/,
    );
    // A header with a key it does not declare is refused by name (strict decoding).
    const header = {
      job: "job-a",
      kind: "descriptors",
      start: 200,
      size: 3,
      prototypes: "",
      temperature: 1,
      extra: 1,
    } as const;
    await run(writePartFile(path, encodePart(header, [])));
    assert.match(
      (await failure(readFeaturePart(dir, "job-a", { start: 200, end: 203 }))).message,
      /extra/,
    );
    await Deno.writeTextFile(path, "not a part");
    assert.match(
      (await failure(readFeaturePart(dir, "job-a", { start: 200, end: 203 }))).message,
      /not a grood part file/,
    );
    // Descriptors are read only with the prototypes they were made with.
    const descriptors = Float32Array.from([1, 2, 3, 4]);
    await run(writePartFile(
      fitPartPath(dir, "descriptors", 200),
      encodeDescriptorPart("job-a", chunk, "digest-1", descriptors),
    ));
    const range = { start: 200, end: 203 };
    assert.deepEqual(await run(readDescriptorPart(dir, "job-a", range, "digest-1")), descriptors);
    assert.match(
      (await failure(readDescriptorPart(dir, "job-a", range, "digest-2"))).message,
      /with prototypes digest-2/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a cluster PostgreSQL that cannot be reached is a typed error naming its URL", async () => {
  const [port] = freePorts(1);
  const url = `postgres://grood:secret@127.0.0.1:${port}/grood`;
  const exit = await Effect.runPromiseExit(Effect.scoped(Layer.build(clusterStorage(url))));
  assert.ok(Exit.isFailure(exit), "nothing listens there");
  const error = exit.cause.reasons.find(Cause.isFailReason)?.error;
  assert.ok(error instanceof ClusterStorageUnreachable, `a typed failure, not ${exit.cause}`);
  assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
  assert.match(error.message, /ECONNREFUSED/);
  assert.doesNotMatch(error.message, /secret/, "the password is not shown");
});

Deno.test("a PostgreSQL URL is named with its passwords masked, in the user part or the query", () => {
  assert.equal(
    withoutPassword("postgres://grood:secret@db:5432/grood"),
    "postgres://grood:***@db:5432/grood",
  );
  const query = withoutPassword("postgresql://db/grood?user=u&password=secret&sslpassword=key");
  assert.doesNotMatch(query, /secret|key/);
  assert.match(query, /user=u/);
  assert.equal(withoutPassword("postgres://grood@db/grood"), "postgres://grood@db/grood");
});

Deno.test("grood cluster score and runner report a failure on stderr in one line, without a stack", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-cluster-fail-" });
  try {
    const pg = ["--pg", "postgres://grood@127.0.0.1:1/grood"];
    for (
      const args of [
        ["cluster", "score", "--detector", "absent", "--job", "job", ...pg, "images/"],
        ["cluster", "runner", "--detector", "absent", ...pg],
      ]
    ) {
      const { code, stdout, stderr: text } = await groodOutput(args, dir);
      // Standard output is the CSV of `cluster score` without --out: never the error.
      assert.equal(stdout, "");
      assert.equal(code, 1, text);
      assert.match(text, /error: .*absent/, text);
      assert.doesNotMatch(text, /^\s+at /m, `no stack trace:\n${text}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a chunk's failure stored by an earlier driver run is asked again; this run's stops", async () => {
  const asked: Array<number> = [];
  const ask = (failures: Record<number, string>) => (attempt: number) =>
    Effect.suspend(() => {
      asked.push(attempt);
      const run = failures[attempt];
      return run === undefined
        ? Effect.succeed("done")
        : Effect.fail(new ChunkFailed({ chunk: "0:0", problem: "no detector", run }));
    });
  const options = {
    chunk: "0:0",
    part: "/nowhere",
    hasPart: Effect.succeed(true),
    timeout: 60,
    run: "now",
    log: () => {},
  };
  // Two earlier runs failed (the runner had no detector): their stored replies are skipped.
  assert.equal(await run(askUntilPart({ ...options, ask: ask({ 0: "old", 1: "older" }) })), "done");
  assert.deepEqual(asked, [0, 1, 2]);
  // A failure of this run's own message stops the job, by name.
  asked.length = 0;
  const stopped = await failure(askUntilPart({ ...options, ask: ask({ 0: "old", 1: "now" }) }));
  assert.ok(stopped instanceof ChunkFailed);
  assert.match(stopped.message, /no detector/);
  assert.deepEqual(asked, [0, 1]);
});

Deno.test("a job folder whose parts/ is a link (out of the folder) is refused, not written through", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-cluster-job-" });
  try {
    const job = join(dir, "job");
    await run(createOrResumeJob(job, planOf(1100)));
    await Deno.mkdir(join(dir, "mine"));
    await Deno.writeTextFile(join(dir, "mine", "s0-0.json"), "a user's file");
    await Deno.remove(join(job, "parts"), { recursive: true });
    await Deno.symlink(join(dir, "mine"), join(job, "parts"));
    const refused = await failure(createOrResumeJob(job, planOf(1100)));
    assert.equal(refused._tag, "JobFolderInvalid");
    assert.match(refused.message, /parts.*not a folder of this job/);
    assert.equal(await Deno.readTextFile(join(dir, "mine", "s0-0.json")), "a user's file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a job whose images changed since it was planned (same count) is another job, not resumed", async () => {
  // Before, the plan held each source's spec and count only: rerun on other images of the same
  // count, it resumed and merged the old parts as their rows. PostgreSQL is never reached here:
  // the job folder is made (or refused) before the cluster is.
  const dir = await Deno.makeTempDir({ prefix: "grood-cluster-content-" });
  try {
    const detector = await fitMspFolder(dir);
    await writeDigitSet(dir, "images", 0, 600);
    const pg = `postgres://grood@127.0.0.1:${freePorts(1)[0]}/grood`;
    const score = () =>
      groodOutput(
        ["cluster", "score", "--detector", detector, "--job", "job", "--pg", pg, "images.npy"],
        dir,
      ).then((o) => o.stderr);
    const planned = await score();
    assert.match(planned, /job \w+ created/, planned);
    assert.match(planned, /ClusterStorageUnreachable|cannot reach|127\.0\.0\.1/i, planned);
    // The same images: the same job, resumed.
    assert.match(await score(), /job \w+ resumed/);
    // 600 other digits in the same file: another job, refused by name.
    await writeDigitSet(dir, "images", 600, 600);
    const changed = await score();
    assert.match(changed, /holds another job/, changed);
    assert.doesNotMatch(changed, /resumed/, changed);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a source's content hash refuses a named pipe in place of its file, naming it, not waiting", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-cluster-pipe-" });
  try {
    await writeDigitSet(dir, "images", 0, 10);
    const content = () =>
      Effect.runPromise(Effect.exit(
        sourceContent({ spec: { kind: "npy", images: "images.npy" }, baseDir: dir }),
      ));
    const before = await content();
    assert.ok(Exit.isSuccess(before), String(before));
    const piped = await loadWithPipeAt(join(dir, "images.npy"), content);
    assert.equal(piped.opened, false);
    assert.match(String(piped.result), /images\.npy.*a named pipe, not a regular file/s);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
