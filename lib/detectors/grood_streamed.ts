/**
 * GROOD's fit in bounded memory (`grood fit`, the cluster's fit): the training stream is read chunk
 * by chunk, mapped here or by a caller's {@link ChunkMapper}, reduced in chunk order, then the OOD
 * prototype, descriptors (in place over the kept rows) and index of `grood_core.ts`. Memory grows
 * with the index, not the images. The sources that need more than the training stream (noise,
 * validation OOD, custom) and the temperature grid are `grood()`'s (docs/architecture.md).
 *
 * @module
 */
import { Effect, Stream } from "effect";
import type { IndexSpec, NearestNeighbourIndex } from "../knn/mod.ts";
import type { Matrix } from "../matrix.ts";
import type { ModelError } from "../models/errors.ts";
import type { FeatureModel } from "../models/model.ts";
import { reportProgress } from "../progress.ts";
import type { MissingLabels } from "../stages/features.ts";
import type { GradientPrototypes } from "../stages/gradient.ts";
import { MIXUP_DEFAULTS, mixupChoice, type MixupOptions } from "../stages/mixup.ts";
import type { EmptyClass, Prototypes } from "../stages/prototype.ts";
import type { DetectorError } from "./detector.ts";
import {
  type ChunkMapFailed,
  type FeatureChunk,
  FIT_CHUNK,
  mapFeatureChunk,
  mixupRanks,
  type TrainingChunk,
  TrainingStreamInvalid,
} from "./grood_chunks.ts";
import { indexOver, oodPrototypeOf, trainingDescriptors } from "./grood_core.ts";
import { featureReducer } from "./grood_reduce.ts";
import type { IndexBuilder, SpecOodPrototype } from "./grood_options.ts";

/** One batch of a labelled training stream (an `OpenedSource`'s `SourceBatch` is one). */
export type TrainingBatch = TrainingChunk;

/** A labelled training set read batch by batch (an `OpenedSource` is one). */
export interface TrainingStream<E> {
  /** Names the set in errors. */
  readonly description: string;
  /** Number of images in the stream. */
  readonly count: number;
  /** Every image's size (height × width × channels), the model's input size. */
  readonly shape: { readonly height: number; readonly width: number; readonly channels: number };
  /** The images in order, `batchSize` at a time. */
  readonly batches: (batchSize: number) => Stream.Stream<TrainingBatch, E>;
}

/** What a {@link ChunkMapper} is asked to map. */
export interface FeatureJob<E> {
  /** The model whose features are summed. */
  readonly model: FeatureModel;
  /** The training stream the chunks are cut from. */
  readonly train: TrainingStream<E>;
  /** Images per chunk: chunk k is images [k·chunk, min(count, (k+1)·chunk)). */
  readonly chunk: number;
  /** Images per forward batch inside a chunk. */
  readonly batchSize: number;
  /** The mix-up's chosen images (stream indices), in mix-up order. */
  readonly chosen: Uint32Array;
}

/**
 * Who runs the maps: this process by default, or a cluster's driver, which must still run
 * `job.train` once (the caller takes the source's checksum on the way).
 */
export interface ChunkMapper<E> {
  /** Every chunk's map result, in chunk order. */
  readonly features: (job: FeatureJob<E>) => Stream.Stream<FeatureChunk, E | StreamedGroodError<E>>;
  /**
   * The descriptors of each feature chunk's kept rows, in chunk order (absent: computed here,
   * `descriptorChunk` rows at a time).
   */
  readonly descriptors?: (
    prototypes: GradientPrototypes,
    temperature: number,
  ) => Stream.Stream<Float32Array, E | StreamedGroodError<E>>;
}

/** Options of {@link fitGroodStreamed} (GROOD's defaults when absent). */
export interface StreamedGroodOptions {
  /** Where the OOD prototype comes from (default: the targeted mix-up with GROOD's defaults). */
  readonly oodPrototype?: Extract<SpecOodPrototype, { readonly kind: "mixup" | "mean" }>;
  /** NCP-logit temperature (default 1, the paper). */
  readonly temperature?: number;
  /** A registered index kind with its options (default `{ kind: "exact" }`) or a user's own builder. */
  readonly index?: IndexSpec | IndexBuilder;
  /** Seed of the HNSW graph and of IVF's k-means. */
  readonly seed?: number;
  /** Images per forward batch of the pass (default 500, as `extractFeatures`). */
  readonly batchSize?: number;
  /** Images per chunk of the map (default `FIT_CHUNK`): a setting of the fit, as the batch. */
  readonly chunk?: number;
  /** Training descriptors made per step when computed here (default 8,192 rows). */
  readonly descriptorChunk?: number;
}

