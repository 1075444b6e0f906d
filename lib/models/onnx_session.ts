/**
 * One onnxruntime session, on a Web Worker of its own by default (`onnx_worker.ts`):
 * onnxruntime-node runs synchronously on the calling thread, which would serialise the pass
 * with the decoding, search and HTTP work that can overlap it. The worker runs the same
 * onnxruntime with the same settings, so outputs are identical (`docs/internals/models.md`).
 *
 * @module
 */
import * as ort from "onnxruntime-node";
import { Context, Duration, Effect, Scope } from "effect";
import { ModelRunFailed, ModelUnreadable } from "./errors.ts";
import { describeError, type FeatureTensor } from "./model.ts";
import { type OnnxWorkerReply, type OnnxWorkerRequest, runOrt } from "./onnx_worker.ts";

/** Engine settings of an ONNX model. */
export interface OnnxOptions {
  /** onnxruntime intra-op threads (default: the context's {@link OnnxThreads}). */
  readonly threads?: number;
  /** Where sessions run: a Web Worker each (default), or the calling thread (one short pass). */
  readonly thread?: "worker" | "caller";
}

/** An onnxruntime session: float32 feeds in, named float32 outputs back. */
export interface OnnxSession {
  /** The model's name, for errors. */
  readonly name: string;
  /** Run the session: one tensor per name in `outputs`, in that order. */
  readonly run: (
    feeds: ReadonlyArray<readonly [string, FeatureTensor]>,
    outputs: ReadonlyArray<string>,
  ) => Effect.Effect<ReadonlyArray<FeatureTensor>, ModelRunFailed>;
}

/** How long a worker may take to start and load a model before the open fails. */
export const SESSION_OPEN_TIMEOUT: Duration.Duration = Duration.seconds(120);
/** How long one run may take before it fails and the worker is stopped (a hang, not a pass). */
export const SESSION_RUN_TIMEOUT: Duration.Duration = Duration.minutes(10);
/** How long a released session may take to free its memory before its worker is terminated. */
const RELEASE_TIMEOUT = Duration.seconds(10);

/**
 * The intra-op threads of every session opened in this context without its own `threads`:
 * 1 by default, since a pass shares the machine with the caller's other work. Outputs do not
 * depend on it (`tests/onnx_session_test.ts`).
 */
export const OnnxThreads: Context.Reference<number> = Context.Reference<number>(
  "grood/OnnxThreads",
  { defaultValue: () => 1 },
);

const sessionOptions = (threads: number): ort.InferenceSession.SessionOptions => ({
  executionProviders: ["cpu"],
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  graphOptimizationLevel: "all",
  // Idle pool threads sleep: between passes the caller's own work needs the cores.
  extra: { session: { intra_op: { allow_spinning: "0" } } },
});

/** A session on the calling thread. */
const callerSession = (name: string, bytes: Uint8Array, threads: number) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.tryPromise({
        try: () => ort.InferenceSession.create(bytes, sessionOptions(threads)),
        catch: (error) =>
          new ModelUnreadable({ model: name, problem: `onnxruntime: ${describeError(error)}` }),
      }),
      (session) => Effect.promise(() => session.release()),
    ),
    (session): OnnxSession => ({
      name,
      run: (feeds, outputs) =>
        Effect.tryPromise({
          try: () => runOrt(session, feeds, outputs),
          catch: (error) => new ModelRunFailed({ model: name, problem: describeError(error) }),
        }),
    }),
  );

/** A live worker and the runs waiting for its answers. */
interface WorkerLink {
  readonly worker: Worker;
  readonly pending: Map<number, (reply: OnnxWorkerReply) => void>;
  /** Set when the worker died or was released: every later run fails with it. */
  broken?: string;
  /** The session's scope closed (the worker was released on purpose). */
  released: boolean;
  nextId: number;
}

const failedReply = (id: number, reason: string) => ({ type: "failed" as const, id, reason });

/** Answer `id`'s waiting run (−1: the open, −2: the release). */
const settle = (link: WorkerLink, id: number, reply: OnnxWorkerReply) => {
  const waiting = link.pending.get(id);
  link.pending.delete(id);
  waiting?.(reply);
};

/** The worker is gone (died or released): every waiting and later run fails with `reason`. */
const breakLink = (link: WorkerLink, reason: string) => {
  link.broken ??= reason;
  for (const [id] of [...link.pending]) settle(link, id, failedReply(id, link.broken));
};

/** Start a worker; its answers go to the waiting run with the same id (−1: the open). */
const startWorker = (): WorkerLink => {
  const worker = new Worker(new URL("./onnx_worker.ts", import.meta.url), { type: "module" });
  const link: WorkerLink = { worker, pending: new Map(), nextId: 0, released: false };
  worker.onmessage = ({ data: reply }: MessageEvent<OnnxWorkerReply>) =>
    settle(link, reply.type === "opened" ? -1 : reply.type === "released" ? -2 : reply.id, reply);
  worker.onerror = (event) => {
    event.preventDefault();
    breakLink(link, `onnxruntime worker stopped: ${event.message}`);
  };
  worker.onmessageerror = () => breakLink(link, "onnxruntime worker sent an unreadable message");
  return link;
};

