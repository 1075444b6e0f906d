/**
 * onnxruntime sessions on their own worker (`lib/models/onnx_session.ts`, the default) against
 * sessions on the calling thread: the same outputs to the last bit, feeds that are views of a
 * larger buffer left intact, concurrent runs answered in their own order, and typed errors for
 * a model onnxruntime cannot load and a run it refuses.
 */
import assert from "node:assert/strict";
import { Cause, Effect, Exit, Fiber, Scope } from "effect";
import { readOnnxFile } from "../lib/models/onnx.ts";
import { encodeOnnx } from "../lib/models/onnx_graph.ts";
import {
  type OnnxSession,
  onnxSession,
  OnnxThreads,
  runSession,
  sessionMemo,
} from "../lib/models/onnx_session.ts";

const FOREIGN = new URL("../fixtures/models/foreign/foreign.onnx", import.meta.url).pathname;
const bytes = encodeOnnx(await Effect.runPromise(readOnnxFile(FOREIGN)));
const OUTPUTS = ["early", "penultimate", "logits"];
const PER_IMAGE = 28 * 28;

/** `count` seeded images (NCHW, one channel) inside a larger buffer, at an offset. */
const images = (count: number, seed: number) => {
  const buffer = new Float32Array((count + 7) * PER_IMAGE);
  let state = seed;
  for (let i = 0; i < buffer.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    buffer[i] = (state >>> 8) / 2 ** 24;
  }
  return {
    data: buffer.subarray(3 * PER_IMAGE, (3 + count) * PER_IMAGE),
    shape: [count, 1, 28, 28],
  };
};

const withSession = <A, E>(
  thread: "worker" | "caller",
  use: (session: OnnxSession) => Effect.Effect<A, E>,
) => Effect.runPromise(Effect.scoped(Effect.flatMap(onnxSession(FOREIGN, bytes, { thread }), use)));

Deno.test("a session on its worker gives the calling thread's outputs to the last bit", async () => {
  const x = images(37, 1);
  const before = x.data.slice();
  const run = (session: OnnxSession) => runSession(session, "image", x, OUTPUTS);
  const onWorker = await withSession("worker", run);
  const onCaller = await withSession("caller", run);
  assert.deepEqual(x.data, before, "the feed (a view of a larger buffer) is left as it was");
  assert.equal(x.data.buffer.byteLength, 44 * PER_IMAGE * 4, "and its buffer is not detached");
  onWorker.forEach((out, i) => {
    assert.deepEqual(out.shape, onCaller[i]!.shape, OUTPUTS[i]!);
    assert.equal(out.data.length, onCaller[i]!.data.length);
    assert.ok(out.data.every((v, j) => Object.is(v, onCaller[i]!.data[j])), OUTPUTS[i]!);
  });
  assert.ok(onWorker[2]!.data.some((v) => v !== 0), "the logits are not all zero");
});

/** The names of this process's threads (Linux: `/proc/self/task/<id>/comm`). */
const threadNames = (): Array<string> =>
  [...Deno.readDirSync("/proc/self/task")].flatMap((task) => {
    try {
      return [Deno.readTextFileSync(`/proc/self/task/${task.name}/comm`).trim()];
    } catch {
      return []; // ended meanwhile
    }
  });

/**
 * The threads of the newest web worker: Deno names a worker's thread `worker-<n>`, and the
 * threads it starts (onnxruntime's intra-op pool) inherit its name. Counted by name, not as all
 * the process's threads, whose number others change at any time (the runtime's blocking pool,
 * workers of earlier tests or modules ending).
 */
const newestWorkerThreads = (): number => {
  const names = threadNames();
  const newest = Math.max(...names.map((n) => Number(/^worker-(\d+)$/.exec(n)?.[1] ?? -1)));
  return names.filter((n) => n === `worker-${newest}`).length;
};

Deno.test("two intra-op threads (the context's OnnxThreads) give one thread's outputs to the last bit", async () => {
  const x = images(300, 2);
  const withThreads = (threads: number) =>
    Effect.runPromise(
      Effect.scoped(
        Effect.flatMap(
          onnxSession(FOREIGN, bytes),
          (session) =>
            Effect.map(runSession(session, "image", x, OUTPUTS), (outputs) => ({
              outputs,
              osThreads: newestWorkerThreads(),
            })),
        ),
      ).pipe(Effect.provideService(OnnxThreads, threads)),
    );
  // Not the process's first session: the threads onnxruntime starts once (on the first
  // session's worker, named after it) are not counted below.
  await withThreads(1);
  const { outputs: one, osThreads: withOne } = await withThreads(1);
  const { outputs: two, osThreads: withTwo } = await withThreads(2);
  // The setting reached onnxruntime: its pool holds one more thread (the caller runs the other).
  assert.ok(withOne >= 1, `the session's worker thread: ${threadNames()}`);
  assert.equal(withTwo - withOne, 1, `worker threads: ${withOne} with 1, ${withTwo} with 2`);
  one.forEach((out, i) => {
    assert.equal(out.data.length, two[i]!.data.length);
    const differing = out.data.filter((v, j) => !Object.is(v, two[i]!.data[j])).length;
    assert.equal(differing, 0, `${OUTPUTS[i]!}: ${differing} values differ`);
  });
});

