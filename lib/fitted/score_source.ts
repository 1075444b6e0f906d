/**
 * Score a whole data source with a loaded detector, streamed in batches (never held whole):
 * what `deno task score` and `deno task evaluate-ood` run.
 *
 * @module
 */
import { Effect, Stream } from "effect";
import type { SourceArgument } from "../sources/argument.ts";
import { openSource } from "../sources/mod.ts";
import type { SourceError } from "../sources/source.ts";
import { UnscoredImages } from "./errors.ts";
import type {
  InvalidImage,
  LoadedDetector,
  ScoredImages,
  ScoreImagesError,
  Verdict,
} from "./open.ts";

/** The scores of every image of a source, in source order, with a name per image. */
export interface ScoredSource extends ScoredImages {
  /** The source argument, as given. */
  readonly source: string;
  /** The image's file (folder sources) or its index. */
  readonly images: ReadonlyArray<string>;
  /** Labels, when the source has them. */
  readonly labels?: Uint8Array;
}

const BATCH = 512;

/** Options of `scoreSource`. */
export interface ScoreSourceOptions {
  /** Overlap reading and scoring (default true; about four batches held): `docs/performance.md`. */
  readonly overlap?: boolean;
}

/** Score every image of `source` with `detector`. */
export const scoreSource = (
  detector: LoadedDetector,
  source: SourceArgument,
  options: ScoreSourceOptions = {},
): Effect.Effect<ScoredSource, SourceError | ScoreImagesError> =>
  Effect.gen(function* () {
    const shape = detector.inputSpec.shape;
    const opened = yield* openSource(source.spec, { baseDir: source.baseDir, shape });
    const scores = new Float64Array(opened.count);
    const predicted = new Int32Array(opened.count);
    const verdicts = new Array<Verdict>(opened.count).fill("invalid");
    const invalid: Array<InvalidImage> = [];
    const labels = opened.classNames === undefined ? undefined : new Uint8Array(opened.count);
    const read = opened.batches(BATCH);
    const ahead = options.overlap === false ? read : read.pipe(Stream.buffer({ capacity: 1 }));
    const scoredBatches = Stream.mapEffect(
      ahead,
      (batch) =>
        Effect.map(
          detector.scoreImages({ count: batch.size, shape, pixels: batch.pixels }),
          (scored) => [batch, scored] as const,
        ),
      { concurrency: options.overlap === false ? 1 : 2 },
    );
    yield* Stream.runForEach(scoredBatches, ([batch, scored]) =>
      Effect.sync(() => {
        scores.set(scored.scores, batch.start);
        predicted.set(scored.predicted, batch.start);
        scored.verdicts.forEach((verdict, i) => (verdicts[batch.start + i] = verdict));
        for (const { index, problem } of scored.invalid) {
          invalid.push({ index: batch.start + index, problem });
        }
        if (batch.labels !== undefined) labels?.set(batch.labels, batch.start);
      }));
    return {
      source: source.argument,
      images: opened.itemNames ?? Array.from({ length: opened.count }, (_, i) => String(i)),
      scores,
      predicted,
      isOod: verdicts.map((v) => v !== "in"),
      verdicts,
      invalid,
      ...(labels === undefined ? {} : { labels }),
    };
  });

/** `scored` when every image has a score (what `evaluate-ood` needs), else `UnscoredImages`. */
export const requireAllScored = (
  scored: ScoredSource,
): Effect.Effect<ScoredSource, UnscoredImages> => {
  const first = scored.invalid[0];
  return first === undefined ? Effect.succeed(scored) : Effect.fail(
    new UnscoredImages({
      source: scored.source,
      count: scored.invalid.length,
      image: scored.images[first.index] ?? String(first.index),
      problem: first.problem,
    }),
  );
};
