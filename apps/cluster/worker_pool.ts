/**
 * The runner's workers (`score_worker.ts`): each opens the fitted detector once (when the runner
 * serves one); a chunk (scoring or fit) goes to an idle worker and its answer comes back as the
 * `Score` or `Fit` reply. Workers are terminated when the runner's scope closes.
 *
 * @module
 */
import { Data, Effect, Queue, type Scope } from "effect";
import type { FitChunk } from "./fit_chunk.ts";
import { ChunkFailed, chunkKey, fitChunkKey } from "./protocol.ts";
import type { Chunk } from "./score_chunk.ts";
import type { WorkerReply, WorkerRequest } from "./score_worker.ts";

/** A scoring worker could not open the fitted detector. */
export class ScoringWorkerFailed extends Data.TaggedError("ScoringWorkerFailed")<{
  readonly folder: string;
  readonly problem: string;
}> {
  override get message(): string {
    return `A scoring worker cannot open the fitted detector "${this.folder}": ${this.problem}`;
  }
}

/** Scores chunks on the pool's workers. */
export interface ScoringPool {
  /** The detector's version (what a job's plan must name). */
  readonly version: string;
  readonly folder: string;
  readonly score: (
    chunk: Chunk,
    runner: string,
  ) => Effect.Effect<{ images: number; invalid: number; seconds: number }, ChunkFailed>;
  /** Map one chunk of a distributed fit (`fit_chunk.ts`). */
  readonly fit: (
    chunk: FitChunk,
  ) => Effect.Effect<{ images: number; rows: number; seconds: number }, ChunkFailed>;
  /**
   * Fails when a worker has stopped or hangs (no answer within `CHUNK_LIMIT`): the runner must
   * then leave the cluster, so that its shards, and the chunk, move to a runner that works.
   */
  readonly broken: Effect.Effect<never, ScoringWorkerFailed>;
}

/** The longest a worker may take over one chunk before the runner counts it as hung. */
const CHUNK_LIMIT = "30 minutes";

interface Handle {
  readonly worker: Worker;
  readonly pending: Map<number, (reply: WorkerReply) => void>;
}

/** Start `size` workers, each with the detector in `folder` open; stopped with the scope. */
export const scoringPool = (
  detector: string | undefined,
  size: number,
): Effect.Effect<ScoringPool, ScoringWorkerFailed, Scope.Scope> =>
  Effect.gen(function* () {
    // Names the pool in errors: the detector folder, or what a fit-only runner is.
    const folder = detector ?? "(none: fit chunks only)";
    const idle = yield* Queue.unbounded<Handle>();
    let markBroken: (error: ScoringWorkerFailed) => void = () => {};
    const brokenOnce = new Promise<ScoringWorkerFailed>((done) => (markBroken = done));
    let version = "";
    let opened = detector ?? "";
    let nextId = 0;
    for (let k = 0; k < size; k++) {
      const handle = yield* Effect.acquireRelease(
        Effect.sync((): Handle => {
          const worker = new Worker(new URL("./score_worker.ts", import.meta.url).href, {
            type: "module",
          });
          return { worker, pending: new Map() };
        }),
        (handle) => Effect.sync(() => handle.worker.terminate()),
      );
      const reply = yield* Effect.callback<WorkerReply>((resume) => {
        handle.worker.onmessage = (event: MessageEvent<WorkerReply>) => {
          const reply = event.data;
          if (reply.type === "opened" || reply.type === "open-failed") {
            resume(Effect.succeed(reply));
            return;
          }
          const done = handle.pending.get(reply.id);
          handle.pending.delete(reply.id);
          done?.(reply);
        };
        handle.worker.onerror = (event) => {
          event.preventDefault();
          const problem = `the worker stopped: ${event.message}`;
          resume(Effect.succeed({ type: "open-failed", problem }));
          markBroken(new ScoringWorkerFailed({ folder, problem }));
          for (const [id, done] of handle.pending) {
            done({ type: "chunk-failed", id, chunk: "?", problem });
          }
          handle.pending.clear();
        };
        handle.worker.postMessage({ type: "open", folder: detector } satisfies WorkerRequest);
      }).pipe(
        Effect.timeoutOrElse({
          duration: "10 minutes",
          orElse: () =>
            Effect.succeed<WorkerReply>({
              type: "open-failed",
              problem: "the detector did not open within 10 minutes",
            }),
        }),
      );
      if (reply.type !== "opened") {
        return yield* new ScoringWorkerFailed({
          folder,
          problem: reply.type === "open-failed" ? reply.problem : "unexpected answer",
        });
      }
      version = reply.version;
      opened = reply.folder;
      yield* Queue.offer(idle, handle);
    }
    // One request on an idle worker; a worker that does not answer in time marks the pool broken.
    const ask = (
      name: string,
      request: (id: number) => WorkerRequest,
    ): Effect.Effect<WorkerReply, ChunkFailed> =>
      Effect.acquireUseRelease(
        Queue.take(idle),
        (handle) =>
          Effect.callback<WorkerReply>((resume) => {
            const id = nextId++;
            handle.pending.set(id, (reply) => resume(Effect.succeed(reply)));
            handle.worker.postMessage(request(id));
          }).pipe(
            Effect.timeoutOrElse({
              duration: CHUNK_LIMIT,
              orElse: () => {
                const problem = `a worker gave no answer within ${CHUNK_LIMIT}`;
                markBroken(new ScoringWorkerFailed({ folder, problem }));
                return Effect.succeed<WorkerReply>({
                  type: "chunk-failed",
                  id: -1,
                  chunk: name,
                  problem,
                });
              },
            }),
          ),
        (handle) => Queue.offer(idle, handle),
      ).pipe(
        Effect.flatMap((reply) =>
          reply.type === "chunk-failed"
            ? Effect.fail(new ChunkFailed({ chunk: reply.chunk, problem: reply.problem }))
            : Effect.succeed(reply)
        ),
      );
    const unexpected = (name: string) =>
      Effect.fail(new ChunkFailed({ chunk: name, problem: "unexpected answer" }));
    const score = (chunk: Chunk, runner: string) =>
      Effect.flatMap(
        ask(chunkKey(chunk), (id) => ({ type: "score", id, chunk, runner })),
        (reply) =>
          reply.type === "scored"
            ? Effect.succeed({
              images: reply.images,
              invalid: reply.invalid,
              seconds: reply.seconds,
            })
            : unexpected(chunkKey(chunk)),
      );
    const fit = (chunk: FitChunk) =>
      Effect.flatMap(
        ask(fitChunkKey(chunk), (id) => ({ type: "fit", id, chunk })),
        (reply) =>
          reply.type === "fitted"
            ? Effect.succeed({ images: reply.images, rows: reply.rows, seconds: reply.seconds })
            : unexpected(fitChunkKey(chunk)),
      );
    const broken = Effect.flatMap(
      Effect.promise(() => brokenOnce),
      (error) => Effect.fail(error),
    );
    return { version, folder: opened, score, fit, broken };
  });
