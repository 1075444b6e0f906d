/**
 * GROOD's one fit after the chunk map, shared by `fitGroodStreamed` and `grood().fit`: the reduce
 * of features held in memory, the OOD prototype, the descriptors of the kept rows and the index.
 * With the same chunk size, batch size and model both give the same bits
 * (`tests/grood_streamed_test.ts`).
 *
 * @module
 */
import { Effect } from "effect";
import type { ImageSet, LabelledSet } from "../data/images.ts";
import { InvalidParameter } from "../errors.ts";
import {
  buildIndex,
  indexKind,
  type IndexSpec,
  type IvfIndex,
  type NearestNeighbourIndex,
} from "../knn/mod.ts";
import { type Matrix, matrix } from "../matrix.ts";
import type { ModelError } from "../models/errors.ts";
import type { NonFiniteOutput } from "../models/finite.ts";
import type { FeatureModel } from "../models/model.ts";
import { reportProgress } from "../progress.ts";
import type { ClassSums, SetFeatures } from "../stages/features.ts";
import { type GradientPrototypes, groodDescriptors } from "../stages/gradient.ts";
import { meanOfPrototypes, mixupImages } from "../stages/mixup.ts";
import type { EmptyClass } from "../stages/prototype.ts";
import { type Artefact, artefact, type DetectorError } from "./detector.ts";
import { mixupRanks, summariseChunk, TrainingStreamInvalid } from "./grood_chunks.ts";
import type { IndexBuilder } from "./grood_options.ts";
import { type ReducedFeatures, summaryReducer } from "./grood_reduce.ts";

/**
 * The reduce of in-memory training features, cut into the chunks the extraction added the early
 * class sums `early` in: the same bits as the streamed fit's reduce.
 */
export const reduceInMemory = (
  train: { readonly images: LabelledSet; readonly features: SetFeatures },
  early: ClassSums,
  chosen: Uint32Array,
): Effect.Effect<ReducedFeatures, InvalidParameter | TrainingStreamInvalid | EmptyClass> =>
  Effect.gen(function* () {
    const { images, features } = train;
    const chunk = early.chunk;
    if (!(Number.isInteger(chunk) && chunk >= 1)) {
      return yield* new InvalidParameter({
        name: `the chunk of the class sums at ${early.boundary}`,
        value: chunk,
        expected: "a whole number ≥ 1",
      });
    }
    const description = images.name;
    const count = features.count;
    const shapes = { dim: features.penultimate.cols, classes: features.logits.cols };
    const { dim, classes } = shapes;
    const perImage = count === 0 ? 0 : images.pixels.length / images.count;
    if (images.count !== count || images.labels.length !== count) {
      return yield* new TrainingStreamInvalid({
        source: description,
        problem: `${count} feature rows for ${images.count} images and ` +
          `${images.labels.length} labels`,
      });
    }
    const reducer = summaryReducer(shapes, { description, count, perImage }, chosen.length);
    const rankOf = mixupRanks(chosen);
    for (let start = 0; start < count; start += chunk) {
      const size = Math.min(chunk, count - start);
      const summary = yield* summariseChunk(
        {
          start,
          size,
          labels: images.labels.subarray(start, start + size),
          penultimate: features.penultimate.data.subarray(start * dim, (start + size) * dim),
          logits: features.logits.data.subarray(start * classes, (start + size) * classes),
          pixels: images.pixels.subarray(start * perImage, (start + size) * perImage),
        },
        shapes,
        { description, rankOf },
      );
      yield* reducer.add(summary);
    }
    const reduced = yield* reducer.finish(early);
    // The class sums must count the images the features are of, or they belong to another set.
    if (reduced.prototypes.counts.some((n, c) => n !== early.counts[c])) {
      return yield* new TrainingStreamInvalid({
        source: description,
        problem: `the class sums at ${early.boundary} count other images than the features`,
      });
    }
    return reduced;
  });

