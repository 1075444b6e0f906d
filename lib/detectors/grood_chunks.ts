/**
 * GROOD's fit as a chunk map and an ordered reduce (docs/architecture.md "GROOD's one fit"): the
 * forward of a chunk ({@link forwardChunk}) and the summary of its features ({@link summariseChunk},
 * a pure function: per-class float64 sums, the correctly classified rows, the mix-up's images), so
 * a fit's bits depend on the chunk size, never on who mapped which chunk or whether the features
 * were streamed or held in memory.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { matrix } from "../matrix.ts";
import type { ModelError } from "../models/errors.ts";
import { type NonFiniteOutput, requireFiniteOutputs } from "../models/finite.ts";
import { type FeatureModel, preprocess, sizeOf } from "../models/model.ts";
import { addRowsByClass } from "../stages/class_sums.ts";
import { MissingLabels, predictedClasses } from "../stages/features.ts";
import { secondLargest } from "../stages/mixup.ts";

export { FIT_CHUNK } from "../stages/class_sums.ts";

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

/** A `FeatureJob`'s chunks could not be mapped where the mapper sends them (a cluster), and why. */
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

/** One chunk's features, what {@link summariseChunk} reads (from the model or from memory). */
export interface ChunkFeatures {
  /** Index of the chunk's first image in the training set. */
  readonly start: number;
  /** Number of images in the chunk. */
  readonly size: number;
  /** `size` class labels (0-based). */
  readonly labels: Uint8Array;
  /** `size` × D penultimate features. */
  readonly penultimate: Float32Array;
  /** `size` × C logits. */
  readonly logits: Float32Array;
  /** The chunk's images, one after another. */
  readonly pixels: Uint8Array;
}