Deno.test("concurrent runs on one worker are each answered with their own outputs", async () => {
  const feeds = [5, 9, 2, 11].map((count, k) => images(count, 10 + k));
  const [together, oneByOne] = await withSession("worker", (session) =>
    Effect.all([
      Effect.all(feeds.map((x) => runSession(session, "image", x, ["logits"])), {
        concurrency: "unbounded",
      }),
      Effect.forEach(feeds, (x) => runSession(session, "image", x, ["logits"])),
    ]));
  together.forEach(([logits], k) => {
    assert.deepEqual(logits!.shape, [feeds[k]!.shape[0], 10]);
    assert.deepEqual(logits!.data, oneByOne[k]![0]!.data, `run ${k}`);
  });
});

Deno.test("bytes onnxruntime cannot load fail with ModelUnreadable, on the worker too", async () => {
  for (const thread of ["worker", "caller"] as const) {
    const exit = await Effect.runPromiseExit(
      Effect.scoped(onnxSession("not-a-model", Uint8Array.of(1, 2, 3, 4), { thread })),
    );
    assert.ok(Exit.isFailure(exit), thread);
    const error = Cause.findErrorOption(exit.cause);
    assert.equal(error._tag, "Some");
    assert.equal((error as { value: { _tag: string } }).value._tag, "ModelUnreadable", thread);
    assert.match(String((error as { value: { message: string } }).value.message), /not-a-model/);
  }
});

Deno.test("a run onnxruntime refuses fails with ModelRunFailed naming the model", async () => {
  for (const thread of ["worker", "caller"] as const) {
    const exit = await Effect.runPromiseExit(Effect.scoped(Effect.flatMap(
      onnxSession(FOREIGN, bytes, { thread }),
      // A feed of the wrong size for the graph's input.
      (session) =>
        runSession(session, "image", { data: new Float32Array(10), shape: [1, 1, 2, 5] }, [
          "logits",
        ]),
    )));
    assert.ok(Exit.isFailure(exit), thread);
    const error = Cause.findErrorOption(exit.cause);
    assert.equal(error._tag, "Some");
    const value = (error as { value: { _tag: string; model: string } }).value;
    assert.equal(value._tag, "ModelRunFailed", thread);
    assert.equal(value.model, FOREIGN);
  }
});

Deno.test("a session used after its scope closed fails with ModelRunFailed, without waiting", async () => {
  const session = await Effect.runPromise(Effect.scoped(onnxSession(FOREIGN, bytes)));
  const exit = await Effect.runPromiseExit(runSession(session, "image", images(2, 3), ["logits"]));
  assert.ok(Exit.isFailure(exit));
  const error = Cause.findErrorOption(exit.cause);
  assert.equal(error._tag, "Some");
  const value = (error as { value: { _tag: string; problem: string } }).value;
  assert.equal(value._tag, "ModelRunFailed");
  assert.match(value.problem, /released/);
});

Deno.test("an interrupted run leaves the session answering the next ones", async () => {
  const x = images(64, 4);
  const [interrupted, after, alone] = await withSession(
    "worker",
    (session) =>
      Effect.gen(function* () {
        const fiber = yield* Effect.forkChild(runSession(session, "image", x, ["logits"]));
        const interrupted = yield* Effect.exit(Fiber.interrupt(fiber));
        const after = yield* runSession(session, "image", x, ["logits"]);
        const alone = yield* runSession(session, "image", x, ["logits"]);
        return [interrupted, after, alone] as const;
      }),
  );
  assert.ok(Exit.isSuccess(interrupted));
  assert.deepEqual(after[0]!.data, alone[0]!.data);
});

Deno.test("sessionMemo opens a key once, however many callers ask at the same time", async () => {
  let opens = 0;
  const sessions = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const scope = yield* Effect.scope;
    const memo = sessionMemo<unknown>();
    const open = Effect.suspend(() => {
      opens++;
      return Effect.provideService(onnxSession(FOREIGN, bytes), Scope.Scope, scope);
    });
    return yield* Effect.all(Array.from({ length: 4 }, () => memo("cut", open)), {
      concurrency: "unbounded",
    });
  })));
  assert.equal(opens, 1);
  assert.ok(sessions.every((s) => s === sessions[0]));
});