/** Where a fit's OOD prototype comes from, when it comes from the training images alone. */
export type CoreOodSource = { readonly kind: "mixup"; readonly lambda: number } | {
  readonly kind: "mean";
};

/**
 * The OOD prototype from the reduce: the targeted mix-up of its chosen images (in the mix-up's
 * order, mixed on `model` at its early tap) or the mean of the class prototypes.
 */
export const oodPrototypeOf = (
  model: FeatureModel,
  source: CoreOodSource,
  reduced: ReducedFeatures,
  train: Pick<ImageSet, "name" | "shape">,
): Effect.Effect<Float32Array, InvalidParameter | ModelError | NonFiniteOutput> =>
  source.kind === "mean" ? Effect.succeed(meanOfPrototypes(reduced.prototypes)) : mixupImages(
    model,
    {
      name: `${train.name}/mixup`,
      count: reduced.mixTargets.length,
      pixels: reduced.mixPixels,
      ...(train.shape === undefined ? {} : { shape: train.shape }),
    },
    reduced.mixTargets,
    reduced.prototypes,
    { lambda: source.lambda },
  );

/** Options of {@link trainingDescriptors}. */
export interface DescriptorSteps {
  /** Rows per step (default 8,192). */
  readonly step?: number;
  /** Where the descriptors go (rows × D; `kept.data` itself to overwrite it); default new. */
  readonly into?: Float32Array;
  /** Report each step to the context's `Progress` as `descriptors`. */
  readonly report?: boolean;
}

/**
 * The descriptors of the kept rows, `step` rows at a time (each row depends only on its own
 * features, so the steps do not change the bits).
 */
export const trainingDescriptors = (
  kept: Matrix,
  prototypes: GradientPrototypes,
  temperature: number,
  options: DescriptorSteps = {},
): Effect.Effect<Matrix, DetectorError> =>
  Effect.gen(function* () {
    const { rows, cols } = kept;
    const step = options.step ?? 8192;
    if (!(Number.isInteger(step) && step >= 1)) {
      return yield* new InvalidParameter({
        name: "descriptorChunk",
        value: step,
        expected: "a whole number ≥ 1",
      });
    }
    const out = options.into ?? new Float32Array(rows * cols);
    for (let start = 0; start < rows || start === 0; start += step) {
      const end = Math.min(rows, start + step);
      const part = matrix(end - start, cols, kept.data.subarray(start * cols, end * cols));
      const descriptors = yield* groodDescriptors(part, prototypes, temperature);
      out.set(descriptors.data, start * cols);
      if (options.report === true) yield* reportProgress("descriptors", end, rows);
      if (end === rows) break;
    }
    return matrix(rows, cols, out.subarray(0, rows * cols));
  });

/** The index over the training descriptors: a registered kind, or a user's own builder. */
export const indexOver = (
  which: IndexSpec | IndexBuilder,
  descriptors: Matrix,
  seed: number,
): Effect.Effect<NearestNeighbourIndex, DetectorError> =>
  "kind" in which
    ? buildIndex(which, descriptors, { name: "GROOD training descriptors", seed })
    : which.build(descriptors);

/** The artefact holding an IVF index's k-means centroids (a fitted folder saves it). */
export const IVF_CENTROIDS_ARTEFACT = "ivf-centroids";

/**
 * The centroids of `index` when the ivf kind made it (its lists, so a fitted folder need not
 * run k-means again), else nothing.
 */
export const ivfCentroidsOf = (index: NearestNeighbourIndex): ReadonlyArray<Artefact> => {
  if (indexKind("ivf")?.owns(index) !== true) return [];
  const ivf = index as IvfIndex;
  const description = `lists × D k-means centroids of the IVF index over the training ` +
    `descriptors, centred on their mean (nprobe ${ivf.ivf.nprobe})`;
  return [artefact(IVF_CENTROIDS_ARTEFACT, description, ivf.centroids, [ivf.ivf.lists, ivf.dim])];
};
