/**
 * Micro-batching with admission control: images of concurrent requests are scored together. A
 * batch holds at most `maxBatchImages` images (a single request with more goes alone, whole).
 * Requests announce themselves once their bodies are read (`arrive()`), before decoding: queued
 * images wait (at most `maxWaitMs`) only while other announced requests are still decoding, so a
 * lone request is scored at once, a burst is scored together, and a stalled upload (not yet
 * announced) delays nobody. While a batch is being scored, new requests queue, and the next batch
 * starts when the current one ends. Each request gets back exactly its own images' scores.
 *
 * Admission: at most `maxQueuedImages` images may be admitted and not yet scored (being decoded or
 * waiting for a batch); a request that would exceed it is refused as soon as its image count is
 * known, before any decoding (`overloaded`, 503 + `Retry-After`). A queued request whose deadline passes
 * (`deadline_exceeded`) or whose client has gone (its `AbortSignal`, `client_disconnected`) leaves
 * the queue and is never scored.
 *
 * Time: the window, the deadlines and the durations come from the `Clock` of the context
 * (Effect's), so a test on a `TestClock` sees which batches go before any window could elapse.
 *
 * Isolation: when a batch of several requests fails, each request is scored again alone, image by
 * image when it fails on a non-finite output (`batch_isolation.ts`), so one client's bad image
 * never fails another's request.
 *
 * @module
 */
import { clearImmediate, setImmediate } from "node:timers";
import { Clock, Duration, Effect, Exit } from "effect";
import { type RequestScores, scoreAlone, type ScoreCall, sliceScores } from "./batch_isolation.ts";
import type { ServedDetector } from "./detector.ts";
import { Refusal } from "./limits.ts";

export type { RequestScores } from "./batch_isolation.ts";

/** Bounds of a micro-batch and of the queue. */
export interface BatchOptions {
  /** Most images scored in one call (requests are never split). */
  readonly maxBatchImages: number;
  /** Longest a request waits for others before its batch runs. */
  readonly maxWaitMs: number;
  /** Most images admitted and not yet in a batch (decoding or queued); beyond, 503. */
  readonly maxQueuedImages: number;
  /** Longest from a request's arrival (its body read) to its batch; then it is refused (503). */
  readonly deadlineMs: number;
}

/**
 * Defaults: batches of up to 64 images, at most 5 ms of waiting for requests being decoded, a
 * queue of 1,024 images, a 10 s deadline.
 */
export const DEFAULT_MICRO_BATCH: BatchOptions = {
  maxBatchImages: 64,
  maxWaitMs: 5,
  maxQueuedImages: 1024,
  deadlineMs: 10_000,
};

/** A request known to the batcher from its arrival: it submits its images once, or leaves. */
export interface Arrival<E> {
  /**
   * Admit `count` images before decoding them: fails with `overloaded` when they would take the
   * images admitted and not yet scored beyond the bound.
   */
  readonly admit: (count: number) => Effect.Effect<void, Refusal>;
  /**
   * Score `count` images (NHWC uint8 at the detector's shape) within some batch; `signal`
   * aborting (the client went away) takes them out of the queue unscored.
   */
  readonly submit: (
    pixels: Uint8Array,
    count: number,
    signal?: AbortSignal,
  ) => Effect.Effect<RequestScores, E | Refusal>;
  /** The request will submit nothing (refused, or done); idempotent. */
  readonly leave: () => void;
}

/** A scorer that batches concurrent submissions. */
export interface Batcher<E> {
  /**
   * Announce a request whose images are being decoded (call once its body is read); `arrivedAt`
   * (the clock's monotonic milliseconds, default now) starts its deadline.
   */
  readonly arrive: (arrivedAt?: number) => Arrival<E>;
  /** Score `count` images within some batch (`arrive().submit` for a request not announced). */
  readonly submit: (
    pixels: Uint8Array,
    count: number,
    signal?: AbortSignal,
  ) => Effect.Effect<RequestScores, E | Refusal>;
  /** Images waiting for a batch. */
  readonly queued: () => number;
  /** True when the bound is reached: a new request would be refused. */
  readonly full: () => boolean;
}

