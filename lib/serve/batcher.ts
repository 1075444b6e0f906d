/**
 * Micro-batching: images of concurrent requests are scored together. A request waits at most
 * `maxWaitMs` for others to join it; a batch holds at most `maxBatchImages` images (a single
 * request with more goes alone, whole). While a batch is being scored, new requests queue, and
 * the next batch starts as soon as the current one ends. Each request gets back exactly its own
 * images' scores, in order.
 *
 * @module
 */
import { Cause, Effect, Exit } from "effect";
import type { ImageScores, ServedDetector } from "./detector.ts";
import { Refusal } from "./limits.ts";

/** Bounds of a micro-batch. */
export interface BatchOptions {
  /** Most images scored in one call (requests are never split). */
  readonly maxBatchImages: number;
  /** Longest a request waits for others before its batch runs. */
  readonly maxWaitMs: number;
}

/** Defaults: up to 64 images a batch, 2 ms of waiting. */
export const DEFAULT_MICRO_BATCH: BatchOptions = { maxBatchImages: 64, maxWaitMs: 2 };

/** A scorer that batches concurrent submissions. */
export interface Batcher<E> {
  /** Score `count` images (NHWC uint8 at the detector's shape) within some batch. */
  readonly submit: (
    pixels: Uint8Array,
    count: number,
  ) => Effect.Effect<ImageScores, E | Refusal>;
  /** Images waiting for a batch. */
  readonly queued: () => number;
}

interface Job<E> {
  readonly pixels: Uint8Array;
  readonly count: number;
  readonly done: (result: Effect.Effect<ImageScores, E | Refusal>) => void;
}

/** Take rows `[from, from + count)` of a batch's scores. */
function slice(scores: ImageScores, from: number, count: number): ImageScores {
  return {
    scores: scores.scores.slice(from, from + count),
    predicted: scores.predicted.slice(from, from + count),
    isOod: scores.isOod.slice(from, from + count),
  };
}

/**
 * A batcher over `detector`, open for the life of the scope; `onBatch` sees each batch's size and
 * duration. Closing the scope scores what is queued, then refuses new submissions (503).
 */
export const makeBatcher = <E>(
  detector: ServedDetector<E>,
  options: BatchOptions = DEFAULT_MICRO_BATCH,
  onBatch: (images: number, seconds: number) => void = () => {},
) =>
  Effect.gen(function* () {
    const pending: Array<Job<E>> = [];
    let pendingImages = 0;
    let running = false;
    let closed = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let idle: (() => void) | undefined;

    const run = async () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (running || pending.length === 0) return;
      running = true;
      const jobs: Array<Job<E>> = [];
      let images = 0;
      while (
        pending.length > 0 &&
        (jobs.length === 0 || images + pending[0]!.count <= options.maxBatchImages)
      ) {
        const job = pending.shift()!;
        jobs.push(job);
        images += job.count;
      }
      pendingImages -= images;
      const per = jobs[0]!.pixels.length / jobs[0]!.count;
      const pixels = jobs.length === 1 ? jobs[0]!.pixels : new Uint8Array(images * per);
      if (jobs.length > 1) {
        let offset = 0;
        for (const job of jobs) {
          pixels.set(job.pixels, offset);
          offset += job.pixels.length;
        }
      }
      const started = performance.now();
      const exit = await Effect.runPromiseExit(detector.scoreImages(pixels, images));
      onBatch(images, (performance.now() - started) / 1000);
      let from = 0;
      for (const job of jobs) {
        job.done(
          Exit.isSuccess(exit)
            ? Effect.succeed(slice(exit.value, from, job.count))
            : Effect.failCause(exit.cause as Cause.Cause<E>),
        );
        from += job.count;
      }
      running = false;
      if (pending.length > 0) {
        // Let the requests that arrived meanwhile join, then run at once: they have waited.
        timer = setTimeout(run, 0);
      } else {
        idle?.();
      }
    };

    const schedule = () => {
      if (running) return;
      if (pendingImages >= options.maxBatchImages) {
        if (timer !== undefined) clearTimeout(timer);
        timer = setTimeout(run, 0);
      } else if (timer === undefined) {
        timer = setTimeout(run, options.maxWaitMs);
      }
    };

    yield* Effect.addFinalizer(() =>
      Effect.promise(() => {
        closed = true;
        if (!running && pending.length === 0) return Promise.resolve();
        return new Promise<void>((resolve) => {
          idle = resolve;
          if (!running) void run();
        });
      })
    );

    const batcher: Batcher<E> = {
      submit: (pixels, count) =>
        Effect.callback<ImageScores, E | Refusal>((resume) => {
          if (closed) {
            resume(
              Effect.fail(
                new Refusal({ code: "shutting_down", problem: "the service is shutting down" }),
              ),
            );
            return;
          }
          pending.push({ pixels, count, done: resume });
          pendingImages += count;
          schedule();
        }),
      queued: () => pendingImages,
    };
    return batcher;
  });
