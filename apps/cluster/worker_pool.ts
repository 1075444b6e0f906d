/**
 * The runner's scoring workers (`score_worker.ts`): each opens the fitted detector once; a chunk
 * goes to an idle worker and its answer comes back as the `Score` reply. Workers are terminated
 * when the runner's scope closes.
 *
 * @module
 */
import { Data, Effect, Queue, type Scope } from "effect";
import { ChunkFailed, chunkKey } from "./protocol.ts";
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
  folder: string,
  size: number,
): Effect.Effect<ScoringPool, ScoringWorkerFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const idle = yield* Queue.unbounded<Handle>();
    let markBroken: (error: ScoringWorkerFailed) => void = () => {};
    const brokenOnce = new Promise<ScoringWorkerFailed>((done) => (markBroken = done));
    let version = "";
    let opened = folder;
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
        handle.worker.postMessage({ type: "open", folder } satisfies WorkerRequest);
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
    const score = (chunk: Chunk, runner: string) =>
      Effect.acquireUseRelease(
        Queue.take(idle),
        (handle) =>
          Effect.callback<WorkerReply>((resume) => {
            const id = nextId++;
            handle.pending.set(id, (reply) => resume(Effect.succeed(reply)));
            handle.worker.postMessage({ type: "score", id, chunk, runner } satisfies WorkerRequest);
          }).pipe(
            Effect.timeoutOrElse({
              duration: CHUNK_LIMIT,
              orElse: () => {
                const problem = `a scoring worker gave no answer within ${CHUNK_LIMIT}`;
                markBroken(new ScoringWorkerFailed({ folder, problem }));
                return Effect.succeed<WorkerReply>({
                  type: "chunk-failed",
                  id: -1,
                  chunk: chunkKey(chunk),
                  problem,
                });
              },
            }),
          ),
        (handle) => Queue.offer(idle, handle),
      ).pipe(
        Effect.flatMap((reply) =>
          reply.type === "scored"
            ? Effect.succeed({
              images: reply.images,
              invalid: reply.invalid,
              seconds: reply.seconds,
            })
            : Effect.fail(
              new ChunkFailed({
                chunk: reply.type === "chunk-failed" ? reply.chunk : chunkKey(chunk),
                problem: reply.type === "chunk-failed" ? reply.problem : "unexpected answer",
              }),
            )
        ),
      );
    const broken = Effect.flatMap(
      Effect.promise(() => brokenOnce),
      (error) => Effect.fail(error),
    );
    return { version, folder: opened, score, broken };
  });
