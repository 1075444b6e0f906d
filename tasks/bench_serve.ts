/**
 * `deno task bench:serve`: the scoring service under load. Serves a detector in this process,
 * drives it with npm `autocannon` from a separate process (28×28 PNG bodies, one image a
 * request) at 1, 16 and 64 connections, then 100,000 requests at 64 to watch resident memory,
 * then overload (32 images a request, as a JSON list, at 256 connections, with the service's
 * default admission bounds); compares with the offline throughput of the same detector (what
 * `grood score` runs over a folder of the same PNGs) and writes `bench/serve.json` with every target of
 * issue 25 (`bench_serve_targets.ts`, the replica ones from `bench/serve_replicas.json`) and
 * whether each is met.
 *
 * The machine's load average is recorded with the numbers: the service shares its cores.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Data, Effect } from "effect";
import sharp from "sharp";
import { benchServeTask } from "../apps/cli/commands/bench_serve.ts";
import { invocationPath, resultsFile, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { Compute, decodeJsonText } from "../mod.ts";
import { IMAGE_SIZE, loadSplit } from "../lib/data/mod.ts";
import { encodeNpy, writeJson } from "../lib/io/mod.ts";
import { loadSample, machineInfo } from "../bench/harness/machine.ts";
import { collectGarbage } from "../bench/harness/measure.ts";
import { type LoadOptions, LoadResult } from "../bench/harness/http_load.ts";
import { fixtureDir } from "../lib/benchmarks/mod.ts";
import { serveDetector, servedFitted, serviceLogger } from "../apps/serve/mod.ts";
import { type LoadedDetector, openFittedDetector, scoreSource } from "../lib/fitted/mod.ts";
import { parseSourceArgument, type SourceArgument } from "../lib/sources/mod.ts";
import { readReplicaReport, serveTargets } from "./bench_serve_targets.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const LOAD_SCRIPT = fileURLToPath(new URL("../bench/harness/http_load.ts", import.meta.url));

/** The load generator's process failed (its stderr is shown above). */
class LoadGeneratorFailed extends Data.TaggedError("LoadGeneratorFailed")<{
  readonly problem: string;
}> {
  override get message(): string {
    return `The load generator (${LOAD_SCRIPT}) failed: ${this.problem}`;
  }
}

/** Run autocannon in its own process. */
const load = (options: LoadOptions) =>
  Effect.flatMap(runLoadChild(options), decodeJsonText(LoadResult, "the load generator's output"));

const runLoadChild = (options: LoadOptions) =>
  Effect.tryPromise({
    catch: (error) => new LoadGeneratorFailed({ problem: String(error) }),
    try: async () => {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", LOAD_SCRIPT],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
        cwd: HERE,
      }).spawn();
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(JSON.stringify(options)));
      await writer.close();
      const output = await child.output();
      if (!output.success) throw new Error(`exit code ${output.code}`);
      return new TextDecoder().decode(output.stdout);
    },
  });

/**
 * Resident memory after a full garbage collection (the task runs with `--expose-gc`), so the
 * growth compares live memory, not how far the collector happened to lag at each sample.
 */
function settledRss(): number {
  collectGarbage();
  return Deno.memoryUsage().rss;
}

/**
 * Offline: what `grood score` runs (`scoreSource`) over a folder of the PNGs: read, decoded four
 * at a time, scored in batches of 512 with the next batch decoded meanwhile. Images a second.
 */
const offlineThroughput = (detector: LoadedDetector, folder: SourceArgument, count: number) =>
  Effect.gen(function* () {
    const started = performance.now();
    const scored = yield* scoreSource(detector, folder);
    const seconds = (performance.now() - started) / 1000;
    if (scored.scores.length !== count) {
      return yield* Effect.die(new Error(`scored ${scored.scores.length} of ${count} PNGs`));
    }
    return count / seconds;
  });

/** The PNGs as files `00000.png`… in a fresh temporary folder (removed with the scope). */
const pngFolder = (pngs: ReadonlyArray<Uint8Array>) =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => Deno.makeTempDir({ prefix: "grood-bench-serve-pngs-" })),
      (d) => Effect.promise(() => Deno.remove(d, { recursive: true }).catch(() => {})),
    );
    yield* Effect.promise(() =>
      Promise.all(
        pngs.map((png, i) => Deno.writeFile(join(dir, `${String(i).padStart(5, "0")}.png`), png)),
      )
    );
    return yield* Effect.orDie(parseSourceArgument(dir, dir));
  });

