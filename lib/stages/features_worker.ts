/**
 * The Web Worker behind `features_pool.ts`: its own tfjs engine on the wasm backend (one per worker,
 * so N workers use N cores; the wasm backend itself runs single-threaded), the classifier
 * loaded from its folder, and forward passes over the shards of pixels the main thread sends.
 *
 * A shard runs through the very same `extractFeatures` as the single-threaded path, so a
 * worker's features are those of the main thread whenever the batches are the same.
 *
 * Protocol (see {@link WorkerRequest} and {@link WorkerReply}): `init` → `ready` | `failed`;
 * `forward` → `result` | `failed` (with the shard's id); `close` → `closed`. Buffers travel by
 * transfer in both directions.
 *
 * @module
 */
import { Cause, Effect, Exit } from "effect";
import { IoError } from "../io/files.ts";
import { Compute, startCompute } from "../compute/compute.ts";
import { loadClassifier, ModelLoadError } from "../model/store.ts";
import { penultimate } from "../model/classifier.ts";
import type { Classifier } from "../model/classifier.ts";
import { extractFeatures } from "./features.ts";

/** Messages from the main thread to a worker. */
export type WorkerRequest =
  | { readonly type: "init"; readonly modelDir: string }
  | {
    readonly type: "forward";
    readonly id: number;
    readonly count: number;
    readonly pixels: Uint8Array;
    readonly batchSize: number;
  }
  | { readonly type: "close" };

/** Messages from a worker to the main thread. */
export type WorkerReply =
  | {
    readonly type: "ready";
    readonly backend: string;
    readonly penultimateDim: number;
    readonly numClasses: number;
  }
  | {
    readonly type: "result";
    readonly id: number;
    readonly penultimate: Float32Array;
    readonly logits: Float32Array;
    /** Milliseconds the worker spent on this shard (for load-balance diagnostics). */
    readonly millis: number;
  }
  | {
    readonly type: "failed";
    /** The shard that failed; undefined when starting the worker failed. */
    readonly id: number | undefined;
    readonly message: string;
    /** The typed error behind the failure, field by field, when it is one of the I/O errors. */
    readonly error?: WorkerIoError;
  }
  | { readonly type: "closed" };

/** A typed I/O error of a worker (loading its model), as plain fields that survive a message. */
export type WorkerIoError =
  | { readonly _tag: "ModelLoadError"; readonly path: string; readonly problem: string }
  | {
    readonly _tag: "IoError";
    readonly path: string;
    readonly operation: string;
    readonly reason: string;
  };

/** The fields of a typed I/O error, to send to the main thread; undefined for other failures. */
const ioFields = (error: unknown): WorkerIoError | undefined =>
  error instanceof ModelLoadError
    ? { _tag: "ModelLoadError", path: error.path, problem: error.problem }
    : error instanceof IoError
    ? { _tag: "IoError", path: error.path, operation: error.operation, reason: error.reason }
    : undefined;

/** The worker's global scope, typed narrowly (the project compiles with the window lib). */
interface WorkerScope {
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(message: WorkerReply, transfer?: Array<Transferable>): void;
  close(): void;
}

const scope = self as unknown as WorkerScope;

/** Text of any failure: a tagged error's message, else its string form. */
const describe = (error: unknown): string => error instanceof Error ? error.message : String(error);

let net: Classifier | undefined;

const init = async (modelDir: string): Promise<WorkerReply> => {
  const { tf, backend } = await Effect.runPromise(startCompute("wasm"));
  const exit = await Effect.runPromiseExit(loadClassifier(tf, modelDir));
  if (Exit.isFailure(exit)) {
    const error = exit.cause.reasons.find(Cause.isFailReason)?.error;
    return {
      type: "failed",
      id: undefined,
      message: error === undefined ? Cause.pretty(exit.cause) : describe(error),
      ...(ioFields(error) === undefined ? {} : { error: ioFields(error)! }),
    };
  }
  net = exit.value.net;
  const dim = net.shapeAt(penultimate(net.spec)).reduce((a, b) => a * b, 1);
  return { type: "ready", backend, penultimateDim: dim, numClasses: net.numClasses };
};

const forward = async (
  request: Extract<WorkerRequest, { type: "forward" }>,
): Promise<WorkerReply> => {
  if (net === undefined) throw new Error("the worker got a shard before its model was loaded");
  // The worker's own tfjs (started when the model loaded) is the pass's Compute service.
  const compute = await Effect.runPromise(startCompute("wasm"));
  const started = performance.now();
  const { features } = await Effect.runPromise(
    extractFeatures(net, {
      name: `shard ${request.id}`,
      count: request.count,
      pixels: request.pixels,
    }, { batchSize: request.batchSize }).pipe(Effect.provideService(Compute, compute)),
  );
  return {
    type: "result",
    id: request.id,
    penultimate: features.penultimate.data,
    logits: features.logits.data,
    millis: performance.now() - started,
  };
};

// Requests are handled one at a time, in order (the main thread sends one shard at a time
// per worker anyway); a chain keeps a slow shard from being overtaken by `close`.
let queue: Promise<void> = Promise.resolve();

scope.onmessage = (event) => {
  const request = event.data;
  queue = queue.then(async () => {
    switch (request.type) {
      case "init":
        try {
          scope.postMessage(await init(request.modelDir));
        } catch (error) {
          scope.postMessage({ type: "failed", id: undefined, message: describe(error) });
        }
        return;
      case "forward":
        try {
          const reply = await forward(request);
          const transfer = reply.type === "result"
            ? [reply.penultimate.buffer as ArrayBuffer, reply.logits.buffer as ArrayBuffer]
            : [];
          scope.postMessage(reply, transfer);
        } catch (error) {
          scope.postMessage({ type: "failed", id: request.id, message: describe(error) });
        }
        return;
      case "close":
        net?.dispose();
        net = undefined;
        scope.postMessage({ type: "closed" });
        scope.close();
        return;
    }
  });
};
