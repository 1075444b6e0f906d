/**
 * GROOD's fit in bounded memory: the training images are read batch by batch and forgotten,
 * so a fit's memory grows with its index (the descriptors kept for k-NN), not with the number
 * of images. One pass of the model over the stream accumulates what every stage needs:
 *
 * - the class prototypes: float64 sums per class of the early and penultimate features, in
 *   image order (the same sums, so the same bits, as `extractFeatures` + `computePrototypes`);
 * - the mix-up's images: the seeded choice of `mixupChoice` is known before the pass (it only
 *   needs the image count), so the chosen images' pixels (10,000 by default, a fixed size) and
 *   their second-most-likely classes are copied out as they pass;
 * - the penultimate features of the correctly classified images, into one buffer of
 *   count × D float32 (the index's size; the descriptors then overwrite it in place).
 *
 * Then the mix-up (`mixupImages`, the same code as the in-memory fit on the same images in the
 * same order), the descriptors chunk by chunk (each row depends on its own features only) and
 * the index. Results equal `grood().fit` on the same images held in memory, bit for bit
 * (`tests/grood_streamed_test.ts`), when both use the same batch size.
 *
 * What it does not do: the OOD-prototype sources that need more than the training stream
 * (noise, validation-OOD images, custom code) and the temperature grid, which needs validation
 * data; those fit in memory with `grood()`.
 *
 * @module
 */
import { Data, Effect, Stream } from "effect";
import type { ImageSet } from "../data/images.ts";
import { buildIndex, type IndexSpec, type NearestNeighbourIndex } from "../knn/mod.ts";
import { type Matrix, matrix } from "../matrix.ts";
import type { ModelError } from "../models/errors.ts";
import { requireFiniteOutputs } from "../models/finite.ts";
import { type FeatureModel, preprocess, sizeOf } from "../models/model.ts";
import { MissingLabels, predictedClasses } from "../stages/features.ts";
import { groodDescriptors } from "../stages/gradient.ts";
import {
  meanOfPrototypes,
  MIXUP_DEFAULTS,
  mixupChoice,
  mixupImages,
  type MixupOptions,
  secondLargest,
} from "../stages/mixup.ts";
import { EmptyClass, type Prototypes } from "../stages/prototype.ts";
import type { DetectorError } from "./detector.ts";
import type { IndexBuilder } from "./grood_options.ts";

/** One batch of a labelled training stream (an `OpenedSource`'s `SourceBatch` is one). */
export interface TrainingBatch {
  /** Index of the batch's first image in the stream. */
  readonly start: number;
  /** Number of images in the batch. */
  readonly size: number;
  /** `size` images, NHWC uint8, at the model's input size. */
  readonly pixels: Uint8Array;
  /** `size` class labels (0-based), for a labelled stream. */
  readonly labels?: Uint8Array;
}

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

