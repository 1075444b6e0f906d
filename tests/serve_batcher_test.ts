/**
 * Micro-batching on a `TestClock` (issue 25, item 1): the batch window and the deadlines are read
 * from Effect's `Clock`, and the test clock never moves unless a test adjusts it, so which
 * batches are dispatched before the window could have elapsed is a matter of batch composition,
 * not of timing:
 *
 * - a lone request is scored with the clock still at 0;
 * - a request waits for the window only while another announced request is still decoding, and
 *   goes when the clock reaches the window, alone; the latecomer then goes at once;
 * - requests that all submit are scored together in one batch;
 * - over HTTP, a stalled upload (headers and half a body sent) is not "arriving": a full request
 *   sent after it is scored and answered with the clock still at 0.
 *
 * A wait that never ends (a request held for a window the test clock never reaches) fails by a
 * bounded real-time wait, which names what did not happen; no assertion is on a duration.
 */
import assert from "node:assert/strict";
import { Clock, Effect, Exit, Scope } from "effect";
import { TestClock } from "effect/testing";
import { type Batcher, type BatchOptions, makeBatcher } from "../apps/serve/batcher.ts";
import { serveDetector } from "../apps/serve/server.ts";
import {
  type EngineBroken,
  image,
  type NonFiniteDetectorScore,
  png,
  standIn,
} from "./serve_stand_in.ts";

/** `promise`, or a failure saying `what` did not happen within `ms` of real time. */
function within<A>(promise: Promise<A>, ms: number, what: string): Promise<A> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      timer = setTimeout(() => reject(new Error(`${what} did not happen`)), ms)
    ),
  ]).finally(() => clearTimeout(timer));
}

/** Let queued timers and promise callbacks run (turns of the event loop, no clock time). */
const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setTimeout(resolve, 0));
};

const WINDOW_MS = 5_000;

/** Run `body` with a batcher on a fresh `TestClock` (window 5 s, deadline 1 h). */
async function withBatcher(
  body: (
    batcher: Batcher<NonFiniteDetectorScore | EngineBroken>,
    calls: Array<Array<number>>,
    clock: { readonly adjust: (ms: number) => Promise<void>; readonly nowMs: () => number },
  ) => Promise<void>,
  bounds: Partial<BatchOptions> = {},
): Promise<void> {
  const scope = await Effect.runPromise(Scope.make());
  try {
    const testClock = await Effect.runPromise(
      TestClock.make({ warningDelay: "1 hour" }).pipe(Scope.provide(scope)),
    );
    const calls: Array<Array<number>> = [];
    const batcher = await Effect.runPromise(
      makeBatcher(standIn({ calls }), {
        maxBatchImages: 64,
        maxWaitMs: WINDOW_MS,
        maxQueuedImages: 1024,
        deadlineMs: 3_600_000,
        ...bounds,
      }).pipe(Effect.provideService(Clock.Clock, testClock), Scope.provide(scope)),
    );
    await body(batcher, calls, {
      adjust: (ms) => Effect.runPromise(testClock.adjust(ms)),
      nowMs: () => testClock.currentTimeMillisUnsafe(),
    });
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void));
  }
}

Deno.test("a lone request is dispatched with the clock still at 0, alone", async () => {
  await withBatcher(async (batcher, calls, clock) => {
    const scored = await within(
      Effect.runPromise(batcher.submit(image(10), 1)),
      10_000,
      "scoring a lone request without the clock reaching the batch window",
    );
    assert.deepEqual(calls, [[10]]);
    assert.deepEqual(Array.from(scored.scores), [10 / 255]);
    assert.equal(clock.nowMs(), 0);
  });
});

Deno.test("a request waits for the window only while another is decoding; then goes alone", async () => {
  await withBatcher(async (batcher, calls, clock) => {
    const decoding = batcher.arrive(); // announced: its body is read, its images being decoded
    const first = Effect.runPromise(batcher.submit(image(20), 1));
    await turns();
    assert.deepEqual(calls, [], "dispatched before the window while another was decoding");
    await clock.adjust(WINDOW_MS);
    await within(first, 10_000, "dispatching the waiting request at the end of the window");
    assert.deepEqual(calls, [[20]]);
    // The latecomer is now alone: it goes at once, without more clock time.
    const late = decoding.submit(image(30), 1);
    await within(Effect.runPromise(late), 10_000, "dispatching the latecomer at once");
    assert.deepEqual(calls, [[20], [30]]);
    assert.equal(clock.nowMs(), WINDOW_MS);
  });
});

