/**
 * A short probe of the scoring service, or of a hello-world server, under autocannon (in a
 * child process, as `grood bench serve` runs it): one level of `connections` for `seconds`
 * after a 2 s warm-up at 16, printed as one JSON line with the serving process's CPU time per
 * request and the load generator's. Used to compare two checkouts alternately on a shared machine, and to know the HTTP
 * ceiling of each server kind (`docs/serve.md`, Benchmark).
 *
 * ```sh
 * deno run -A --unstable-no-legacy-abort bench/serve_probe.ts serve DIR 64 6
 * deno run -A bench/serve_probe.ts offline DIR - 5   # grood score's path, 5 passes of 2,048
 * GROOD_PROBE_ROOT=/work/main deno run -A bench/serve_probe.ts serve DIR 64 6  # another checkout
 * deno run -A bench/serve_probe.ts hello-deno - 64 6   # also hello-front, hello-effect-web,
 *                                                      # hello-effect-node
 * deno run -A bench/serve_probe.ts ideal DIR 64 8     # also ideal-front
 * ```
 *
 * `serve` serves the `grood fit` folder DIR and posts 256 MNIST test digits as 28×28 PNGs
 * written by sharp (as the benchmark's bodies are). `ideal` serves DIR with the least a server
 * can do (the ceiling of the c=64 target on this machine, `bench/serve_ceiling.json`), and
 * `ideal-front` the same behind the service's relay.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createServer } from "node:http";
import { Session } from "node:inspector";
import process from "node:process";
import { setImmediate } from "node:timers";
import { fileURLToPath } from "node:url";
import { Effect, Layer } from "effect";
import { HttpEffect, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http";
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer";
import sharp from "sharp";
import { join } from "node:path";
import { openFront } from "../apps/serve/front.ts";
import { IMAGE_SIZE, loadSplit } from "../lib/data/mod.ts";
import { LoadResult } from "./harness/http_load.ts";

const [mode = "serve", folder = "-", connections = "64", seconds = "6"] = Deno.args;
const LOAD = fileURLToPath(new URL("./harness/http_load.ts", import.meta.url));
/**
 * The checkout whose service (or offline scoring) is measured: this one, or another one named by
 * `GROOD_PROBE_ROOT` (e.g. the main branch's, to compare the two alternately with one probe).
 */
const ROOT = Deno.env.get("GROOD_PROBE_ROOT") ?? fileURLToPath(new URL("..", import.meta.url));
const serve = await import(
  join(ROOT, "apps/serve/mod.ts")
) as typeof import("../apps/serve/mod.ts");
const { Compute } = await import(join(ROOT, "mod.ts")) as typeof import("../mod.ts");

const digits = await Effect.runPromise(loadSplit("mnist", "test"));
/** MNIST test digit `i` as a PNG written by sharp (the benchmark's bodies and offline files). */
const digitPng = (i: number) =>
  sharp(digits.pixels.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE), {
    raw: { width: 28, height: 28, channels: 1 },
  }).png().toBuffer();
const bodies = await Promise.all(
  Array.from(
    { length: 256 },
    (_, i) => digitPng(i).then((png) => Buffer.from(png).toString("base64")),
  ),
);

/** One autocannon run in a child process. */
async function load(url: string, c: number, s: number): Promise<LoadResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", LOAD],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(
      JSON.stringify({ url, connections: c, seconds: s, contentType: "image/png", bodies }),
    ),
  );
  await writer.close();
  const output = await child.output();
  return JSON.parse(new TextDecoder().decode(output.stdout)) as LoadResult;
}

/** CPU time (user + system, microseconds) of each thread of this process, by thread id. */
function threadTimes(): Map<number, { readonly name: string; readonly us: number }> {
  const ticks = 1_000_000 / 100; // USER_HZ is 100 on Linux
  const times = new Map<number, { name: string; us: number }>();
  for (const entry of Deno.readDirSync("/proc/self/task")) {
    try {
      const stat = Deno.readTextFileSync(`/proc/self/task/${entry.name}/stat`);
      const close = stat.lastIndexOf(")");
      const name = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" ");
      // utime and stime are the stat file's fields 14 and 15 (11 and 12 after the name).
      times.set(Number(entry.name), {
        name,
        us: (Number(fields[11]) + Number(fields[12])) * ticks,
      });
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return times;
}

/**
 * Microseconds of CPU per unit (request or image) of this process's threads between two
 * `threadTimes()`: the main thread, the busiest other thread (onnxruntime's worker when serving
 * or scoring), and all the rest (V8's helpers, Deno's, onnxruntime's intra-op pool).
 */
function perThread(
  before: ReturnType<typeof threadTimes>,
  after: ReturnType<typeof threadTimes>,
  units: number,
) {
  const deltas = [...after].map(([tid, t]) => ({
    tid,
    name: t.name,
    us: t.us - (before.get(tid)?.us ?? 0),
  }));
  const main = deltas.find((d) => d.tid === Deno.pid)?.us ?? 0;
  const others = deltas.filter((d) => d.tid !== Deno.pid).sort((a, b) => b.us - a.us);
  const busiest = others[0];
  const rest = others.slice(1).reduce((sum, d) => sum + d.us, 0);
  return {
    mainThread: Math.round(main / units),
    busiestOtherThread: Math.round((busiest?.us ?? 0) / units),
    busiestOtherThreadName: busiest?.name ?? "",
    restOfThreads: Math.round(rest / units),
  };
}

/**
 * With `GROOD_PROBE_PROFILE=FILE`, V8's sampling profile of the main thread over the measured
 * level is written to FILE (a `.cpuprofile`, for Chrome's DevTools or a script), through
 * `node:inspector`.
 */
async function profiled<A>(run: () => Promise<A>): Promise<A> {
  const file = Deno.env.get("GROOD_PROBE_PROFILE");
  if (file === undefined) return run();
  const session = new Session();
  session.connect();
  const post = (method: string) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, {}, (error, result) => error ? reject(error) : resolve(result))
    );
  await post("Profiler.enable");
  await post("Profiler.start");
  const result = await run();
  const { profile } = await post("Profiler.stop") as { profile: unknown };
  await Deno.writeTextFile(file, JSON.stringify(profile));
  session.disconnect();
  return result;
}