/** Options of {@link fitGroodStreamed} (GROOD's defaults when absent). */
export interface StreamedGroodOptions {
  /** Where the OOD prototype comes from (default: the targeted mix-up with GROOD's defaults). */
  readonly oodPrototype?:
    | {
      readonly kind: "mixup";
      readonly lambda: number;
      /** Absent: min(10,000, training images). */
      readonly samples?: number | "all";
      readonly seed: number;
    }
    | { readonly kind: "mean" };
  /** NCP-logit temperature (default 1, the paper). */
  readonly temperature?: number;
  /** A registered index kind with its options (default `{ kind: "exact" }`) or a user's own builder. */
  readonly index?: IndexSpec | IndexBuilder;
  /** Seed of the HNSW graph and of IVF's k-means. */
  readonly seed?: number;
  /** Images per forward batch of the pass (default 500, as `extractFeatures`). */
  readonly batchSize?: number;
  /** Training descriptors made per chunk (default 8,192 rows). */
  readonly descriptorChunk?: number;
  /** Reports a stage's progress (done of total). */
  readonly progress?: (stage: string, done: number, total: number) => void;
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
  | DetectorError;

/** Fit GROOD on `model` over `train` read batch by batch (see the module doc). */
export const fitGroodStreamed = <E>(
  model: FeatureModel,
  train: TrainingStream<E>,
  options: StreamedGroodOptions = {},
): Effect.Effect<StreamedGroodFit, StreamedGroodError<E>> =>
  Effect.gen(function* () {
    const source = options.oodPrototype ?? { kind: "mixup" as const, ...MIXUP_DEFAULTS };
    const batchSize = options.batchSize ?? 500;
    const progress = options.progress ?? (() => {});
    const count = train.count;
    const dim = sizeOf(model.shapes.penultimate);
    const classes = sizeOf(model.shapes.logits);
    const earlySize = sizeOf(model.shapes.early);
    const perImage = train.shape.height * train.shape.width * train.shape.channels;

    // The mix-up's images, chosen before the pass (the choice needs only the count).
    const chosen = source.kind === "mixup"
      ? yield* mixupChoice(count, source as MixupOptions)
      : new Uint32Array(0);
    const rankOf = new Map<number, number>();
    chosen.forEach((image, rank) => rankOf.set(image, rank));
    const mixPixels = new Uint8Array(chosen.length * perImage);
    const mixTargets = new Uint8Array(chosen.length);

    const earlySums = new Float64Array(classes * earlySize);
    const earlyCounts = new Float64Array(classes);
    const penSums = new Float64Array(classes * dim);
    const counts = new Array<number>(classes).fill(0);
    // The correctly classified images' features; the descriptors overwrite them in place.
    const kept = new Float32Array(count * dim);
    const keptImages = new Int32Array(count);
    let nKept = 0;
    let seen = 0;
    const invalid = (problem: string) =>
      Effect.fail(new TrainingStreamInvalid({ source: train.description, problem }));

    yield* Stream.runForEach(train.batches(batchSize), (batch) =>
      Effect.gen(function* () {
        if (batch.start !== seen) {
          return yield* invalid(`a batch starts at image ${batch.start}, expected ${seen}`);
        }
        const labels = batch.labels;
        if (labels === undefined) return yield* new MissingLabels({ set: train.description });
        const x = yield* preprocess(
          model.name,
          model.input,
          batch.pixels,
          batch.size,
          train.shape.channels,
        );
        const [pen, logits, early] = yield* model.forward(x, "input", [
          "penultimate",
          "logits",
          "early",
        ]);
        yield* requireFiniteOutputs(
          { model: model.name, set: train.description, start: batch.start, rows: batch.size },
          [["penultimate features", pen!], ["logits", logits!]],
        );
        const logitRows = matrix(batch.size, classes, logits!.data);
        const predicted = predictedClasses(logitRows);
        const second = rankOf.size > 0 ? secondLargest(logitRows) : undefined;
        for (let i = 0; i < batch.size; i++) {
          const image = batch.start + i;
          const c = labels[i]!;
          if (c >= classes) {
            return yield* invalid(
              `image ${image} has label ${c}; the model has ${classes} classes`,
            );
          }
          earlyCounts[c]! += 1;
          const row = early!.data.subarray(i * earlySize, (i + 1) * earlySize);
          const earlyOffset = c * earlySize;
          for (let j = 0; j < earlySize; j++) earlySums[earlyOffset + j]! += row[j]!;
        }
        for (let i = 0; i < batch.size; i++) {
          const c = labels[i]!;
          counts[c]!++;
          for (let j = 0; j < dim; j++) penSums[c * dim + j]! += pen!.data[i * dim + j]!;
          if (predicted[i] === c) {
            kept.set(pen!.data.subarray(i * dim, (i + 1) * dim), nKept * dim);
            keptImages[nKept++] = batch.start + i;
          }
          const rank = rankOf.get(batch.start + i);
          if (rank !== undefined) {
            mixPixels.set(batch.pixels.subarray(i * perImage, (i + 1) * perImage), rank * perImage);
            mixTargets[rank] = second![i]!;
          }
        }
        seen += batch.size;
        progress(`features of ${train.description}`, seen, count);
      }));
    if (seen !== count) {
      return yield* invalid(`the stream gave ${seen} images, expected ${count}`);
    }

    const empty = counts.findIndex((n) => n === 0);
    if (empty >= 0) return yield* new EmptyClass({ set: train.description, classIndex: empty });
    const prototypes: Prototypes = {
      earlyBoundary: model.taps.early,
      earlyShape: model.shapes.early,
      early: matrix(
        classes,
        earlySize,
        Float32Array.from(earlySums, (s, i) => s / earlyCounts[Math.floor(i / earlySize)]!),
      ),
      penultimate: matrix(
        classes,
        dim,
        Float32Array.from(penSums, (s, i) => s / counts[Math.floor(i / dim)]!),
      ),
      counts,
    };

    const mixSet: ImageSet = {
      name: `${train.description}/mixup`,
      count: chosen.length,
      pixels: mixPixels,
      shape: train.shape,
    };
    const oodPrototype = source.kind === "mixup"
      ? yield* mixupImages(model, mixSet, mixTargets, prototypes, { lambda: source.lambda })
      : meanOfPrototypes(prototypes);

    const gradientPrototypes = { classes: prototypes.penultimate, ood: oodPrototype };
    const chunk = options.descriptorChunk ?? 8192;
    for (let start = 0; start < nKept; start += chunk) {
      const end = Math.min(nKept, start + chunk);
      const rows = matrix(end - start, dim, kept.subarray(start * dim, end * dim));
      const descriptors = yield* groodDescriptors(rows, gradientPrototypes, options.temperature);
      kept.set(descriptors.data, start * dim);
      progress("descriptors", end, nKept);
    }
    const descriptors = matrix(nKept, dim, kept.subarray(0, nKept * dim));
    const name = "GROOD training descriptors";
    const which = options.index ?? { kind: "exact" };
    const index: NearestNeighbourIndex = "kind" in which
      ? yield* buildIndex(which, descriptors, { name, seed: options.seed ?? 0 })
      : yield* which.build(descriptors);
    const fit: StreamedGroodFit = {
      prototypes,
      oodPrototype,
      descriptors,
      indexedImages: keptImages.subarray(0, nKept),
      index,
      images: count,
    };
    return fit;
  });
