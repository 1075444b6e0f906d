/**
 * The ordered reduce of GROOD's chunk summaries: sums added in chunk order into float64 totals
 * (`addInto`, as the extraction's early class sums), the kept rows and the mix-up's images
 * gathered, then the class prototypes.
 *
 * @module
 */
import { Effect } from "effect";
import { type Matrix, matrix } from "../matrix.ts";
import { type FeatureModel, sizeOf } from "../models/model.ts";
import { addInto } from "../stages/class_sums.ts";
import type { ClassSums } from "../stages/features.ts";
import { type EmptyClass, type Prototypes, prototypesFromSums } from "../stages/prototype.ts";
import {
  type ChunkSummary,
  type FeatureChunk,
  shapesOf,
  TrainingStreamInvalid,
} from "./grood_chunks.ts";

/** What the reduce leaves once every chunk is in. */
export interface ReducedFeatures {
  /** The class prototypes (early and penultimate). */
  readonly prototypes: Prototypes;
  /** Penultimate features of every correctly classified image (rows × D), in image order. */
  readonly kept: Matrix;
  /** The training image (index) of each kept row. */
  readonly keptImages: Int32Array;
  /** The chosen images' pixels, in the mix-up's order. */
  readonly mixPixels: Uint8Array;
  /** Their second-most-likely classes (the classes they are mixed towards). */
  readonly mixTargets: Uint8Array;
}

/** The early class sums a reduce ends with (its counts are the summaries' own). */
export type EarlySums = Pick<ClassSums, "boundary" | "featureShape" | "sums">;

/** The ordered reduce of the chunk summaries of a fit over `count` images. */
export interface SummaryReducer {
  /** Add the next chunk's summary (its start must be the images seen so far). */
  readonly add: (chunk: ChunkSummary) => Effect.Effect<void, TrainingStreamInvalid>;
  /** The prototypes (with `early`, the early class sums) and the kept features, once all is in. */
  readonly finish: (
    early: EarlySums,
  ) => Effect.Effect<ReducedFeatures, TrainingStreamInvalid | EmptyClass>;
}

/**
 * The reduce of the summaries; kept features go into one count × D buffer (the index's size:
 * the streamed fit's descriptors overwrite it in place), chosen images at their ranks.
 */
export const summaryReducer = (
  shapes: { readonly dim: number; readonly classes: number },
  train: { readonly description: string; readonly count: number; readonly perImage: number },
  chosen: number,
): SummaryReducer => {
  const { dim, classes } = shapes;
  const penultimateSums = new Float64Array(classes * dim);
  const counts = new Float64Array(classes);
  const kept = new Float32Array(train.count * dim);
  const keptImages = new Int32Array(train.count);
  const mixPixels = new Uint8Array(chosen * train.perImage);
  const mixTargets = new Uint8Array(chosen);
  const mixFilled = new Uint8Array(chosen);
  let nKept = 0;
  let seen = 0;
  let mixed = 0;
  const invalid = (problem: string) =>
    new TrainingStreamInvalid({ source: train.description, problem });
  const add = (chunk: ChunkSummary) =>
    Effect.gen(function* () {
      if (chunk.start !== seen) {
        return yield* invalid(`a chunk starts at image ${chunk.start}, expected ${seen}`);
      }
      if (
        chunk.penultimateSums.length !== penultimateSums.length ||
        chunk.counts.length !== classes || chunk.kept.length !== chunk.keptImages.length * dim ||
        chunk.mixPixels.length !== chunk.mixRanks.length * train.perImage ||
        chunk.mixTargets.length !== chunk.mixRanks.length || seen + chunk.size > train.count
      ) {
        return yield* invalid(`the chunk at image ${chunk.start} does not match the model`);
      }
      // A part comes from a runner's file: its rows must lie in its own range, its mix-up
      // ranks in the choice and each rank once, or the sums and the mix-up would be wrong.
      const end = chunk.start + chunk.size;
      let previous = chunk.start - 1;
      for (const image of chunk.keptImages) {
        if (!(image > previous && image < end)) {
          return yield* invalid(
            `the chunk at image ${chunk.start} keeps image ${image}, not ascending in its range`,
          );
        }
        previous = image;
      }
      for (const rank of chunk.mixRanks) {
        if (!(rank < chosen) || mixFilled[rank] === 1) {
          return yield* invalid(
            `the chunk at image ${chunk.start} gives mix-up rank ${rank} ` +
              (rank < chosen ? "a second time" : `of ${chosen}`),
          );
        }
        mixFilled[rank] = 1;
      }
      addInto(penultimateSums, chunk.penultimateSums);
      addInto(counts, chunk.counts);
      kept.set(chunk.kept, nKept * dim);
      keptImages.set(chunk.keptImages, nKept);
      nKept += chunk.keptImages.length;
      chunk.mixRanks.forEach((rank, k) => {
        mixPixels.set(
          chunk.mixPixels.subarray(k * train.perImage, (k + 1) * train.perImage),
          rank * train.perImage,
        );
        mixTargets[rank] = chunk.mixTargets[k]!;
      });
      mixed += chunk.mixRanks.length;
      seen += chunk.size;
    });
  const finish = (early: EarlySums) =>
    Effect.gen(function* () {
      if (seen !== train.count) {
        return yield* invalid(`the stream gave ${seen} images, expected ${train.count}`);
      }
      if (mixed !== chosen) {
        return yield* invalid(`the chunks held ${mixed} of the ${chosen} images to mix`);
      }
      const prototypes = yield* prototypesFromSums(
        train.description,
        { ...early, counts },
        { sums: penultimateSums, counts },
      );
      const reduced: ReducedFeatures = {
        prototypes,
        kept: matrix(nKept, dim, kept.subarray(0, nKept * dim)),
        keptImages: keptImages.subarray(0, nKept),
        mixPixels,
        mixTargets,
      };
      return reduced;
    });
  return { add, finish };
};

/** The ordered reduce of the streamed fit's chunks (summaries with their early sums). */
export interface FeatureReducer {
  /** Add the next chunk (its start must be the images seen so far). */
  readonly add: (chunk: FeatureChunk) => Effect.Effect<void, TrainingStreamInvalid>;
  /** The prototypes and the kept features, once every image is in. */
  readonly finish: () => Effect.Effect<ReducedFeatures, TrainingStreamInvalid | EmptyClass>;
}

/** The streamed fit's reduce: {@link summaryReducer}, the chunks' early sums added beside. */
export const featureReducer = (
  model: FeatureModel,
  train: { readonly description: string; readonly count: number; readonly perImage: number },
  chosen: number,
): FeatureReducer => {
  const shapes = shapesOf(model);
  const earlySums = new Float64Array(shapes.classes * sizeOf(model.shapes.early));
  const summaries = summaryReducer(shapes, train, chosen);
  const add = (chunk: FeatureChunk) =>
    Effect.gen(function* () {
      if (chunk.earlySums.length !== earlySums.length) {
        return yield* new TrainingStreamInvalid({
          source: train.description,
          problem: `the chunk at image ${chunk.start} does not match the model`,
        });
      }
      yield* summaries.add(chunk);
      addInto(earlySums, chunk.earlySums);
    });
  const finish = () =>
    summaries.finish({
      boundary: model.taps.early,
      featureShape: model.shapes.early,
      sums: earlySums,
    });
  return { add, finish };
};
