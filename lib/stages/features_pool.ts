/**
 * Data-parallel forward passes: a pool of Web Workers (`features_worker.ts`), each with its own
 * tfjs engine on the wasm backend and its own copy of the classifier, loaded from the model's
 * folder. The wasm backend runs single-threaded, so this is how a forward pass uses more than
 * one core.
 *
 * The main thread cuts a set's pixels into contiguous shards (a whole number of batches each,
 * so every image is computed in the same batch as on the single-threaded path), hands the
 * next shard to whichever worker is free (copies of the pixels, transferred, so the caller's
 * set is never detached), and writes each shard's penultimate features and logits back at its
 * offset, so the result is in the set's order whatever order the shards finish in.
 *
 * @example Features of a set on two workers
 * ```ts ignore
 * import { Effect } from "effect";
 * import { forwardPool } from "./features_pool.ts";
 * const features = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
 *   const pool = yield* forwardPool({ modelDir: "fixtures/models/mnist", workers: 2 });
 *   return yield* pool.extract(set);
 * })));
 * ```
 *
 * @module
 */
import { Data, Effect } from "effect";
import type { Scope } from "effect";
import { IMAGE_SIZE, type ImageSet } from "../data/images.ts";
import { matrix } from "../matrix.ts";
import type { SetFeatures } from "./features.ts";
import type { WorkerIoError, WorkerReply, WorkerRequest } from "./features_worker.ts";
import { IoError } from "../io/files.ts";
import { ModelLoadError } from "../model/store.ts";

/** A forward worker could not start, failed on a shard, or crashed. */
export class ForwardWorkerError extends Data.TaggedError("ForwardWorkerError")<{
  /** Index of the worker in its pool. */
  readonly worker: number;
  readonly stage: "start" | "forward" | "crash" | "closed";
  readonly reason: string;
  /** The worker's typed I/O error (e.g. its model folder cannot be read), when there is one. */
  readonly error?: ModelLoadError | IoError;
}> {
  override get message(): string {
    const what = {
      start: "could not start",
      forward: "failed on a shard",
      crash: "crashed",
      closed: "is closed",
    }[this.stage];
    return `Forward worker ${this.worker} ${what}: ${this.reason}`;
  }
}

/** The typed error a worker sent as fields. */
const reviveIoError = (fields: WorkerIoError): ModelLoadError | IoError =>
  fields._tag === "ModelLoadError"
    ? new ModelLoadError({ path: fields.path, problem: fields.problem })
    : new IoError({ path: fields.path, operation: fields.operation, reason: fields.reason });

/** Options of a pool. */
export interface ForwardPoolOptions {
  /** Folder of the saved classifier (`saveClassifier`'s output), read by every worker. */
  readonly modelDir: string;
  /** Number of workers (default: the number of logical cores). */
  readonly workers?: number;
}

/** Options of one pass over a set. */
export interface PoolExtractOptions {
  /** Images per forward batch inside a worker (default 500, as `extractFeatures`). */
  readonly batchSize?: number;
  /**
   * Images per shard, rounded up to a whole number of batches (default: the set split evenly
   * across the workers, one shard each). Smaller shards balance uneven workers better and
   * cost one message round trip each.
   */
  readonly shardSize?: number;
  /** Called as shards complete, with the number of images done. */
  readonly onProgress?: (done: number, total: number) => void;
}

/** Per-shard timing of the last pass (to see whether the workers were balanced). */
export interface ShardTiming {
  readonly worker: number;
  readonly start: number;
  readonly count: number;
  readonly millis: number;
}

/** A started pool of forward workers. */
export interface ForwardPool {
  /** Number of workers. */
  readonly size: number;
  /** Size of the penultimate feature. */
  readonly penultimateDim: number;
  readonly numClasses: number;
  /**
   * Penultimate features and logits of every image of `set`, in order (labels carried over),
   * like `extractFeatures` without class sums. Passes on one pool run one after another.
   */
  readonly extract: (
    set: ImageSet,
    options?: PoolExtractOptions,
  ) => Effect.Effect<SetFeatures, ForwardWorkerError>;
  /** Shard timings of the last completed pass. */
  readonly lastTimings: () => ReadonlyArray<ShardTiming>;
  /**
   * Ask every idle worker to free its model and close, then terminate every worker (a pass
   * still running fails with a `closed` error). Idempotent.
   */
  readonly dispose: () => Promise<void>;
}

