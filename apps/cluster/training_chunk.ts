/**
 * Images [start, end) of a fit's training stream (the source less the held-out images) as one
 * chunk: what a cluster runner maps, the same images `trainStream` gives the fit in one process
 * (`tests/sources_range_test.ts` checks a chunk against that stretch of the full stream).
 *
 * @module
 */
import { Effect, Stream } from "effect";
import { type Detectors, Fitted, Sources } from "../../mod.ts";

/**
 * The source index of image `trainIndex` of the training stream: the source less `held`
 * (ascending source indices).
 */
const sourceIndexOf = (trainIndex: number, held: ReadonlyArray<number>): number => {
  let index = trainIndex;
  for (const h of held) {
    if (h > index) break;
    index++;
  }
  return index;
};

/**
 * Images [start, end) of the training stream of `opened` less `held` (ascending source
 * indices), as one chunk. Only the source images that span the chunk are read (a ranged read,
 * `Sources.readRange`), so the chunks of a fit together read the source once.
 */
export const trainingChunk = (
  opened: Sources.OpenedSource,
  held: ReadonlyArray<number>,
  range: { readonly start: number; readonly end: number },
): Effect.Effect<
  Detectors.TrainingChunk,
  Fitted.FitTrainingChanged | Sources.SourceError | Sources.SourceRangeInvalid
> =>
  Effect.gen(function* () {
    const per = Sources.imageValues(opened.shape);
    const size = range.end - range.start;
    const pixels = new Uint8Array(size * per);
    const labels = new Uint8Array(size);
    const ascending = [...held].sort((a, b) => a - b);
    const isHeld = new Set(held);
    const first = sourceIndexOf(range.start, ascending);
    const span = size === 0
      ? { start: first, end: first }
      : { start: first, end: Math.min(opened.count, sourceIndexOf(range.end - 1, ascending) + 1) };
    let filled = 0;
    let labelled = true;
    yield* Stream.runForEach(Sources.readRange(opened, span, 500), (batch) =>
      Effect.sync(() => {
        if (batch.labels === undefined) labelled = false;
        for (let i = 0; i < batch.size && filled < size; i++) {
          if (isHeld.has(batch.start + i)) continue;
          pixels.set(batch.pixels.subarray(i * per, (i + 1) * per), filled * per);
          labels[filled++] = batch.labels?.[i] ?? 0;
        }
      }));
    if (filled !== size) {
      return yield* new Fitted.FitTrainingChanged({
        what: opened.description,
        problem: `images [${range.start}, ${range.end}) of its training stream: read ${filled}`,
      });
    }
    return { start: range.start, size, pixels, ...(labelled ? { labels } : {}) };
  });