/** What the summary keeps of one chunk (all of it plain typed arrays: a part file holds it). */
export interface ChunkSummary {
  /** Index of the chunk's first image in the stream. */
  readonly start: number;
  /** Number of images in the chunk. */
  readonly size: number;
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

/** What the streamed fit's map computes from one chunk: its summary and its early sums. */
export interface FeatureChunk extends ChunkSummary {
  /** classes × early-size float64 sums of the early features, by label. */
  readonly earlySums: Float64Array;
}

/** What the summary needs besides the chunk's features. */
export interface SummarySettings {
  /** Names the training set in errors. */
  readonly description: string;
  /** The mix-up's rank of a chosen training image (stream index); absent for the others. */
  readonly rankOf: ReadonlyMap<number, number>;
}

/** What the map needs besides the model and the chunk. */
export interface FeatureMapSettings extends SummarySettings {
  /** Channels of the chunk's pixels. */
  readonly channels: number;
  /** Images per forward batch inside the chunk (batches start at the chunk's start). */
  readonly batchSize: number;
}

/** Everything the map may fail with. */
export type FeatureMapError = ModelError | NonFiniteOutput | MissingLabels | TrainingStreamInvalid;

/** The mix-up's rank of every chosen image (its position in `chosen`). */
export const mixupRanks = (chosen: Uint32Array): ReadonlyMap<number, number> =>
  new Map(Array.from(chosen, (image, rank) => [image, rank]));

/** Fails naming the first image whose label is not one of the model's `classes`. */
const checkLabels = (
  description: string,
  start: number,
  labels: Uint8Array,
  classes: number,
): Effect.Effect<void, TrainingStreamInvalid> => {
  const i = labels.findIndex((c) => c >= classes);
  return i < 0 ? Effect.void : Effect.fail(
    new TrainingStreamInvalid({
      source: description,
      problem: `image ${start + i} has label ${labels[i]}; the model has ${classes} classes`,
    }),
  );
};

/**
 * The forward: one chunk's penultimate features and logits (checked finite), and its early
 * features summed per class as each batch passes (too large to keep per image).
 */
export const forwardChunk = (
  model: FeatureModel,
  chunk: TrainingChunk,
  settings: Pick<FeatureMapSettings, "description" | "channels" | "batchSize">,
): Effect.Effect<
  { readonly features: ChunkFeatures; readonly earlySums: Float64Array },
  FeatureMapError
> =>
  Effect.gen(function* () {
    const { dim, classes } = shapesOf(model);
    const earlySize = sizeOf(model.shapes.early);
    const perImage = chunk.size === 0 ? 0 : chunk.pixels.length / chunk.size;
    const labels = chunk.labels;
    if (labels === undefined) return yield* new MissingLabels({ set: settings.description });
    yield* checkLabels(settings.description, chunk.start, labels, classes);
    const earlySums = new Float64Array(classes * earlySize);
    const earlyCounts = new Float64Array(classes);
    const penultimate = new Float32Array(chunk.size * dim);
    const logits = new Float32Array(chunk.size * classes);
    for (let offset = 0; offset < chunk.size; offset += settings.batchSize) {
      const size = Math.min(settings.batchSize, chunk.size - offset);
      const start = chunk.start + offset;
      const pixels = chunk.pixels.subarray(offset * perImage, (offset + size) * perImage);
      const x = yield* preprocess(model.name, model.input, pixels, size, settings.channels);
      const [pen, logitRows, early] = yield* model.forward(x, "input", [
        "penultimate",
        "logits",
        "early",
      ]);
      yield* requireFiniteOutputs(
        { model: model.name, set: settings.description, start, rows: size },
        [["penultimate features", pen!], ["logits", logitRows!]],
      );
      penultimate.set(pen!.data, offset * dim);
      logits.set(logitRows!.data, offset * classes);
      addRowsByClass(
        earlySums,
        earlyCounts,
        labels.subarray(offset, offset + size),
        early!.data,
        earlySize,
      );
      yield* Effect.yieldNow;
    }
    const { start, size } = chunk;
    return {
      features: { start, size, labels, penultimate, logits, pixels: chunk.pixels },
      earlySums,
    };
  });

/** The summary of one chunk's features (see the module doc): a pure function of them. */
export const summariseChunk = (
  features: ChunkFeatures,
  shapes: { readonly dim: number; readonly classes: number },
  settings: SummarySettings,
): Effect.Effect<ChunkSummary, TrainingStreamInvalid> =>
  Effect.gen(function* () {
    const { dim, classes } = shapes;
    const { start, size, labels } = features;
    if (
      labels.length !== size || features.penultimate.length !== size * dim ||
      features.logits.length !== size * classes
    ) {
      return yield* new TrainingStreamInvalid({
        source: settings.description,
        problem: `the chunk at image ${start} has ${labels.length} labels, ` +
          `${features.penultimate.length / dim} feature rows and ` +
          `${features.logits.length / classes} logit rows for ${size} images`,
      });
    }
    yield* checkLabels(settings.description, start, labels, classes);
    const perImage = size === 0 ? 0 : features.pixels.length / size;
    const penultimateSums = new Float64Array(classes * dim);
    const counts = new Float64Array(classes);
    addRowsByClass(penultimateSums, counts, labels, features.penultimate, dim);
    const logits = matrix(size, classes, features.logits);
    const predicted = predictedClasses(logits);
    const second = settings.rankOf.size > 0 ? secondLargest(logits) : undefined;
    const keptImages: Array<number> = [];
    const mix: Array<{ rank: number; image: number; target: number }> = [];
    for (let i = 0; i < size; i++) {
      if (predicted[i] === labels[i]) keptImages.push(i);
      const rank = settings.rankOf.get(start + i);
      if (rank !== undefined) mix.push({ rank, image: i, target: second![i]! });
    }
    const kept = new Float32Array(keptImages.length * dim);
    keptImages.forEach((i, k) =>
      kept.set(features.penultimate.subarray(i * dim, (i + 1) * dim), k * dim)
    );
    const mixPixels = new Uint8Array(mix.length * perImage);
    mix.forEach((m, k) =>
      mixPixels.set(
        features.pixels.subarray(m.image * perImage, (m.image + 1) * perImage),
        k * perImage,
      )
    );
    return {
      start,
      size,
      penultimateSums,
      counts,
      kept,
      keptImages: Int32Array.from(keptImages, (i) => start + i),
      mixRanks: Uint32Array.from(mix, (m) => m.rank),
      mixPixels,
      mixTargets: Uint8Array.from(mix, (m) => m.target),
    } satisfies ChunkSummary;
  });

/** The map of the streamed fit: the forward, then the summary (see the module doc). */
export const mapFeatureChunk = (
  model: FeatureModel,
  chunk: TrainingChunk,
  settings: FeatureMapSettings,
): Effect.Effect<FeatureChunk, FeatureMapError> =>
  Effect.gen(function* () {
    const { features, earlySums } = yield* forwardChunk(model, chunk, settings);
    const summary = yield* summariseChunk(features, shapesOf(model), settings);
    return { ...summary, earlySums } satisfies FeatureChunk;
  });

/** The penultimate size D and the number of classes C of a model. */
export const shapesOf = (model: FeatureModel): { dim: number; classes: number } => ({
  dim: sizeOf(model.shapes.penultimate),
  classes: sizeOf(model.shapes.logits),
});
