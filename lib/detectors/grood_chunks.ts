/**
 * GROOD's fit as a chunk map and an ordered reduce: the one core of the bounded-memory fit in
 * one process (`grood_streamed.ts`) and on a cluster (`apps/cluster`, `grood cluster fit`).
 *
 * The training stream is cut into chunks of a fixed size (`FIT_CHUNK` by default; a fit setting,
 * recorded in the fitted folder, independent of how many processes run the map). The map
 * ({@link mapFeatureChunk}) is a pure function of the model and one chunk's images: per-class
 * float64 sums and counts of the early and penultimate features, the penultimate features of
 * the correctly classified images, and the mix-up's chosen images (the seeded choice is known
 * from the image count) with their second-most-likely classes. The reduce
 * ({@link featureReducer}) takes the chunks in chunk order and adds their sums (sums of sums,
 * never averages of averages), so a fit's bits depend on the chunk size, never on who computed
 * which chunk or when.
 *
 * The descriptors are a second map: each row depends only on its own features and the
 * prototypes (`groodDescriptors`), so any split of the rows gives the same bits.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { type Matrix, matrix } from "../matrix.ts";
import type { ModelError } from "../models/errors.ts";
import { requireFiniteOutputs } from "../models/finite.ts";
import { type FeatureModel, preprocess, sizeOf } from "../models/model.ts";
import type { NonFiniteOutput } from "../models/finite.ts";
import { MissingLabels, predictedClasses } from "../stages/features.ts";
import { secondLargest } from "../stages/mixup.ts";
import { type EmptyClass, type Prototypes, prototypesFromSums } from "../stages/prototype.ts";

/** Images per chunk of the fit's map when none is given: two forward batches of 500. */
export const FIT_CHUNK = 1000;

/** A training stream broke its contract (batches out of order, labels beyond the classes). */
export class TrainingStreamInvalid extends Data.TaggedError("TrainingStreamInvalid")<{
  readonly source: string;
  readonly problem: string;
}> {
  /** Names the source and the broken contract. */
  override get message(): string {
    return `Cannot fit GROOD on "${this.source}": ${this.problem}`;
  }
}

/**
 * A `FeatureJob`'s chunks could not be mapped where the mapper sends them (a cluster's
 * runners: the job folder, a chunk, the cluster), and why.
 */
export class ChunkMapFailed extends Data.TaggedError("ChunkMapFailed")<{
  readonly what: string;
  readonly problem: string;
}> {
  /** Names where the chunks were sent and what failed. */
  override get message(): string {
    return `Cannot map GROOD's fit chunks (${this.what}): ${this.problem}`;
  }
}

/** One chunk of the training stream: images [start, start + size), NHWC uint8, labelled. */
export interface TrainingChunk {
  /** Index of the chunk's first image in the stream. */
  readonly start: number;
  /** Number of images in the chunk. */
  readonly size: number;
  /** `size` images, NHWC uint8, at the model's input size. */
  readonly pixels: Uint8Array;
  /** `size` class labels (0-based), for a labelled stream. */
  readonly labels?: Uint8Array;
}

/** What the map computes from one chunk (all of it plain typed arrays: a part file holds it). */
export interface FeatureChunk {
  /** Index of the chunk's first image in the stream. */
  readonly start: number;
  /** Number of images in the chunk. */
  readonly size: number;
  /** classes × early-size float64 sums of the early features, by label. */
  readonly earlySums: Float64Array;
  /** classes × D float64 sums of the penultimate features, by label. */
  readonly penultimateSums: Float64Array;
  /** Images of each class in the chunk. */
  readonly counts: Float64Array;
  /** Penultimate features of the correctly classified images (kept × D), in image order. */
  readonly kept: Float32Array;
  /** The training image (stream index) of each kept row. */
  readonly keptImages: Int32Array;
  /** Ranks (in the mix-up's choice) of the chunk's chosen images, ascending image order. */
  readonly mixRanks: Uint32Array;
  /** Their pixels, one image after another. */
  readonly mixPixels: Uint8Array;
  /** Their second-most-likely classes. */
  readonly mixTargets: Uint8Array;
}

/** What the map needs besides the model and the chunk. */
export interface FeatureMapSettings {
  /** Names the training set in errors. */
  readonly description: string;
  /** Channels of the chunk's pixels. */
  readonly channels: number;
  /** Images per forward batch inside the chunk (batches start at the chunk's start). */
  readonly batchSize: number;
  /** The mix-up's rank of a chosen training image (stream index); absent for the others. */
  readonly rankOf: ReadonlyMap<number, number>;
}

/** Everything the map may fail with. */
export type FeatureMapError = ModelError | NonFiniteOutput | MissingLabels | TrainingStreamInvalid;

/** The mix-up's rank of every chosen image (its position in `chosen`). */
export const mixupRanks = (chosen: Uint32Array): ReadonlyMap<number, number> => {
  const ranks = new Map<number, number>();
  chosen.forEach((image, rank) => ranks.set(image, rank));
  return ranks;
};