/** Terminate the worker; waiting and later runs fail with `reason`. */
const stopWorker = (link: WorkerLink, reason: string) => {
  link.worker.terminate();
  breakLink(link, reason);
};

/** Send a request and wait for the answer with `id`. */
const ask = (
  link: WorkerLink,
  id: number,
  request: OnnxWorkerRequest,
  transfer: Array<ArrayBuffer> = [],
): Effect.Effect<OnnxWorkerReply> =>
  Effect.callback<OnnxWorkerReply>((resume) => {
    if (link.broken !== undefined) return resume(Effect.succeed(failedReply(id, link.broken)));
    link.pending.set(id, (reply) => resume(Effect.succeed(reply)));
    link.worker.postMessage(request, transfer);
    // Interrupted: stop waiting (a run in flight finishes in the worker and is dropped).
    return Effect.sync(() => link.pending.delete(id));
  });

/** `ask`, failing after `timeout` (and stopping the worker: it is not trusted again). */
const askWithin = (
  link: WorkerLink,
  id: number,
  request: OnnxWorkerRequest,
  timeout: Duration.Duration,
  late: string,
  transfer: Array<ArrayBuffer> = [],
): Effect.Effect<OnnxWorkerReply> =>
  ask(link, id, request, transfer).pipe(Effect.timeoutOrElse({
    duration: timeout,
    orElse: () =>
      Effect.sync(() => {
        const reason = `${late} within ${Duration.format(timeout)}`;
        stopWorker(link, reason);
        return failedReply(id, reason);
      }),
  }));

/** A session on a Web Worker of its own, released (and the worker terminated) with the scope. */
const workerSession = (name: string, bytes: Uint8Array, threads: number) =>
  Effect.gen(function* () {
    const link = yield* Effect.acquireRelease(
      Effect.sync(startWorker),
      (link) =>
        ask(link, -2, { type: "release" }).pipe(
          Effect.timeoutOption(RELEASE_TIMEOUT),
          Effect.ensuring(Effect.sync(() => {
            link.released = true;
            stopWorker(link, "the session was released (its scope is closed)");
          })),
        ),
    );
    const opened = yield* askWithin(
      link,
      -1,
      { type: "open", bytes, options: sessionOptions(threads) },
      SESSION_OPEN_TIMEOUT,
      "the onnxruntime worker did not open the model",
    );
    if (link.released) {
      // Opened in a scope that is already closed: the model was used after its release.
      return yield* new ModelRunFailed({ model: name, problem: link.broken ?? "released" });
    }
    if (opened.type === "failed" || link.broken !== undefined) {
      // No worker outlives a failed open (the scope may be the model's, open for long).
      stopWorker(link, "the model could not be opened");
      const reason = opened.type === "failed" ? opened.reason : link.broken;
      return yield* new ModelUnreadable({ model: name, problem: `onnxruntime: ${reason}` });
    }
    return {
      name,
      run: (feeds, outputs) =>
        Effect.suspend(() => {
          const id = link.nextId++;
          // A copy of each feed's own bytes (a view of a larger buffer would clone all of it).
          const wire = feeds.map(([feed, x]) =>
            [feed, { data: x.data.slice(), shape: [...x.shape] }] as const
          );
          return Effect.flatMap(
            askWithin(
              link,
              id,
              { type: "run", id, feeds: wire, outputs },
              SESSION_RUN_TIMEOUT,
              "no answer from the onnxruntime worker",
              wire.map(([, t]) => t.data.buffer as ArrayBuffer),
            ),
            (reply) =>
              reply.type === "ran"
                ? Effect.succeed(reply.outputs.map((o) => ({ data: o.data, shape: [...o.shape] })))
                : Effect.fail(
                  new ModelRunFailed({
                    model: name,
                    problem: reply.type === "failed" ? reply.reason : `unexpected ${reply.type}`,
                  }),
                ),
          );
        }),
    } satisfies OnnxSession;
  });

/** One onnxruntime session over ONNX bytes, released with the scope. */
export const onnxSession = (
  name: string,
  bytes: Uint8Array,
  options: OnnxOptions = {},
): Effect.Effect<OnnxSession, ModelUnreadable | ModelRunFailed, Scope.Scope> =>
  Effect.flatMap(
    options.threads === undefined ? OnnxThreads.useSync((n) => n) : Effect.succeed(options.threads),
    (threads) =>
      (options.thread ?? "worker") === "worker"
        ? workerSession(name, bytes, threads)
        : callerSession(name, bytes, threads),
  );

/** Sessions opened once per key, even by concurrent callers; a failed open stays failed. */
export const sessionMemo = <E>(): (
  key: string,
  open: Effect.Effect<OnnxSession, E>,
) => Effect.Effect<OnnxSession, E> => {
  const opening = new Map<string, Effect.Effect<OnnxSession, E>>();
  return (key, open) =>
    Effect.suspend(() => {
      let known = opening.get(key);
      if (known === undefined) {
        known = Effect.runSync(Effect.cached(open));
        opening.set(key, known);
      }
      return known;
    });
};

/** Run a session on one float32 feed. */
export const runSession = (
  session: OnnxSession,
  feed: string,
  x: FeatureTensor,
  outputs: ReadonlyArray<string>,
): Effect.Effect<ReadonlyArray<FeatureTensor>, ModelRunFailed> => session.run([[feed, x]], outputs);
