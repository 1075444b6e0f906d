/**
 * Asking the cluster for a chunk until its part is on disk: the one loop both drivers
 * (`driver.ts`, `fit_driver.ts`) run. Transport, storage and timeout errors ask again (the
 * message is deduplicated by its primary key, so asking again waits for the stored one); a
 * `ChunkFailed` stops at once; a stored reply whose part is missing (deleted by hand) asks again
 * with the next attempt number (a new primary key), three attempts in all.
 *
 * @module
 */
import { type Cause, Data, Duration, Effect, Schedule } from "effect";
import { ChunkFailed } from "./protocol.ts";

/** A chunk answered as done three times without its part appearing. */
export class PartNeverWritten extends Data.TaggedError("PartNeverWritten")<{
  readonly chunk: string;
  readonly part: string;
}> {
  override get message(): string {
    return `Chunk ${this.chunk}: its part ${this.part} is never written`;
  }
}

/** Attempts before a chunk whose part stays missing is given up. */
const ATTEMPTS = 3;
/** Failures stored by earlier runs of the driver skipped before giving up (one per earlier run). */
const STALE_FAILURES = 1000;

/**
 * Ask for a chunk (`ask(attempt)`) until `hasPart` holds; returns the last reply. A failure
 * whose run is not this one (`run`) was stored in answer to an earlier driver's message of the
 * same primary key (the cause since fixed, perhaps: a runner started with the wrong detector, an
 * unreadable file): the chunk is asked again under the next attempt number, not given up.
 */
export const askUntilPart = <A, E>(options: {
  /** Names the chunk in logs and errors. */
  readonly chunk: string;
  /** Its part file. */
  readonly part: string;
  readonly ask: (attempt: number) => Effect.Effect<A, E | ChunkFailed>;
  readonly hasPart: Effect.Effect<boolean>;
  /** Seconds to wait for one reply before asking again. */
  readonly timeout: number;
  /** This driver run's id (`ChunkRequest.run` of the messages `ask` sends). */
  readonly run: string;
  readonly log: (line: string) => void;
}): Effect.Effect<A, E | Cause.TimeoutError | ChunkFailed | PartNeverWritten> =>
  Effect.gen(function* () {
    let stale = 0;
    for (let attempt = 0, missing = 0; missing < ATTEMPTS; attempt++) {
      const reply = yield* options.ask(attempt).pipe(
        Effect.timeout(Duration.seconds(options.timeout)),
        Effect.retry({
          while: (error) => !(error instanceof ChunkFailed),
          schedule: Schedule.spaced("1 second"),
          times: 600,
        }),
        Effect.map((done) => ({ done })),
        Effect.catchIf(
          (error): error is ChunkFailed =>
            error instanceof ChunkFailed && error.run !== undefined &&
            error.run !== options.run && stale < STALE_FAILURES,
          (failed) => Effect.succeed({ stale: failed }),
        ),
      );
      if ("stale" in reply) {
        stale++;
        options.log(
          `chunk ${options.chunk}: a failure stored by an earlier run ` +
            `(${reply.stale.problem}): asking again`,
        );
        continue;
      }
      if (yield* options.hasPart) return reply.done;
      missing++;
      options.log(`chunk ${options.chunk} has a stored reply but no part: asking again`);
    }
    return yield* new PartNeverWritten({ chunk: options.chunk, part: options.part });
  });
