/**
 * The worker that scores chunks, and maps fit chunks, for a runner. Scoring a model batch is
 * synchronous work that holds its thread for seconds on a loaded machine; in the runner's own
 * thread it would also hold the cluster's shard-lock renewals and health pings, and the runner
 * would lose its shards in the middle of every chunk. The worker opens the fitted detector once
 * (when the runner serves one) and works one chunk at a time; the runner's thread only moves
 * messages. A fit chunk opens its job's model and training source once per job (`fit_chunk.ts`).
 *
 * @module
 */
import { Cause, Effect, Exit, Scope } from "effect";
import { Fitted } from "../../mod.ts";
import { ChunkFailed, chunkKey, fitChunkKey } from "./protocol.ts";
import { type Chunk, newScorerState, scoreChunk } from "./score_chunk.ts";
import { type FitChunk, fitChunk, newFitterState } from "./fit_chunk.ts";

/** What the runner sends. */
export type WorkerRequest =
  | { readonly type: "open"; readonly folder: string | undefined }
  | { readonly type: "score"; readonly id: number; readonly chunk: Chunk; readonly runner: string }
  | { readonly type: "fit"; readonly id: number; readonly chunk: FitChunk };

/** What the worker answers. */
export type WorkerReply =
  | { readonly type: "opened"; readonly version: string; readonly folder: string }
  | { readonly type: "open-failed"; readonly problem: string }
  | {
    readonly type: "scored";
    readonly id: number;
    readonly images: number;
    readonly invalid: number;
    readonly seconds: number;
  }
  | {
    readonly type: "fitted";
    readonly id: number;
    readonly images: number;
    readonly rows: number;
    readonly seconds: number;
  }
  | {
    readonly type: "chunk-failed";
    readonly id: number;
    readonly chunk: string;
    readonly problem: string;
  };

const self = globalThis as unknown as {
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
  postMessage: (reply: WorkerReply) => void;
};

const describe = (error: unknown): string => error instanceof Error ? error.message : String(error);

const scope = Effect.runSync(Scope.make());
let detector: Fitted.LoadedDetector | undefined;
const state = newScorerState();
const fitter = newFitterState();
// Requests run one after another (the runner sends one at a time per worker anyway).
let queue: Promise<void> = Promise.resolve();

const handle = async (request: WorkerRequest): Promise<void> => {
  if (request.type === "open") {
    if (request.folder === undefined) {
      // A runner without a detector maps fit chunks only.
      self.postMessage({ type: "opened", version: "", folder: "" });
      return;
    }
    const exit = await Effect.runPromiseExit(
      Scope.provide(Fitted.openFittedDetector(request.folder), scope),
    );
    if (Exit.isSuccess(exit)) {
      detector = exit.value;
      self.postMessage({ type: "opened", version: detector.version, folder: detector.folder });
    } else {
      self.postMessage({ type: "open-failed", problem: describe(Cause.squash(exit.cause)) });
    }
    return;
  }
  if (request.type === "fit") {
    const exit = await Effect.runPromiseExit(fitChunk(fitter, request.chunk));
    if (Exit.isSuccess(exit)) {
      self.postMessage({ type: "fitted", id: request.id, ...exit.value });
    } else {
      const error = Cause.squash(exit.cause);
      self.postMessage({
        type: "chunk-failed",
        id: request.id,
        chunk: error instanceof ChunkFailed ? error.chunk : fitChunkKey(request.chunk),
        problem: error instanceof ChunkFailed ? error.problem : describe(error),
      });
    }
    return;
  }
  if (detector === undefined) {
    self.postMessage({
      type: "chunk-failed",
      id: request.id,
      chunk: chunkKey(request.chunk),
      problem: "this runner serves no fitted detector (start it with --detector DIR to score)",
    });
    return;
  }
  const exit = await Effect.runPromiseExit(
    scoreChunk(detector, state, request.chunk, request.runner),
  );
  if (Exit.isSuccess(exit)) {
    self.postMessage({ type: "scored", id: request.id, ...exit.value });
  } else {
    const error = Cause.squash(exit.cause);
    self.postMessage({
      type: "chunk-failed",
      id: request.id,
      chunk: error instanceof ChunkFailed ? error.chunk : chunkKey(request.chunk),
      problem: error instanceof ChunkFailed ? error.problem : describe(error),
    });
  }
};

self.onmessage = (event) => {
  queue = queue.then(() => handle(event.data));
};