/** How long `dispose` waits for a worker to acknowledge `close` before terminating it. */
const CLOSE_TIMEOUT_MS = 2000;

/** One worker and the reply it is waiting for (at most one request is in flight). */
interface Slot {
  readonly index: number;
  readonly worker: Worker;
  waiting: ((reply: WorkerReply) => void) | undefined;
  /** Set once the worker crashed or was closed: every later request fails with it. */
  dead: ForwardWorkerError | undefined;
}

const send = (
  slot: Slot,
  request: WorkerRequest,
  transfer: Array<Transferable> = [],
): Promise<WorkerReply> =>
  new Promise((resolve, reject) => {
    if (slot.dead !== undefined) return reject(slot.dead);
    slot.waiting = resolve;
    slot.worker.postMessage(request, transfer);
  });

const spawn = (index: number): Slot => {
  const worker = new Worker(new URL("./features_worker.ts", import.meta.url).href, {
    type: "module",
  });
  const slot: Slot = { index, worker, waiting: undefined, dead: undefined };
  worker.onmessage = (event: MessageEvent<WorkerReply>) => {
    const resolve = slot.waiting;
    slot.waiting = undefined;
    resolve?.(event.data);
  };
  const die = (reason: string) => {
    slot.dead = new ForwardWorkerError({ worker: index, stage: "crash", reason });
    const resolve = slot.waiting;
    slot.waiting = undefined;
    resolve?.({ type: "failed", id: -1, message: reason });
    worker.terminate();
  };
  worker.onerror = (event: ErrorEvent) => {
    // Without preventDefault an uncaught error in a worker takes the whole process down.
    event.preventDefault();
    die(event.message || String(event.error));
  };
  worker.onmessageerror = () => die("a message from the worker could not be deserialised");
  return slot;
};

const closeSlot = async (slot: Slot): Promise<void> => {
  if (slot.dead === undefined && slot.waiting === undefined) {
    // Idle: let the worker free its model and close itself, but never wait forever.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      send(slot, { type: "close" }).catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS))),
    ]);
    clearTimeout(timer);
  }
  // Busy (a pass still running) or closed: whatever it was waiting for now fails.
  const closed = new ForwardWorkerError({
    worker: slot.index,
    stage: "closed",
    reason: "the pool was disposed",
  });
  slot.dead ??= closed;
  const resolve = slot.waiting;
  slot.waiting = undefined;
  resolve?.({ type: "failed", id: -1, message: closed.reason });
  slot.worker.terminate();
};

/**
 * Start `workers` forward workers, each loading the classifier in `modelDir` on its own wasm
 * backend. The caller owns the pool and must `dispose()` it (or use {@link forwardPool}).
 */
