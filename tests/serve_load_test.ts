/**
 * No growth under load: 10,000 real HTTP requests (64 at a time) against the service leave the
 * engine's tensor count where it was and the resident memory within a bound, and every answer
 * is a 200 with the image's score.
 */
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import { Effect, Exit, Scope } from "effect";
import type { ScoreAnswer } from "../apps/serve/routes.ts";
import { serveDetector } from "../apps/serve/server.ts";
import { closeDetector, detector, offlineScores, pngImage, tf } from "./serve_detector.ts";

// A full garbage collection before each sample, so what is measured is what is kept.
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc") as () => void;

/** Send `total` PNG requests from `concurrency` workers; returns the non-200 count. */
async function load(
  url: string,
  bodies: ReadonlyArray<Uint8Array>,
  total: number,
  concurrency: number,
  check: (k: number, a: ScoreAnswer) => void,
) {
  let next = 0;
  let failed = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) {
      const k = next++ % bodies.length;
      const response = await fetch(`${url}/v1/score`, {
        method: "POST",
        headers: { "content-type": "image/png" },
        body: bodies[k] as BodyInit,
      });
      if (response.status !== 200) {
        failed++;
        await response.body?.cancel();
      } else {
        check(k, await response.json());
      }
    }
  }));
  return failed;
}

Deno.test("10,000 requests: every answer right, no tensor growth, bounded memory", async () => {
  const indices = Array.from({ length: 16 }, (_, i) => 1000 + i);
  const bodies = await Promise.all(indices.map(pngImage));
  const offline = await offlineScores(indices);
  let checked = 0;
  const check = (k: number, answer: ScoreAnswer) => {
    assert.ok(Math.abs(answer.results[0]!.score! - offline.scores[k]!) <= 1e-6);
    checked++;
  };
  const scope = await Effect.runPromise(Scope.make());
  const service = await Effect.runPromise(
    serveDetector(detector, { port: 0 }).pipe(Scope.provide(scope)),
  );
  try {
    // Warm up (V8's heap and sharp's caches settle), then 5 rounds of 2,000, each followed by a
    // full collection: a leak grows the live heap and the resident memory round after round.
    assert.equal(await load(service.url, bodies, 1000, 64, check), 0);
    const tensors = tf.memory().numTensors;
    const heap: Array<number> = [];
    const rss: Array<number> = [];
    const started = performance.now();
    for (let round = 0; round < 5; round++) {
      assert.equal(await load(service.url, bodies, 2000, 64, check), 0);
      gc();
      heap.push(Deno.memoryUsage().heapUsed);
      rss.push(Deno.memoryUsage().rss);
    }
    const seconds = (performance.now() - started) / 1000;
    const mib = (values: ReadonlyArray<number>) =>
      values.map((v) => (v / 2 ** 20).toFixed(1)).join(", ");
    console.log(
      `10,000 requests in ${seconds.toFixed(1)}s (${(10_000 / seconds).toFixed(0)}/s); after ` +
        `each 2,000: live heap ${mib(heap)} MiB, RSS ${mib(rss)} MiB`,
    );
    assert.equal(checked, 11_000);
    assert.equal(tf.memory().numTensors, tensors, "tensors leaked");
    // 8,000 requests keeping even 256 bytes each would add 2 MiB of live heap.
    assert.ok(heap[4]! - heap[0]! < 2 * 2 ** 20, `live heap ${mib(heap)} MiB`);
    assert.ok(rss[4]! / rss[0]! - 1 < 0.1, `RSS ${mib(rss)} MiB`);
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void));
  }
});

Deno.test("cleanup", () => closeDetector());