Deno.test("requests announced together are scored in one batch, before the window", async () => {
  await withBatcher(async (batcher, calls, clock) => {
    const arrivals = [40, 50, 60].map((first) => ({ first, arrival: batcher.arrive() }));
    const answers = arrivals.map(({ first, arrival }) =>
      Effect.runPromise(arrival.submit(image(first), 1))
    );
    await within(Promise.all(answers), 10_000, "scoring three announced requests at once");
    assert.deepEqual(calls, [[40, 50, 60]]);
    assert.equal(clock.nowMs(), 0);
  });
});

Deno.test("queued requests are refused each at its own deadline, by the queue's one timer", async () => {
  await withBatcher(async (batcher, calls, clock) => {
    const decoding = batcher.arrive(); // holds the queue for the (one-minute) window
    const settled: Array<string> = [];
    const outcome = (name: string, arrival: Promise<Exit.Exit<unknown, unknown>>) =>
      arrival.then((exit) => {
        const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined;
        const code = error !== undefined && "error" in error
          ? (error.error as { code?: string }).code
          : "scored";
        settled.push(`${name}:${code}`);
      });
    const first = outcome("first", Effect.runPromiseExit(batcher.submit(image(10), 1)));
    await clock.adjust(4_000);
    const second = outcome("second", Effect.runPromiseExit(batcher.submit(image(20), 1)));
    await clock.adjust(6_000); // t = 10 s: the first one's deadline, not the second's
    await within(first, 10_000, "refusing the first request at its deadline");
    await turns();
    assert.deepEqual(settled, ["first:deadline_exceeded"]);
    await clock.adjust(4_000); // t = 14 s: the second one's deadline
    await within(second, 10_000, "refusing the second request at its own deadline");
    assert.deepEqual(settled, ["first:deadline_exceeded", "second:deadline_exceeded"]);
    assert.deepEqual(calls, [], "a request past its deadline was scored");
    assert.equal(batcher.queued(), 0);
    decoding.leave();
  }, { maxWaitMs: 60_000, deadlineMs: 10_000 });
});

Deno.test("over HTTP, a stalled upload does not hold back a lone request's batch", async () => {
  const scope = await Effect.runPromise(Scope.make());
  const calls: Array<Array<number>> = [];
  let stalled: Deno.TcpConn | undefined;
  try {
    const testClock = await Effect.runPromise(
      TestClock.make({ warningDelay: "1 hour" }).pipe(Scope.provide(scope)),
    );
    const service = await Effect.runPromise(
      serveDetector(standIn({ calls }), { port: 0, batch: { maxWaitMs: WINDOW_MS } }).pipe(
        Effect.provideService(Clock.Clock, testClock),
        Scope.provide(scope),
      ),
    );
    // Headers and half of a JSON body, then nothing more.
    stalled = await Deno.connect({ hostname: "127.0.0.1", port: service.port });
    await stalled.write(new TextEncoder().encode(
      `POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1:${service.port}\r\n` +
        `content-type: application/json\r\ncontent-length: 5000\r\n\r\n{"images": ["`,
    ));
    await turns();
    const answer = await within(
      fetch(`${service.url}/v1/score`, {
        method: "POST",
        headers: { "content-type": "image/png" },
        body: await png(70),
      }),
      10_000,
      "answering a lone request while another upload is stalled",
    );
    assert.equal(answer.status, 200);
    const body = await answer.json() as { results: Array<{ score: number }> };
    assert.equal(body.results[0]!.score, 70 / 255);
    assert.deepEqual(calls.slice(1), [[70]]); // after the warm-up's blank image
    assert.equal(testClock.currentTimeMillisUnsafe(), 0);
  } finally {
    stalled?.close();
    await Effect.runPromise(Scope.close(scope, Exit.void));
  }
});