/** `grood_errors_total` by code, read from the service's Prometheus text. */
function refusalCounts(prometheus: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of prometheus.matchAll(/^grood_errors_total\{code="([^"]+)"\} (\d+)$/gm)) {
    counts[m[1]!] = Number(m[2]);
  }
  return counts;
}

/** Status classes of a load run: 503s apart from other 5xx, answers apart from no answer. */
function statusClasses(result: LoadResult) {
  const entries = Object.entries(result.statusCodes).map(([code, n]) => [Number(code), n] as const);
  const count = (keep: (code: number) => boolean) =>
    entries.filter(([code]) => keep(code)).reduce((sum, [, n]) => sum + n, 0);
  return {
    ok2xx: result.ok2xx,
    status503: count((c) => c === 503),
    other5xx: count((c) => c >= 500 && c < 600 && c !== 503),
    other: count((c) => (c < 200 || c >= 300) && (c < 500 || c >= 600)),
    errors: result.errors - result.timeouts,
    timeouts: result.timeouts,
  };
}

/** The product `fit` (`apps/cli/main.ts fit`) failed. */
class BenchFitFailed extends Data.TaggedError("BenchFitFailed")<{ readonly stderr: string }> {
  override get message(): string {
    return `grood fit failed while preparing the served detector:\n${this.stderr}`;
  }
}

/**
 * Fit GROOD on the first `count` MNIST training images with `grood fit` in a child process, into
 * a fresh temporary folder (removed with the scope), and return the folder.
 */
const fitWithProductFit = (count: number) =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.promise(() => Deno.makeTempDir({ prefix: "grood-bench-serve-" })),
      (d) => Effect.promise(() => Deno.remove(d, { recursive: true }).catch(() => {})),
    );
    const train = yield* loadSplit("mnist", "train");
    const pixels = yield* encodeNpy(train.pixels.slice(0, count * IMAGE_SIZE), [count, 28, 28]);
    const labels = yield* encodeNpy(train.labels.slice(0, count), [count]);
    const npy = join(dir, "train.npy");
    yield* Effect.promise(() => Deno.writeFile(npy, pixels));
    yield* Effect.promise(() => Deno.writeFile(join(dir, "train.labels.npy"), labels));
    const out = join(dir, "detector");
    console.log(`grood fit: GROOD on the first ${count} MNIST training images…`);
    const result = yield* Effect.promise(() =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          fileURLToPath(new URL("../apps/cli/main.ts", import.meta.url)),
          "fit",
          "--model",
          fixtureDir("mnist"),
          "--train",
          npy,
          "--out",
          out,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output()
    );
    if (!result.success) {
      return yield* Effect.fail(
        new BenchFitFailed({ stderr: new TextDecoder().decode(result.stderr) }),
      );
    }
    return out;
  });

/**
 * Milliseconds of CPU in a `process.cpuUsage()` difference. The load generator is another
 * process, so this is the service's own cost, which the machine's other work moves far less than
 * it moves the rates (the machine is shared).
 */
const cpuMs = (usage: { readonly user: number; readonly system: number }) =>
  (usage.user + usage.system) / 1000;

/** Images in each overload request. */
const OVERLOAD_IMAGES = 32;
/** Connections of the overload level. */
const OVERLOAD_CONNECTIONS = 256;

const input = (await taskInput(benchServeTask)).values;