export const startForwardPool = (
  options: ForwardPoolOptions,
): Effect.Effect<ForwardPool, ForwardWorkerError> =>
  Effect.gen(function* () {
    const count = options.workers ?? navigator.hardwareConcurrency;
    if (!(Number.isInteger(count) && count >= 1)) {
      return yield* new ForwardWorkerError({
        worker: 0,
        stage: "start",
        reason: `the number of workers must be a whole number ≥ 1, got ${count}`,
      });
    }
    const slots = Array.from({ length: count }, (_, i) => spawn(i));
    const disposeAll = () => Promise.all(slots.map(closeSlot)).then(() => undefined);
    // Start every worker at once (each compiles wasm and reads the model), then check them all.
    const replies = yield* Effect.promise(() =>
      Promise.all(slots.map((slot) =>
        send(slot, { type: "init", modelDir: options.modelDir }).catch(
          (error): WorkerReply => ({ type: "failed", id: undefined, message: String(error) }),
        )
      ))
    );
    const failedAt = replies.findIndex((r) => r.type !== "ready");
    if (failedAt >= 0) {
      yield* Effect.promise(disposeAll);
      const reply = replies[failedAt]!;
      return yield* new ForwardWorkerError({
        worker: failedAt,
        stage: "start",
        reason: reply.type === "failed" ? reply.message : `unexpected reply "${reply.type}"`,
        ...(reply.type === "failed" && reply.error !== undefined
          ? { error: reviveIoError(reply.error) }
          : {}),
      });
    }
    const ready = replies[0] as Extract<WorkerReply, { type: "ready" }>;
    const dim = ready.penultimateDim;
    const numClasses = ready.numClasses;

    let timings: ReadonlyArray<ShardTiming> = [];
    // Passes run one after another: a pass abandoned half-way (interrupted) still owns its
    // workers until their shards come back.
    let previous: Promise<unknown> = Promise.resolve();
    let disposed: Promise<void> | undefined;

    const runPass = async (
      set: ImageSet,
      passOptions: PoolExtractOptions,
    ): Promise<SetFeatures | ForwardWorkerError> => {
      const batchSize = passOptions.batchSize ?? 500;
      const wanted = passOptions.shardSize ?? Math.ceil(set.count / count);
      const shardSize = Math.max(1, Math.ceil(wanted / batchSize)) * batchSize;
      const shards: Array<{ start: number; count: number }> = [];
      for (let start = 0; start < set.count; start += shardSize) {
        shards.push({ start, count: Math.min(shardSize, set.count - start) });
      }
      const penultimate = new Float32Array(set.count * dim);
      const logits = new Float32Array(set.count * numClasses);
      const shardTimings: Array<ShardTiming> = [];
      let next = 0;
      let done = 0;
      let failure: ForwardWorkerError | undefined;
      const drain = async (slot: Slot): Promise<void> => {
        while (failure === undefined && next < shards.length) {
          const id = next++;
          const shard = shards[id]!;
          // A copy (slice) is transferred: the caller's pixels stay usable.
          const pixels = set.pixels.slice(
            shard.start * IMAGE_SIZE,
            (shard.start + shard.count) * IMAGE_SIZE,
          );
          let reply: WorkerReply;
          try {
            reply = await send(
              slot,
              { type: "forward", id, count: shard.count, pixels, batchSize },
              [pixels.buffer],
            );
          } catch (error) {
            failure ??= error instanceof ForwardWorkerError ? error : new ForwardWorkerError({
              worker: slot.index,
              stage: "forward",
              reason: String(error),
            });
            return;
          }
          if (reply.type !== "result" || reply.id !== id) {
            failure ??= slot.dead ?? new ForwardWorkerError({
              worker: slot.index,
              stage: "forward",
              reason: reply.type === "failed" ? reply.message : `unexpected reply "${reply.type}"`,
            });
            return;
          }
          if (
            reply.penultimate.length !== shard.count * dim ||
            reply.logits.length !== shard.count * numClasses
          ) {
            failure ??= new ForwardWorkerError({
              worker: slot.index,
              stage: "forward",
              reason: `shard ${id} came back with ${reply.penultimate.length} feature values ` +
                `for ${shard.count} images of dimension ${dim}`,
            });
            return;
          }
          penultimate.set(reply.penultimate, shard.start * dim);
          logits.set(reply.logits, shard.start * numClasses);
          shardTimings.push({
            worker: slot.index,
            start: shard.start,
            count: shard.count,
            millis: reply.millis,
          });
          done += shard.count;
          passOptions.onProgress?.(done, set.count);
        }
      };
      await Promise.all(slots.map(drain));
      if (failure !== undefined) return failure;
      timings = shardTimings.sort((a, b) => a.start - b.start);
      const features: SetFeatures = {
        name: set.name,
        count: set.count,
        penultimate: matrix(set.count, dim, penultimate),
        logits: matrix(set.count, numClasses, logits),
        ...(set.labels === undefined ? {} : { labels: set.labels }),
      };
      return features;
    };

    const pool: ForwardPool = {
      size: count,
      penultimateDim: dim,
      numClasses,
      lastTimings: () => timings,
      extract: (set, passOptions = {}) =>
        Effect.flatMap(
          Effect.promise(() => {
            if (disposed !== undefined) {
              return Promise.resolve(
                new ForwardWorkerError({
                  worker: 0,
                  stage: "closed",
                  reason: "the pool was disposed",
                }),
              );
            }
            const pass = previous.then(() => runPass(set, passOptions));
            previous = pass.catch(() => undefined);
            return pass;
          }),
          (result) =>
            result instanceof ForwardWorkerError ? Effect.fail(result) : Effect.succeed(result),
        ),
      dispose: () => (disposed ??= disposeAll()),
    };
    return pool;
  });

/** {@link startForwardPool} in a scope: the pool is disposed when the scope closes. */
export const forwardPool = (
  options: ForwardPoolOptions,
): Effect.Effect<ForwardPool, ForwardWorkerError, Scope.Scope> =>
  Effect.acquireRelease(
    startForwardPool(options),
    (pool) => Effect.promise(() => pool.dispose()),
  );
