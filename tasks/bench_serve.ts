/**
 * `deno task bench:serve`: the scoring service under load. Serves a detector in this process,
 * drives it with npm `autocannon` from a separate process (28×28 PNG bodies, one image a
 * request) at 1, 16 and 64 connections, then 100,000 requests at 64 to watch resident memory;
 * compares with the offline throughput of the same detector (decode + score in batches, as the
 * `score` task does) and writes `bench/serve.json` with the targets and whether each is met.
 *
 * The machine's load average is recorded with the numbers: the service shares its cores.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { fileURLToPath } from "node:url";
import { Data, Effect } from "effect";
import sharp from "sharp";
import { benchServeTask } from "../apps/cli/commands/bench_serve.ts";
import { invocationPath, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { Compute } from "../mod.ts";
import { IMAGE_SIZE, loadSplit } from "../lib/data/mod.ts";
import { writeJson } from "../lib/io/mod.ts";
import { loadSample, machineInfo } from "../bench/harness/machine.ts";
import { collectGarbage } from "../bench/harness/measure.ts";
import type { LoadOptions, LoadResult } from "../bench/harness/http_load.ts";
import { fixtureDir } from "../lib/model/mod.ts";
import {
  fitServedGrood,
  openServedFitted,
  type ServedDetector,
  serveDetector,
} from "../apps/serve/mod.ts";
import { decodeImage } from "../lib/sources/mod.ts";

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
      return JSON.parse(new TextDecoder().decode(output.stdout)) as LoadResult;
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

/** Offline: decode the PNGs and score them in batches of 256, as the `score` task does. */
const offlineThroughput = (detector: ServedDetector, pngs: ReadonlyArray<Uint8Array>) =>
  Effect.gen(function* () {
    const started = performance.now();
    const per = IMAGE_SIZE;
    for (let start = 0; start < pngs.length; start += 256) {
      const chunk = pngs.slice(start, start + 256);
      const pixels = new Uint8Array(chunk.length * per);
      yield* Effect.forEach(
        chunk,
        (png, i) =>
          Effect.map(decodeImage(png, `png ${i}`, detector.input), (p) => pixels.set(p, i * per)),
        { concurrency: 4, discard: true },
      );
      yield* detector.scoreImages(pixels, chunk.length);
    }
    return pngs.length / ((performance.now() - started) / 1000);
  });