const program = (values: typeof input) =>
  Effect.scoped(Effect.gen(function* () {
    const { tf, backend } = yield* Compute;
    const loadBefore = loadSample("start");
    const folder = values.detector === undefined ? undefined : invocationPath(values.detector);
    const replicasPath = invocationPath(values["replicas-report"]);
    // Checked before anything runs; the default is the checkout's (docs/reliability.md).
    const out = yield* resultsFile(values.out, "bench/serve.json", {
      overwrite: values.overwrite,
      inputs: [...(folder === undefined ? [] : [folder]), replicasPath],
    });
    // Without --detector, the served folder is made as a user makes one: `grood fit` (a child
    // process, the product path) on the first 3,000 MNIST training images.
    const served = folder ?? (yield* fitWithProductFit(3000));
    const loaded = yield* openFittedDetector(served);
    const detector = servedFitted(loaded, () => tf.memory().numTensors);
    const test = yield* loadSplit("mnist", "test");
    const pngs = yield* Effect.promise(() =>
      Promise.all(
        Array.from({ length: 2048 }, (_, i) =>
          sharp(test.pixels.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE), {
            raw: { width: 28, height: 28, channels: 1 },
          }).png().toBuffer().then((b) => new Uint8Array(b))),
      )
    );
    const folderOfPngs = yield* pngFolder(pngs);
    yield* offlineThroughput(loaded, folderOfPngs, pngs.length); // warm-up
    const offline = yield* offlineThroughput(loaded, folderOfPngs, pngs.length);
    console.log(
      `offline (grood score's path over a folder of the PNGs): ${offline.toFixed(0)} images/s`,
    );

    const service = yield* serveDetector(detector, { port: 0 });
    const bodies = pngs.slice(0, 256).map((png) =>
      Buffer.from(png).toString("base64")
    );
    const base = { url: `${service.url}/v1/score`, contentType: "image/png", bodies };
    yield* load({ ...base, connections: 16, seconds: 3 }); // warm-up
    const levels: Array<
      LoadResult & {
        meanBatch: number;
        /** CPU time (user + system, all threads) of the serving process per request. */
        serverCpuMsPerRequest: number;
        /** The load generator's CPU time per request (autocannon's share of the cores). */
        loadGeneratorCpuMsPerRequest: number;
        load: ReturnType<typeof loadSample>;
        loadEnd: ReturnType<typeof loadSample>;
      }
    > = [];
    for (const connections of [1, 16, 64]) {
      const sample = loadSample(`c=${connections}`);
      const before = service.metrics.batchTotals();
      const cpuBefore = process.cpuUsage();
      const result = yield* load({ ...base, connections, seconds: values.seconds });
      const serverCpuMsPerRequest = cpuMs(process.cpuUsage(cpuBefore)) / result.requests;
      const after = service.metrics.batchTotals();
      const meanBatch = (after.images - before.images) / (after.batches - before.batches);
      const end = loadSample(`c=${connections} end`);
      const loadGeneratorCpuMsPerRequest = result.loadGeneratorCpuMs / result.requests;
      levels.push({
        ...result,
        meanBatch,
        serverCpuMsPerRequest,
        loadGeneratorCpuMsPerRequest,
        load: sample,
        loadEnd: end,
      });
      console.log(
        `c=${connections}: ${result.requestsPerSecond.toFixed(0)} requests/s, p50 ` +
          `${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, non-2xx ${result.non2xx}, ` +
          `errors ${result.errors}, mean batch ${meanBatch.toFixed(1)}, server CPU ` +
          `${serverCpuMsPerRequest.toFixed(3)} ms/request, load generator ` +
          `${loadGeneratorCpuMsPerRequest.toFixed(3)} ms/request (load ${end.loadavg.join(" ")})`,
      );
    }
    const tensorsBefore = tf.memory().numTensors;
    const rssBefore = settledRss();
    const memorySample = loadSample("memory");
    const memoryCpu = process.cpuUsage();
    const memory = yield* load({ ...base, connections: 64, amount: values.requests });
    const memoryCpuMsPerRequest = cpuMs(process.cpuUsage(memoryCpu)) / memory.requests;
    const memoryEnd = loadSample("memory end");
    const rssAfter = settledRss();
    const growth = rssAfter / rssBefore - 1;
    console.log(
      `${memory.requests} requests at c=64: RSS ${(rssBefore / 2 ** 20).toFixed(0)} → ` +
        `${(rssAfter / 2 ** 20).toFixed(0)} MiB (${(100 * growth).toFixed(1)}%), tensors ` +
        `${tensorsBefore} → ${tf.memory().numTensors}, non-2xx ${memory.non2xx}`,
    );

    // Overload: JSON lists of 32 PNGs (64 distinct lists, cycled) at 256 connections.
    const overloadBodies = Array.from({ length: 64 }, (_, k) =>
      Buffer.from(JSON.stringify({
        images: Array.from(
          { length: OVERLOAD_IMAGES },
          (_, i) => bodies[(k * OVERLOAD_IMAGES + i) % bodies.length]!,
        ),
      })).toString("base64"));
    const refusedBefore = refusalCounts(service.metrics.render());
    const overloadSample = loadSample("overload");
    const overloadRun = yield* load({
      url: base.url,
      contentType: "application/json",
      bodies: overloadBodies,
      connections: OVERLOAD_CONNECTIONS,
      seconds: values.seconds,
    });
    const overloadEnd = loadSample("overload end");
    const refusedAfter = refusalCounts(service.metrics.render());
    const statuses = statusClasses(overloadRun);
    const deadlineMs = service.batch.deadlineMs;
    const overload = {
      ...overloadRun,
      imagesPerRequest: OVERLOAD_IMAGES,
      statuses,
      acceptedImagesPerSecond: (overloadRun.ok2xx * OVERLOAD_IMAGES) / overloadRun.seconds,
      refusals: Object.fromEntries(
        Object.entries(refusedAfter).map(([code, n]) => [code, n - (refusedBefore[code] ?? 0)]),
      ),
      batch: service.batch,
      deadlineMs,
      met: statuses.other5xx === 0 && overloadRun.ok2xx > 0 &&
        overloadRun.latencyMs.p99 <= 2 * deadlineMs,
      load: overloadSample,
      loadEnd: overloadEnd,
    };
    console.log(
      `overload (${OVERLOAD_IMAGES} images × ${OVERLOAD_CONNECTIONS} connections): ` +
        `2xx ${statuses.ok2xx}, 503 ${statuses.status503}, other 5xx ${statuses.other5xx}, ` +
        `other ${statuses.other}, errors ${statuses.errors}, timeouts ${statuses.timeouts}; ` +
        `accepted p50 ${overloadRun.latencyMs.p50} ms, p99 ${overloadRun.latencyMs.p99} ms ` +
        `(deadline ${deadlineMs} ms; load ${overloadEnd.loadavg.join(" ")})`,
    );

    const at = (c: number) => levels.find((l) => l.connections === c)!;
    const failed = [...levels, memory].reduce((n, l) => n + l.non2xx + l.errors, 0);
    const targets = serveTargets({
      offlineImagesPerSecond: offline,
      groodOnMnistFixture: folder === undefined,
      c64: { imagesPerSecond: at(64).requestsPerSecond, load: at(64).loadEnd },
      c1: { p99Ms: at(1).latencyMs.p99, load: at(1).loadEnd },
      overload: {
        other5xx: statuses.other5xx,
        p99AcceptedMs: overloadRun.latencyMs.p99,
        accepted: overloadRun.ok2xx,
        deadlineMs,
        load: overloadEnd,
      },
      memory: { growth, requests: memory.requests, load: memoryEnd },
      failedUnderValidLoad: { count: failed, load: memoryEnd },
      replicas: yield* readReplicaReport(replicasPath),
      replicasPath: values["replicas-report"],
    });
    for (const t of targets) {
      const value = t.value === null ? "not measured" : t.value.toPrecision(3);
      console.log(`${t.met ? "met    " : "NOT MET"} ${t.name}: ${value} (${t.target})`);
    }
    yield* writeJson(out, {
      createdAt: new Date().toISOString(),
      machine: machineInfo(),
      backend,
      detector: {
        kind: detector.info.kind,
        version: detector.info.version,
        note: folder ??
          "GROOD fitted by `grood fit` on the first 3,000 MNIST training images, " +
            "fixtures/models/mnist, served from its folder as `grood serve` does (grood's CNN on " +
            "onnxruntime, its default engine)",
      },
      body: "one 28×28 grey PNG per request (256 distinct MNIST test digits, cycled); " +
        `overload: a JSON list of ${OVERLOAD_IMAGES} of them per request`,
      loadGenerator: "autocannon (separate process), pipelining 1; latencies of 2xx answers only",
      offline: {
        imagesPerSecond: offline,
        note: "what `grood score` runs (scoreSource) over a folder of the 2,048 PNGs: read, " +
          "decoded 4 at a time, batches of 512, the next batch decoded while one is scored",
      },
      levels,
      memory: {
        ...memory,
        rssBeforeBytes: rssBefore,
        rssAfterBytes: rssAfter,
        growth,
        serverCpuMsPerRequest: memoryCpuMsPerRequest,
        tensorsBefore,
        tensorsAfter: tf.memory().numTensors,
        load: memorySample,
        loadEnd: memoryEnd,
      },
      overload,
      load: { start: loadBefore, end: loadSample("end") },
      targets,
    });
    console.log(`wrote ${out}`);
  }));

// The service's logger, as `grood serve` runs it (its JSON lines written once a turn).
await runTask(program(input), input.backend, { logger: serviceLogger() });