/** What a streamed fit returns; the caller owns (and disposes) `index`. */
export interface StreamedGroodFit {
  /** Class prototypes (early and penultimate) of the training stream. */
  readonly prototypes: Prototypes;
  /** The OOD prototype (D values, in the penultimate space). */
  readonly oodPrototype: Float32Array;
  /** Descriptors of the correctly classified training images, in image order. */
  readonly descriptors: Matrix;
  /** The training image behind each descriptor row. */
  readonly indexedImages: Int32Array;
  /** Nearest-neighbour index over `descriptors`. */
  readonly index: NearestNeighbourIndex;
  /** Number of training images read. */
  readonly images: number;
}

/** Everything the fit may fail with. */
export type StreamedGroodError<E> =
  | E
  | ModelError
  | MissingLabels
  | EmptyClass
  | TrainingStreamInvalid
  | ChunkMapFailed
  | DetectorError;

/** The map run in this process: the stream cut into chunks, each mapped as it passes. */
export const inProcessMapper = <E>(): ChunkMapper<E> => ({
  features: (job) => {
    let next = 0;
    const rankOf = mixupRanks(job.chosen);
    return job.train.batches(job.chunk).pipe(
      Stream.mapEffect((batch) =>
        Effect.gen(function* () {
          if (
            batch.start !== next ||
            (batch.size !== job.chunk && next + batch.size < job.train.count)
          ) {
            return yield* new TrainingStreamInvalid({
              source: job.train.description,
              problem: `a batch holds images [${batch.start}, ${batch.start + batch.size}); ` +
                `expected [${next}, ${Math.min(job.train.count, next + job.chunk)})`,
            });
          }
          next += batch.size;
          return yield* mapFeatureChunk(job.model, batch, {
            description: job.train.description,
            channels: job.train.shape.channels,
            batchSize: job.batchSize,
            rankOf,
          });
        })
      ),
    );
  },
});

/** Fit GROOD on `model` over `train` read chunk by chunk (see the module doc). */
export const fitGroodStreamed = <E>(
  model: FeatureModel,
  train: TrainingStream<E>,
  options: StreamedGroodOptions = {},
  mapper: ChunkMapper<E> = inProcessMapper<E>(),
): Effect.Effect<StreamedGroodFit, StreamedGroodError<E>> =>
  Effect.gen(function* () {
    const source = options.oodPrototype ?? { kind: "mixup" as const, ...MIXUP_DEFAULTS };
    const batchSize = options.batchSize ?? 500;
    const chunk = options.chunk ?? FIT_CHUNK;
    const count = train.count;
    const perImage = train.shape.height * train.shape.width * train.shape.channels;
    // The mix-up's images, chosen before the pass (the choice needs only the count).
    const chosen = source.kind === "mixup"
      ? yield* mixupChoice(count, source as MixupOptions)
      : new Uint32Array(0);
    const reducer = featureReducer(
      model,
      { description: train.description, count, perImage },
      chosen.length,
    );
    let seen = 0;
    yield* Stream.runForEach(
      mapper.features({ model, train, chunk, batchSize, chosen }),
      (mapped) =>
        Effect.tap(
          reducer.add(mapped),
          () => {
            seen += mapped.size;
            return reportProgress(`features of ${train.description}`, seen, count);
          },
        ),
    );
    const reduced = yield* reducer.finish();
    const oodPrototype = yield* oodPrototypeOf(model, source, reduced, {
      name: train.description,
      shape: train.shape,
    });
    const { prototypes } = reduced;
    const gradientPrototypes = { classes: prototypes.penultimate, ood: oodPrototype };
    const { kept } = reduced;
    const { rows: nKept, cols: dim } = kept;
    const temperature = options.temperature ?? 1;
    if (mapper.descriptors === undefined) {
      // In place: the kept rows become their descriptors, step by step.
      yield* trainingDescriptors(kept, gradientPrototypes, temperature, {
        step: options.descriptorChunk ?? 8192,
        into: kept.data,
        report: true,
      });
    } else {
      let filled = 0;
      yield* Stream.runForEach(mapper.descriptors(gradientPrototypes, temperature), (rows) =>
        Effect.gen(function* () {
          if (rows.length % dim !== 0 || filled + rows.length / dim > nKept) {
            return yield* new TrainingStreamInvalid({
              source: train.description,
              problem: `descriptor rows beyond the ${nKept} correctly classified images`,
            });
          }
          kept.data.set(rows, filled * dim);
          filled += rows.length / dim;
          yield* reportProgress("descriptors", filled, nKept);
        }));
      if (filled !== nKept) {
        return yield* new TrainingStreamInvalid({
          source: train.description,
          problem: `${filled} descriptor rows for ${nKept} correctly classified images`,
        });
      }
    }
    const index = yield* indexOver(options.index ?? { kind: "exact" }, kept, options.seed ?? 0);
    return {
      prototypes,
      oodPrototype,
      descriptors: kept,
      indexedImages: reduced.keptImages,
      index,
      images: count,
    } satisfies StreamedGroodFit;
  });
