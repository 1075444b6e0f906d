/**
 * Micro-batching: images of concurrent requests are scored together. A batch holds at most
 * `maxBatchImages` images (a single request with more goes alone, whole). Requests announce
 * themselves when they arrive (`arrive()`), before their bodies are read and decoded: queued
 * images wait (at most `maxWaitMs`) only while other announced requests are still decoding, so
 * a lone request is scored at once and a burst is scored together. While a batch is being
 * scored, new requests queue, and the next batch starts when the current one ends. Each request
 * gets back exactly its own images' scores, in order.
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

/** Defaults: up to 64 images a batch, at most 5 ms of waiting for requests being decoded. */
export const DEFAULT_MICRO_BATCH: BatchOptions = { maxBatchImages: 64, maxWaitMs: 5 };

/** A request known to the batcher from its arrival: it submits its images once, or leaves. */
export interface Arrival<E> {
  /** Score `count` images (NHWC uint8 at the detector's shape) within some batch. */
  readonly submit: (
    pixels: Uint8Array,
    count: number,
  ) => Effect.Effect<ImageScores, E | Refusal>;
  /** The request will submit nothing (refused, or done); idempotent. */
  readonly leave: () => void;
}

/** A scorer that batches concurrent submissions. */
export interface Batcher<E> {
  /** Announce a request whose images are on their way (call before reading its body). */
  readonly arrive: () => Arrival<E>;
  /** Score `count` images within some batch (`arrive().submit` for a request not announced). */
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
    /** Announced requests that have not submitted or left yet. */
    let arriving = 0;
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
      if (pending.length > 0) schedule();
      else idle?.();
    };

    /** Run now when the batch is full or nobody else is on the way; else wait for them. */
    const schedule = () => {
      if (running || pending.length === 0) return;
      if (pendingImages >= options.maxBatchImages || arriving === 0 || closed) {
        if (timer !== undefined) clearTimeout(timer);
        timer = setTimeout(run, 0);
      } else if (timer === undefined) {
        timer = setTimeout(run, options.maxWaitMs);
      }
    };

    const enqueue = (
      pixels: Uint8Array,
      count: number,
      done: (result: Effect.Effect<ImageScores, E | Refusal>) => void,
    ) => {
      if (closed) {
        done(
          Effect.fail(
            new Refusal({ code: "shutting_down", problem: "the service is shutting down" }),
          ),
        );
        return;
      }
      pending.push({ pixels, count, done });
      pendingImages += count;
    };

    const arrive = (): Arrival<E> => {
      arriving += 1;
      let here = true;
      const leave = () => {
        if (!here) return;
        here = false;
        arriving -= 1;
        schedule();
      };
      return {
        submit: (pixels, count) =>
          Effect.callback<ImageScores, E | Refusal>((resume) => {
            enqueue(pixels, count, resume);
            leave();
            schedule();
          }),
        leave,
      };
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
      arrive,
      submit: (pixels, count) => Effect.suspend(() => arrive().submit(pixels, count)),
      queued: () => pendingImages,
    };
    return batcher;
  });