interface Job<E> {
  readonly pixels: Uint8Array;
  readonly count: number;
  /** When it entered the queue (the clock's monotonic milliseconds). */
  readonly enqueuedAt: number;
  /** When it is refused unscored (`deadline_exceeded`), on the same clock. */
  readonly deadline: number;
  readonly done: (result: Effect.Effect<RequestScores, E | Refusal>) => void;
  /** Take the job out of the queue's listeners. */
  readonly forget: () => void;
  /** Take the job out of the queue (unscored) with `result`, if it is still there. */
  readonly drop: (result: Effect.Effect<RequestScores, Refusal>) => void;
}

/**
 * A batcher over `detector`, open for the life of the scope; `onBatch` sees each scoring call's
 * size and duration. Closing the scope scores what is queued, then refuses new submissions (503).
 */
export const makeBatcher = <E>(
  detector: ServedDetector<E>,
  options: BatchOptions = DEFAULT_MICRO_BATCH,
  onBatch: (images: number, seconds: number) => void = () => {},
) =>
  Effect.gen(function* () {
    const pending: Array<Job<E>> = [];
    let pendingImages = 0;
    /** Images admitted and not yet taken into a batch: being decoded, or queued. */
    let held = 0;
    /** Announced requests that have not submitted or left yet. */
    let arriving = 0;
    let running = false;
    let closed = false;
    /** Cancels the pending dispatch (the next turn, or the end of the window). */
    let timer: (() => void) | undefined;
    /**
     * The one deadline timer of the queue: due at the earliest deadline of the queued jobs (or
     * earlier), re-armed when it fires and cancelled when the queue empties. One timer for the
     * queue, not one per request: a timer is a fiber, and most requests leave the queue long
     * before their deadline.
     */
    let sweep: { readonly at: number; readonly cancel: () => void } | undefined;
    let idle: (() => void) | undefined;
    const clock = yield* Clock.Clock;
    /** The context clock's monotonic time in milliseconds. */
    const now = () => Number(clock.monotonicTimeNanosUnsafe()) / 1e6;
    /** Run `f` once `ms` have passed on the context's clock; returns a cancel. */
    const after = (ms: number, f: () => void): () => void => {
      let fired = false;
      const fiber = Effect.runFork(
        Effect.andThen(clock.sleep(Duration.millis(ms)), Effect.sync(() => (fired = true, f()))),
      );
      return () => {
        if (!fired) fiber.interruptUnsafe();
      };
    };

    const score: ScoreCall<E> = async (pixels, count) => {
      const started = now();
      const exit = await Effect.runPromiseExit(detector.scoreImages(pixels, count));
      onBatch(count, (now() - started) / 1000);
      return exit;
    };
    const alone = (job: Job<E>) => scoreAlone(score, job.pixels, job.count);

    const run = async () => {
      timer?.();
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
        job.forget();
        jobs.push(job);
        images += job.count;
      }
      pendingImages -= images;
      held -= images;
      if (pending.length === 0) disarmDeadlines();
      const batchStart = now();
      /** Hand a job its result, with its queue wait and compute time. */
      const finish = (job: Job<E>, result: Effect.Effect<RequestScores, E | Refusal>) =>
        job.done(Effect.map(result, (scores) => ({
          ...scores,
          queueMs: batchStart - job.enqueuedAt,
          computeMs: now() - batchStart,
        })));
      const per = jobs[0]!.pixels.length / jobs[0]!.count;
      const pixels = jobs.length === 1 ? jobs[0]!.pixels : new Uint8Array(images * per);
      if (jobs.length > 1) {
        let offset = 0;
        for (const job of jobs) {
          pixels.set(job.pixels, offset);
          offset += job.pixels.length;
        }
      }
      if (jobs.length === 1) {
        finish(jobs[0]!, await alone(jobs[0]!));
      } else {
        const exit = await score(pixels, images);
        if (Exit.isSuccess(exit)) {
          let from = 0;
          for (const job of jobs) {
            finish(job, Effect.succeed(sliceScores(exit.value, from, job.count)));
            from += job.count;
          }
        } else {
          // One request's images may have failed the batch: each is scored alone.
          for (const job of jobs) finish(job, await alone(job));
        }
      }
      running = false;
      if (pending.length > 0) schedule();
      else idle?.();
    };

    /** Run now when the batch is full or nobody else is on the way; else wait for them. */
    const schedule = () => {
      if (running || pending.length === 0) return;
      if (pendingImages >= options.maxBatchImages || arriving === 0 || closed) {
        timer?.();
        // The next turn of the event loop, so requests whose bodies came in the same turn join
        // the batch; `setImmediate`, not a 0 ms timer, which waited 1–2 ms for the loop's
        // timers: most of a lone request's queue wait (access log `queueWaitMs`, 2.3 ms at one
        // connection, 0.05 ms with `setImmediate`).
        const handle = setImmediate(run);
        timer = () => clearImmediate(handle);
      } else if (timer === undefined) {
        timer = after(options.maxWaitMs, run);
      }
    };

    const refuse = (code: Refusal["code"], problem: string) =>
      Effect.fail(new Refusal({ code, problem }));

    const overloaded = (count: number) =>
      refuse(
        "overloaded",
        `${held} images are waiting to be scored and at most ${options.maxQueuedImages} may; ` +
          `${count} more cannot be taken now, retry later`,
      );
    /** Count `count` more images as held, unless that would exceed the bound. */
    const hold = (count: number) => {
      if (held > 0 && held + count > options.maxQueuedImages) return false;
      held += count;
      return true;
    };

    const deadlineExceeded = refuse(
      "deadline_exceeded",
      `the request was not scored within its ${options.deadlineMs} ms deadline; retry later`,
    );
    const disarmDeadlines = () => {
      sweep?.cancel();
      sweep = undefined;
    };
    /** Have the deadline timer fire by `deadline`. */
    const armDeadline = (deadline: number) => {
      if (sweep !== undefined && sweep.at <= deadline) return;
      sweep?.cancel();
      const cancel = after(Math.max(0, deadline - now()), () => {
        sweep = undefined;
        expire();
      });
      sweep = { at: deadline, cancel };
    };
    /** Refuse every queued job past its deadline; re-arm for the earliest of the others. */
    const expire = () => {
      const t = now();
      for (const job of pending.filter((j) => j.deadline <= t)) job.drop(deadlineExceeded);
      if (pending.length > 0) armDeadline(Math.min(...pending.map((j) => j.deadline)));
    };

    const enqueue = (
      pixels: Uint8Array,
      count: number,
      arrivedAt: number,
      signal: AbortSignal | undefined,
      done: (result: Effect.Effect<RequestScores, E | Refusal>) => void,
      admitted: boolean,
    ) => {
      if (closed || signal?.aborted) {
        if (admitted) held -= count;
        return done(
          closed
            ? refuse("shutting_down", "the service is shutting down")
            : refuse("client_disconnected", "the client went away before scoring"),
        );
      }
      if (!admitted && !hold(count)) return done(overloaded(count));
      const onAbort = () =>
        job.drop(refuse("client_disconnected", "the client went away before scoring"));
      const job: Job<E> = {
        pixels,
        count,
        enqueuedAt: now(),
        deadline: arrivedAt + options.deadlineMs,
        done,
        forget: () => signal?.removeEventListener("abort", onAbort),
        drop: (result) => {
          const at = pending.indexOf(job);
          if (at < 0) return;
          pending.splice(at, 1);
          pendingImages -= count;
          held -= count;
          job.forget();
          done(result);
          if (pending.length === 0) {
            disarmDeadlines();
            if (!running) idle?.();
          }
        },
      };
      signal?.addEventListener("abort", onAbort);
      pending.push(job);
      pendingImages += count;
      armDeadline(job.deadline);
    };

    const arrive = (arrivedAt = now()): Arrival<E> => {
      arriving += 1;
      let here = true;
      /** Images admitted by `admit` and not yet handed to the queue. */
      let reserved = 0;
      const leave = () => {
        if (!here) return;
        here = false;
        arriving -= 1;
        held -= reserved;
        reserved = 0;
        schedule();
      };
      return {
        admit: (count) =>
          Effect.suspend(() => {
            if (closed) return refuse("shutting_down", "the service is shutting down");
            if (reserved > 0 || !hold(count)) return overloaded(count);
            reserved = count;
            return Effect.void;
          }),
        submit: (pixels, count, signal) =>
          Effect.callback<RequestScores, E | Refusal>((resume) => {
            const admitted = reserved === count;
            if (!admitted) {
              held -= reserved;
            }
            reserved = 0;
            enqueue(pixels, count, arrivedAt, signal, resume, admitted);
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
      submit: (pixels, count, signal) =>
        Effect.suspend(() => arrive().submit(pixels, count, signal)),
      queued: () => pendingImages,
      full: () => held >= options.maxQueuedImages,
    };
    return batcher;
  });
