/**
 * A short probe of the scoring service, or of a hello-world server, under autocannon (in a
 * child process, as `grood bench serve` runs it): one level of `connections` for `seconds`
 * after a 2 s warm-up at 16, printed as one JSON line with the serving process's CPU time per
 * request and the load generator's. Used to compare two checkouts alternately on a shared machine, and to know the HTTP
 * ceiling of each server kind (`docs/serve.md`, Benchmark).
 *
 * ```sh
 * deno run -A --unstable-no-legacy-abort bench/serve_probe.ts serve DIR 64 6
 * deno run -A bench/serve_probe.ts hello-deno - 64 6   # also hello-front, hello-effect-web,
 *                                                      # hello-effect-node
 * ```
 *
 * `serve` serves the `grood fit` folder DIR and posts 256 MNIST test digits as 28×28 PNGs
 * written by sharp (as the benchmark's bodies are).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createServer } from "node:http";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Effect, Layer } from "effect";
import { HttpEffect, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http";
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer";
import sharp from "sharp";
import { openServedFitted, serveDetector } from "../apps/serve/mod.ts";
import { openFront } from "../apps/serve/front.ts";
import { IMAGE_SIZE, loadSplit } from "../lib/data/mod.ts";
import { Compute } from "../mod.ts";
import { LoadResult } from "./harness/http_load.ts";

const [mode = "serve", folder = "-", connections = "64", seconds = "6"] = Deno.args;
const LOAD = fileURLToPath(new URL("./harness/http_load.ts", import.meta.url));

const digits = await Effect.runPromise(loadSplit("mnist", "test"));
const bodies = await Promise.all(
  Array.from(
    { length: 256 },
    (_, i) =>
      sharp(digits.pixels.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE), {
        raw: { width: 28, height: 28, channels: 1 },
      }).png().toBuffer().then((png) => Buffer.from(png).toString("base64")),
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

/** Warm up, then one level; print it as a JSON line. */
async function drive(url: string): Promise<void> {
  await load(url, 16, 2);
  const loadavg = Deno.loadavg();
  const before = process.cpuUsage();
  const r = await load(url, Number(connections), Number(seconds));
  const cpu = process.cpuUsage(before);
  console.log(JSON.stringify({
    mode,
    connections: Number(connections),
    requestsPerSecond: Math.round(r.requestsPerSecond),
    p50Ms: r.latencyMs.p50,
    p99Ms: r.latencyMs.p99,
    non2xx: r.non2xx,
    errors: r.errors,
    serverCpuUsPerRequest: Math.round((cpu.user + cpu.system) / r.requests),
    loadGeneratorCpuUsPerRequest: Math.round((r.loadGeneratorCpuMs * 1000) / r.requests),
    loadavg,
  }));
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
  default: {
    await Effect.runPromise(
      Effect.scoped(Effect.gen(function* () {
        const detector = yield* openServedFitted(folder);
        const service = yield* serveDetector(detector, { port: 0 });
        yield* Effect.promise(() => drive(`${service.url}/v1/score`));
      })).pipe(Effect.provide(Compute.layer())),
    );
  }
}
Deno.exit(0);
