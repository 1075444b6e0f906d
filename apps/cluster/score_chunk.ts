/**
 * What a runner does with one chunk: read the job's plan, open the chunk's source (kept open
 * for the job's next chunks), read images [start, end) alone (`Sources.readRange`: a chunk far
 * into a large source does not read the images before it), score them in the batches
 * one-process `deno task score` uses, and write the part atomically. Every failure comes back
 * as `ChunkFailed` naming the chunk and the cause.
 *
 * @module
 */
import { Effect, Stream } from "effect";
import type { Fitted } from "../../mod.ts";
import { Sources } from "../../mod.ts";
import { type JobPlan, type Part, type PartRow, readPlan, SCORE_BATCH, writePart } from "./job.ts";
import { ChunkFailed, chunkKey, type ChunkRequest } from "./protocol.ts";
import type { Schema } from "effect";

/** A chunk as the message names it. */
export type Chunk = Schema.Struct.Type<typeof ChunkRequest>;

/** Plans and opened sources of the jobs a runner has seen, by job id (the newest few). */
export interface ChunkScorerState {
  readonly plans: Map<string, JobPlan>;
  readonly sources: Map<string, Sources.OpenedSource>;
}

/** Empty state for a runner. */
export const newScorerState = (): ChunkScorerState => ({ plans: new Map(), sources: new Map() });

/** Jobs whose plans and sources a runner keeps open (older ones are dropped). */
const KEPT_JOBS = 2;

const remember = <V>(map: Map<string, V>, key: string, value: V, keep: number) => {
  map.set(key, value);
  while (map.size > keep) map.delete(map.keys().next().value!);
};

/** Score one chunk with `detector` and write its part; returns what the reply carries. */
export const scoreChunk = (
  detector: Fitted.LoadedDetector,
  state: ChunkScorerState,
  chunk: Chunk,
  runner: string,
): Effect.Effect<{ images: number; invalid: number; seconds: number }, ChunkFailed> =>
  Effect.gen(function* () {
    const began = performance.now();
    const name = chunkKey(chunk);
    const fail = (problem: string) => new ChunkFailed({ chunk: name, problem });
    let plan = state.plans.get(chunk.job);
    if (plan === undefined) {
      plan = yield* Effect.mapError(readPlan(chunk.jobDir), (error) => fail(error.message));
      remember(state.plans, chunk.job, plan, KEPT_JOBS);
    }
    if (plan.id !== chunk.job) return yield* fail(`${chunk.jobDir} holds job ${plan.id}`);
    if (plan.detector.version !== detector.version) {
      return yield* fail(
        `the job was planned for detector version ${plan.detector.version}; this runner serves ` +
          `${detector.version} (${detector.folder})`,
      );
    }
    const planned = plan.sources[chunk.source];
    if (
      planned === undefined || chunk.start < 0 || chunk.end > planned.count ||
      chunk.start >= chunk.end || chunk.start % SCORE_BATCH !== 0
    ) {
      return yield* fail("the chunk is not a range of the plan's sources");
    }
    const sourceKey = `${chunk.job}/${chunk.source}`;
    let opened = state.sources.get(sourceKey);
    if (opened === undefined) {
      opened = yield* Effect.mapError(
        Sources.openSource(planned.spec, {
          baseDir: planned.baseDir,
          shape: detector.inputSpec.shape,
        }),
        (error) => fail(`${planned.argument}: ${error.message}`),
      );
      if (opened.count !== planned.count) {
        return yield* fail(
          `${planned.argument} now holds ${opened.count} images; the plan counted ${planned.count}`,
        );
      }
      remember(state.sources, sourceKey, opened, KEPT_JOBS);
    }
    const shape = detector.inputSpec.shape;
    const rows: Array<PartRow> = [];
    const names = opened.itemNames;
    // Batches start at multiples of SCORE_BATCH from the source's start, as in `score`, so every
    // image is scored in the same batch (hence bit for bit the same) as one process scores it.
    yield* Stream.runForEach(
      // Images [start, end) only, read at their offset (never the images before them).
      Sources.readRange(opened, chunk, SCORE_BATCH),
      (batch) =>
        Effect.map(
          detector.scoreImages({ count: batch.size, shape, pixels: batch.pixels }),
          (scored) => {
            const problems = new Map(scored.invalid.map((bad) => [bad.index, bad.problem]));
            for (let i = 0; i < batch.size; i++) {
              const index = batch.start + i;
              const image = names?.[index] ?? String(index);
              const verdict = scored.verdicts[i]!;
              rows.push(
                verdict === "invalid"
                  ? {
                    image,
                    verdict,
                    score: null,
                    predicted: null,
                    problem: problems.get(i) ?? "not scored",
                  }
                  : { image, verdict, score: scored.scores[i]!, predicted: scored.predicted[i]! },
              );
            }
          },
        ),
    ).pipe(Effect.mapError((error) => fail(`${planned.argument}: ${error.message}`)));
    if (rows.length !== chunk.end - chunk.start) {
      return yield* fail(`read ${rows.length} images, expected ${chunk.end - chunk.start}`);
    }
    const part: Part = {
      job: plan.id,
      detector: detector.version,
      source: chunk.source,
      start: chunk.start,
      end: chunk.end,
      runner,
      rows,
    };
    yield* Effect.mapError(writePart(chunk.jobDir, part), (error) => fail(error.message));
    return {
      images: rows.length,
      invalid: rows.filter((r) => r.verdict === "invalid").length,
      seconds: (performance.now() - began) / 1000,
    };
  });