/** The map: one chunk's sums, kept features and mix-up images (see the module doc). */
export const mapFeatureChunk = (
  model: FeatureModel,
  chunk: TrainingChunk,
  settings: FeatureMapSettings,
): Effect.Effect<FeatureChunk, FeatureMapError> =>
  Effect.gen(function* () {
    const dim = sizeOf(model.shapes.penultimate);
    const classes = sizeOf(model.shapes.logits);
    const earlySize = sizeOf(model.shapes.early);
    const perImage = chunk.size === 0 ? 0 : chunk.pixels.length / chunk.size;
    const labels = chunk.labels;
    if (labels === undefined) return yield* new MissingLabels({ set: settings.description });
    const earlySums = new Float64Array(classes * earlySize);
    const penultimateSums = new Float64Array(classes * dim);
    const counts = new Float64Array(classes);
    const kept: Array<Float32Array> = [];
    const keptImages: Array<number> = [];
    const mix: Array<{ rank: number; pixels: Uint8Array; target: number }> = [];
    for (let offset = 0; offset < chunk.size; offset += settings.batchSize) {
      const size = Math.min(settings.batchSize, chunk.size - offset);
      const start = chunk.start + offset;
      const pixels = chunk.pixels.subarray(offset * perImage, (offset + size) * perImage);
      const x = yield* preprocess(model.name, model.input, pixels, size, settings.channels);
      const [pen, logits, early] = yield* model.forward(x, "input", [
        "penultimate",
        "logits",
        "early",
      ]);
      yield* requireFiniteOutputs(
        { model: model.name, set: settings.description, start, rows: size },
        [["penultimate features", pen!], ["logits", logits!]],
      );
      const logitRows = matrix(size, classes, logits!.data);
      const predicted = predictedClasses(logitRows);
      const second = settings.rankOf.size > 0 ? secondLargest(logitRows) : undefined;
      for (let i = 0; i < size; i++) {
        const c = labels[offset + i]!;
        if (c >= classes) {
          return yield* new TrainingStreamInvalid({
            source: settings.description,
            problem: `image ${start + i} has label ${c}; the model has ${classes} classes`,
          });
        }
        counts[c]! += 1;
        const row = early!.data.subarray(i * earlySize, (i + 1) * earlySize);
        const at = c * earlySize;
        for (let j = 0; j < earlySize; j++) earlySums[at + j]! += row[j]!;
        for (let j = 0; j < dim; j++) penultimateSums[c * dim + j]! += pen!.data[i * dim + j]!;
        if (predicted[i] === c) {
          kept.push(pen!.data.slice(i * dim, (i + 1) * dim));
          keptImages.push(start + i);
        }
        const rank = settings.rankOf.get(start + i);
        if (rank !== undefined) {
          mix.push({
            rank,
            pixels: pixels.slice(i * perImage, (i + 1) * perImage),
            target: second![i]!,
          });
        }
      }
      yield* Effect.yieldNow;
    }
    const keptRows = new Float32Array(kept.length * dim);
    kept.forEach((row, k) => keptRows.set(row, k * dim));
    const mixPixels = new Uint8Array(mix.length * perImage);
    mix.forEach((m, k) => mixPixels.set(m.pixels, k * perImage));
    const result: FeatureChunk = {
      start: chunk.start,
      size: chunk.size,
      earlySums,
      penultimateSums,
      counts,
      kept: keptRows,
      keptImages: Int32Array.from(keptImages),
      mixRanks: Uint32Array.from(mix, (m) => m.rank),
      mixPixels,
      mixTargets: Uint8Array.from(mix, (m) => m.target),
    };
    return result;
  });

/** What the reduce leaves once every chunk is in. */
export interface ReducedFeatures {
  readonly prototypes: Prototypes;
  /** Penultimate features of every correctly classified image (rows × D), in image order. */
  readonly kept: Matrix;
  readonly keptImages: Int32Array;
  /** The chosen images' pixels, in the mix-up's order, and their second-most-likely classes. */
  readonly mixPixels: Uint8Array;
  readonly mixTargets: Uint8Array;
}

/** The ordered reduce of a fit over `count` images (see {@link featureReducer}). */
export interface FeatureReducer {
  /** Add the next chunk (its start must be the images seen so far). */
  readonly add: (chunk: FeatureChunk) => Effect.Effect<void, TrainingStreamInvalid>;
  /** The prototypes and the kept features, once every image is in. */
  readonly finish: () => Effect.Effect<ReducedFeatures, TrainingStreamInvalid | EmptyClass>;
}

/**
 * The reduce: chunk sums added in chunk order into float64 totals, kept features copied into
 * one count × D buffer (the index's size, as the descriptors overwrite it in place), chosen
 * images put at their ranks.
 */
export const featureReducer = (
  model: FeatureModel,
  train: { readonly description: string; readonly count: number; readonly perImage: number },
  chosen: number,
): FeatureReducer => {
  const dim = sizeOf(model.shapes.penultimate);
  const classes = sizeOf(model.shapes.logits);
  const earlySize = sizeOf(model.shapes.early);
  const earlySums = new Float64Array(classes * earlySize);
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
  const add = (chunk: FeatureChunk) =>
    Effect.gen(function* () {
      if (chunk.start !== seen) {
        return yield* invalid(`a chunk starts at image ${chunk.start}, expected ${seen}`);
      }
      if (
        chunk.earlySums.length !== earlySums.length ||
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
      for (let i = 0; i < earlySums.length; i++) earlySums[i]! += chunk.earlySums[i]!;
      for (let i = 0; i < penultimateSums.length; i++) {
        penultimateSums[i]! += chunk.penultimateSums[i]!;
      }
      for (let c = 0; c < classes; c++) counts[c]! += chunk.counts[c]!;
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
  const finish = () =>
    Effect.gen(function* () {
      if (seen !== train.count) {
        return yield* invalid(`the stream gave ${seen} images, expected ${train.count}`);
      }
      if (mixed !== chosen) {
        return yield* invalid(`the chunks held ${mixed} of the ${chosen} images to mix`);
      }
      const prototypes = yield* prototypesFromSums(
        train.description,
        { boundary: model.taps.early, featureShape: model.shapes.early, sums: earlySums, counts },
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