/** Warm up, then one level; print it as a JSON line. */
async function drive(url: string): Promise<void> {
  await load(url, 16, 2);
  const loadavg = Deno.loadavg();
  const threadsBefore = threadTimes();
  const before = process.cpuUsage();
  const r = await profiled(() => load(url, Number(connections), Number(seconds)));
  const cpu = process.cpuUsage(before);
  const threads = perThread(threadsBefore, threadTimes(), r.requests);
  console.log(JSON.stringify({
    mode,
    root: ROOT,
    connections: Number(connections),
    requestsPerSecond: Math.round(r.requestsPerSecond),
    p50Ms: r.latencyMs.p50,
    p99Ms: r.latencyMs.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    serverCpuUsPerRequest: Math.round((cpu.user + cpu.system) / r.requests),
    loadGeneratorCpuUsPerRequest: Math.round((r.loadGeneratorCpuMs * 1000) / r.requests),
    serverThreadsUsPerRequest: threads,
    loadavg,
    loadavgEnd: Deno.loadavg(),
  }));
}

/**
 * The offline figure of `grood bench serve`: `grood score`'s path (`scoreSource`) over a folder
 * of the 2,048 PNGs, once to warm up and then `seconds` times; CPU a scored image, per thread.
 */
async function offline(dir: string, passes: number): Promise<void> {
  const { openFittedDetector, scoreSource } = await import(
    join(ROOT, "lib/fitted/mod.ts")
  ) as typeof import("../lib/fitted/mod.ts");
  const { parseSourceArgument } = await import(
    join(ROOT, "lib/sources/mod.ts")
  ) as typeof import("../lib/sources/mod.ts");
  const pngDir = await Deno.makeTempDir({ prefix: "grood-probe-pngs-" });
  const pngs = await Promise.all(Array.from({ length: 2048 }, (_, i) => digitPng(i)));
  await Promise.all(
    pngs.map((png, i) => Deno.writeFile(join(pngDir, `${String(i).padStart(5, "0")}.png`), png)),
  );
  await Effect.runPromise(
    Effect.scoped(Effect.gen(function* () {
      const loaded = yield* openFittedDetector(dir);
      const source = yield* Effect.orDie(parseSourceArgument(pngDir, pngDir));
      yield* scoreSource(loaded, source); // warm-up
      const loadavg = Deno.loadavg();
      const threadsBefore = threadTimes();
      const before = process.cpuUsage();
      const started = performance.now();
      for (let pass = 0; pass < passes; pass++) yield* scoreSource(loaded, source);
      const wall = (performance.now() - started) / 1000;
      const cpu = process.cpuUsage(before);
      const images = passes * pngs.length;
      console.log(JSON.stringify({
        mode,
        root: ROOT,
        images,
        imagesPerSecond: Math.round(images / wall),
        cpuUsPerImage: Math.round((cpu.user + cpu.system) / images),
        threadsUsPerImage: perThread(threadsBefore, threadTimes(), images),
        loadavg,
        loadavgEnd: Deno.loadavg(),
      }));
    })).pipe(Effect.provide(Compute.layer())),
  );
  await Deno.remove(pngDir, { recursive: true });
}

const hello = () =>
  new Response('{"ok":true}', { headers: { "content-type": "application/json" } });
const helloEffect = Effect.gen(function* () {
  const request = yield* HttpServerRequest.HttpServerRequest;
  yield* request.arrayBuffer;
  return HttpServerResponse.text('{"ok":true}', { contentType: "application/json" });
});