const program = (
  values: { detector: string | undefined; seconds: number; requests: number; out: string },
) =>
  Effect.scoped(Effect.gen(function* () {
    const { tf, backend } = yield* Compute;
    const loadBefore = loadSample("start");
    const folder = values.detector === undefined ? undefined : invocationPath(values.detector);
    if (folder === undefined) {
      console.log("fitting GROOD on 3,000 MNIST training images (the served detector)…");
    }
    const detector = folder === undefined
      ? yield* fitServedGrood({
        classifierDir: fixtureDir("mnist"),
        dataset: "mnist",
        trainImages: 3000,
        idValidationImages: 1000,
      })
      : yield* openServedFitted(folder, () => tf.memory().numTensors);
    const test = yield* loadSplit("mnist", "test");
    const pngs = yield* Effect.promise(() =>
      Promise.all(
        Array.from({ length: 2048 }, (_, i) =>
          sharp(test.pixels.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE), {
            raw: { width: 28, height: 28, channels: 1 },
          }).png().toBuffer().then((b) => new Uint8Array(b))),
      )
    );
    yield* offlineThroughput(detector, pngs.slice(0, 256)); // warm-up
    const offline = yield* offlineThroughput(detector, pngs);
    console.log(`offline (decode + score, batches of 256): ${offline.toFixed(0)} images/s`);

    const service = yield* serveDetector(detector, { port: 0 });
    const bodies = pngs.slice(0, 256).map((png) =>
      Buffer.from(png).toString("base64")
    );
    const base = { url: `${service.url}/v1/score`, contentType: "image/png", bodies };
    yield* load({ ...base, connections: 16, seconds: 3 }); // warm-up
    const levels: Array<
      LoadResult & { meanBatch: number; load: ReturnType<typeof loadSample> }
    > = [];
    for (const connections of [1, 16, 64]) {
      const sample = loadSample(`c=${connections}`);
      const before = service.metrics.batchTotals();
      const result = yield* load({ ...base, connections, seconds: values.seconds });
      const after = service.metrics.batchTotals();
      const meanBatch = (after.images - before.images) / (after.batches - before.batches);
      levels.push({ ...result, meanBatch, load: sample });
      console.log(
        `c=${connections}: ${result.requestsPerSecond.toFixed(0)} requests/s, p50 ` +
          `${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, non-2xx ${result.non2xx}, ` +
          `errors ${result.errors}, mean batch ${meanBatch.toFixed(1)} (load ${
            sample.loadavg.join(" ")
          })`,
      );
    }
    const tensorsBefore = tf.memory().numTensors;
    const rssBefore = settledRss();
    const memorySample = loadSample("memory");
    const memory = yield* load({ ...base, connections: 64, amount: values.requests });
    const rssAfter = settledRss();
    const growth = rssAfter / rssBefore - 1;
    console.log(
      `${memory.requests} requests at c=64: RSS ${(rssBefore / 2 ** 20).toFixed(0)} → ` +
        `${(rssAfter / 2 ** 20).toFixed(0)} MiB (${(100 * growth).toFixed(1)}%), tensors ` +
        `${tensorsBefore} → ${tf.memory().numTensors}, non-2xx ${memory.non2xx}`,
    );
    const at = (c: number) => levels.find((l) => l.connections === c)!;
    const non2xx = [...levels, memory].reduce((n, l) => n + l.non2xx + l.errors + l.timeouts, 0);
    const targets = [
      {
        id: "throughput.c64.share-of-offline",
        label: "requests/s at 64 connections ÷ offline images/s",
        value: at(64).requestsPerSecond / offline,
        target: ">= 0.7",
        met: at(64).requestsPerSecond / offline >= 0.7,
      },
      {
        id: "latency.c1.p99",
        label: "p99 latency at 1 connection (ms)",
        value: at(1).latencyMs.p99,
        target: "<= 50",
        met: at(1).latencyMs.p99 <= 50,
      },
      {
        id: "non2xx",
        label: "non-2xx answers, errors and timeouts under valid load",
        value: non2xx,
        target: "== 0",
        met: non2xx === 0,
      },
      {
        id: "rss.growth",
        label: `resident memory growth over ${memory.requests} requests`,
        value: growth,
        target: "< 0.1",
        met: growth < 0.1,
      },
    ];
    for (const t of targets) {
      console.log(
        `${t.met ? "met    " : "NOT MET"} ${t.label}: ${t.value.toPrecision(3)} (${t.target})`,
      );
    }
    yield* writeJson(invocationPath(values.out), {
      createdAt: new Date().toISOString(),
      machine: machineInfo(),
      backend,
      detector: {
        kind: detector.info.kind,
        version: detector.info.version,
        note: folder ??
          "GROOD fitted in-process on 3,000 MNIST training images, fixtures/models/mnist",
      },
      body: "one 28×28 grey PNG per request (256 distinct MNIST test digits, cycled)",
      loadGenerator: "autocannon (separate process), pipelining 1",
      offline: { imagesPerSecond: offline, note: "decode + score, batches of 256, 2,048 PNGs" },
      levels,
      memory: {
        ...memory,
        rssBeforeBytes: rssBefore,
        rssAfterBytes: rssAfter,
        growth,
        tensorsBefore,
        tensorsAfter: tf.memory().numTensors,
        load: memorySample,
      },
      load: { start: loadBefore, end: loadSample("end") },
      targets,
    });
    console.log(`wrote ${values.out}`);
  }));

const { values } = await taskInput(benchServeTask);
await runTask(program(values), values.backend);
