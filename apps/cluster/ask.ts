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

/** Ask for a chunk (`ask(attempt)`) until `hasPart` holds; returns the last reply. */
export const askUntilPart = <A, E>(options: {
  /** Names the chunk in logs and errors. */
  readonly chunk: string;
  /** Its part file. */
  readonly part: string;
  readonly ask: (attempt: number) => Effect.Effect<A, E | ChunkFailed>;
  readonly hasPart: Effect.Effect<boolean>;
  /** Seconds to wait for one reply before asking again. */
  readonly timeout: number;
  readonly log: (line: string) => void;
}): Effect.Effect<A, E | Cause.TimeoutError | ChunkFailed | PartNeverWritten> =>
  Effect.gen(function* () {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const reply = yield* options.ask(attempt).pipe(
        Effect.timeout(Duration.seconds(options.timeout)),
        Effect.retry({
          while: (error) => !(error instanceof ChunkFailed),
          schedule: Schedule.spaced("1 second"),
          times: 600,
        }),
      );
      if (yield* options.hasPart) return reply;
      options.log(`chunk ${options.chunk} has a stored reply but no part: asking again`);
    }
    return yield* new PartNeverWritten({ chunk: options.chunk, part: options.part });
  });