switch (mode) {
  case "hello-deno": {
    const server = Deno.serve({ port: 0, onListen: () => {} }, async (request) => {
      await request.arrayBuffer();
      return hello();
    });
    await drive(`http://127.0.0.1:${server.addr.port}/`);
    await server.shutdown();
    break;
  }
  case "hello-front": {
    const socket = `${await Deno.makeTempDir()}/http.sock`;
    const server = Deno.serve(
      { transport: "unix", path: socket, onListen: () => {} },
      async (request) => {
        await request.arrayBuffer();
        return hello();
      },
    );
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const front = yield* openFront("127.0.0.1", 0, socket, {
        headerMs: 10_000,
        bodyMs: 30_000,
        idleMs: 60_000,
      });
      yield* Effect.promise(() => drive(`http://127.0.0.1:${front.addr.port}/`));
    })));
    await server.shutdown();
    break;
  }
  case "hello-effect-web": {
    const handler = HttpEffect.toWebHandler(helloEffect);
    const server = Deno.serve({ port: 0, onListen: () => {} }, (request) => handler(request));
    await drive(`http://127.0.0.1:${server.addr.port}/`);
    await server.shutdown();
    break;
  }
  case "hello-effect-node": {
    const port = 18_000 + Math.floor(Math.random() * 1000);
    const served = HttpServer.serve(helloEffect).pipe(
      Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" })),
    );
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      yield* Layer.build(served);
      yield* Effect.promise(() => drive(`http://127.0.0.1:${port}/`));
    })));
    break;
  }
  case "ideal":
  case "ideal-front": {
    // The least a server can do for a scored single-image request, to know the ceiling of the
    // c=64 target on this machine: `Deno.serve` on the TCP port itself (no relay, no timeouts),
    // the PNG fast path, a batcher with no window (whatever arrived while a batch ran is the
    // next batch, at most 64), the detector's own `scoreImages`, a three-field answer. No
    // Effect per request, no admission, limits, logs or metrics.
    const { decodeImage } = await import(
      join(ROOT, "lib/sources/mod.ts")
    ) as typeof import("../lib/sources/mod.ts");
    await Effect.runPromise(
      Effect.scoped(Effect.gen(function* () {
        const detector = yield* serve.openServedFitted(folder);
        const shape = detector.input;
        const size = shape.height * shape.width * shape.channels;
        type Waiting = {
          readonly pixels: Uint8Array;
          readonly answer: (body: string) => void;
        };
        const queue: Array<Waiting> = [];
        let running = false;
        const pump = async () => {
          if (running) return;
          running = true;
          try {
            while (queue.length > 0) {
              const batch = queue.splice(0, 64);
              const pixels = new Uint8Array(batch.length * size);
              batch.forEach((w, i) => pixels.set(w.pixels, i * size));
              const scored = await Effect.runPromise(detector.scoreImages(pixels, batch.length));
              batch.forEach((w, i) =>
                w.answer(
                  `{"score":${scored.scores[i]},"isOod":${scored.isOod[i]},"predicted":${
                    scored.predicted[i]
                  }}`,
                )
              );
            }
          } finally {
            // A failed batch (a probe error) must not leave later requests waiting forever.
            running = false;
          }
        };
        const handler = async (request: Request) => {
          const bytes = new Uint8Array(await request.arrayBuffer());
          const pixels = Effect.runSync(decodeImage(bytes, "body", shape));
          const body = await new Promise<string>((answer) => {
            queue.push({ pixels, answer });
            if (queue.length === 1) setImmediate(pump);
          });
          return new Response(body, { headers: { "content-type": "application/json" } });
        };
        if (mode === "ideal") {
          const server = Deno.serve({ port: 0, onListen: () => {} }, handler);
          yield* Effect.promise(() => drive(`http://127.0.0.1:${server.addr.port}/`));
          yield* Effect.promise(() => server.shutdown());
        } else {
          // The same behind the service's relay (its header and idle timeouts).
          const socketDir = yield* Effect.acquireRelease(
            Effect.promise(() => Deno.makeTempDir({ prefix: "grood-probe-" })),
            (dir) => Effect.promise(() => Deno.remove(dir, { recursive: true })),
          );
          const socket = `${socketDir}/http.sock`;
          const server = Deno.serve(
            { transport: "unix", path: socket, onListen: () => {} },
            handler,
          );
          const front = yield* openFront("127.0.0.1", 0, socket, {
            headerMs: 10_000,
            bodyMs: 30_000,
            idleMs: 60_000,
          });
          yield* Effect.promise(() => drive(`http://127.0.0.1:${front.addr.port}/`));
          yield* Effect.promise(() => server.shutdown());
        }
      })).pipe(Effect.provide(Compute.layer())),
    );
    break;
  }
  case "offline": {
    await offline(folder, Number(seconds));
    break;
  }
  default: {
    await Effect.runPromise(
      Effect.scoped(Effect.gen(function* () {
        const detector = yield* serve.openServedFitted(folder);
        const service = yield* serve.serveDetector(detector, { port: 0 });
        yield* Effect.promise(() => drive(`${service.url}/v1/score`));
      })).pipe(Effect.provide(Compute.layer())),
    );
  }
}
Deno.exit(0);
