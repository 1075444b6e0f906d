/**
 * GROOD (ElAraby et al., TMLR 2025) as a detector: prototype → mix-up (OOD prototype) → gradient
 * descriptors of the correctly classified training images → index → k-NN distance. Its fit is
 * GROOD's one fit (`grood_core.ts`, docs/architecture.md "GROOD's one fit") over the features the
 * pipeline extracted once; on top it offers the OOD-prototype sources beyond the training images,
 * the distance descriptor, the temperature tuned on validation data, prototypes at any summed block
 * and the stage cache (each stage keyed by its inputs, so an ablation over k reuses the
 * descriptors' inputs). Defaults and their reasons: docs/method.md "Defaults, and why".
 *
 * @module
 */
import { Effect, Exit } from "effect";
import { concatSets, type ImageSet, subset } from "../data/images.ts";
import { squaredDistance } from "../distance.ts";
import { InvalidParameter } from "../errors.ts";
import { type Matrix, matrix } from "../matrix.ts";
import { type Codec, StageCache } from "../cache/cache.ts";
import type { NpyData } from "../io/npy.ts";
import { type GradientPrototypes, groodDescriptors } from "../stages/gradient.ts";
import type { IndexSpec, NearestNeighbourIndex } from "../knn/mod.ts";
import {
  meanOfPrototypes,
  meanPenultimate,
  mixupChoice,
  smoothedNoiseImages,
} from "../stages/mixup.ts";
import { type ResolvedGroodOptions, resolveGroodOptions } from "./grood_defaults.ts";
import {
  describeSource,
  GROOD_DEFAULTS,
  type GroodOptions,
  type IndexBuilder,
} from "./grood_options.ts";
import { Compute } from "../compute/compute.ts";
import { groodFeatureModel, groodTaps } from "../models/grood_cnn.ts";
import { MissingFeatures, type Prototypes } from "../stages/prototype.ts";
import {
  indexOver,
  ivfCentroidsOf,
  oodPrototypeOf,
  reduceInMemory,
  trainingDescriptors,
} from "./grood_core.ts";
import { knnScore } from "../stages/score.ts";
import {
  type Artefact,
  artefact,
  type Detector,
  type ExtractedSet,
  type FitInputs,
  type FittedDetector,
  fittedDetector,
  matrixArtefact,
  type TunedParameter,
} from "./detector.ts";
import { tuneUnlessFixed } from "./tune.ts";

// Re-exported where callers have taken them.
export { GROOD_DEFAULTS, type GroodOptions, type IndexBuilder } from "./grood_options.ts";

/** A matrix as a stored array, and back. */
const stored = (m: Matrix) => ({ data: m.data, shape: [m.rows, m.cols] });
const restored = (a: { data: NpyData; shape: ReadonlyArray<number> }) =>
  matrix(a.shape[0]!, a.shape[1]!, a.data as Float32Array);
const matrixCodec: Codec<Matrix> = {
  encode: (m) => ({ arrays: { matrix: stored(m) }, meta: null }),
  decode: (arrays) => restored(arrays.get("matrix")!),
};
const vectorCodec: Codec<Float32Array> = {
  encode: (v) => ({ arrays: { vector: { data: v, shape: [v.length] } }, meta: null }),
  decode: (arrays) => arrays.get("vector")!.data as Float32Array,
};
const prototypesCodec: Codec<Prototypes> = {
  encode: (p) => ({
    arrays: { early: stored(p.early), penultimate: stored(p.penultimate) },
    meta: { earlyBoundary: p.earlyBoundary, earlyShape: p.earlyShape, counts: p.counts },
  }),
  decode: (arrays, meta) => ({
    ...(meta as Pick<Prototypes, "earlyBoundary" | "earlyShape" | "counts">),
    early: restored(arrays.get("early")!),
    penultimate: restored(arrays.get("penultimate")!),
  }),
};

/** Distance of each row to a vector, negated (ablation score: far from p_ood = ID). */
export function negativeDistanceTo(features: Matrix, vector: Float32Array): Float64Array {
  const { rows, cols, data } = features;
  return Float64Array.from(
    { length: rows },
    (_, i) => -Math.sqrt(squaredDistance(data, i * cols, vector, 0, cols)),
  );
}

/**
 * The GROOD detector. Its fit stores each stage's output in the context's `StageCache` (off by
 * default), keyed from the training extraction's key, which covers the model.
 */
export function grood(options: Partial<GroodOptions> = {}, name = "GROOD"): Detector {
  const given: GroodOptions = { ...GROOD_DEFAULTS, ...options };
  return {
    name,
    description: "GROOD: k-NN distance in the gradient space of a nearest-prototype loss " +
      "w.r.t. an OOD prototype made by targeted mix-up (ElAraby et al., TMLR 2025)",
    fit: (inputs: FitInputs) =>
      Effect.scoped(Effect.gen(function* () {
        const { model, train } = inputs;
        const context = { earlyTap: model.taps.early, trainCount: train.images.count };
        const o = resolveGroodOptions(given, context);
        const cache = yield* StageCache;
        const early = train.classSums.find((s) => s.boundary === o.earlyBoundary);
        if (early === undefined) {
          return yield* new MissingFeatures({
            set: train.images.name,
            what: `no class sums were accumulated at boundary "${o.earlyBoundary}"`,
          });
        }
        if (
          model.network === undefined && o.oodPrototype.kind === "mixup" &&
          o.earlyBoundary !== model.taps.early
        ) {
          // Without grood's own network the mix-up starts its forward at the model's early tap:
          // prototypes summed elsewhere would be mixed at the wrong layer.
          return yield* new InvalidParameter({
            name: "earlyBoundary",
            value: o.earlyBoundary,
            expected:
              `the early tap "${model.taps.early}" of ${model.name} (its mix-up starts there)`,
          });
        }
        // GROOD's one fit (grood_core.ts), run once and only when a stage below is not cached.
        const chosen = o.oodPrototype.kind === "mixup"
          ? yield* mixupChoice(train.images.count, o.oodPrototype)
          : new Uint32Array(0);
        const reduce = yield* Effect.cached(reduceInMemory(train, early, chosen));
        const prototypes = yield* cache.cached(
          "prototypes",
          // The chunk the sums were added in steers the prototypes' last bits.
          { train: train.key, earlyBoundary: o.earlyBoundary, chunk: early.chunk },
          prototypesCodec,
          Effect.map(reduce, (reduced) => reduced.prototypes),
        );
        const source = o.oodPrototype;
        // At the model's early tap the mix-up runs on the model itself, as the streamed fit's
        // (same bits); at another block of grood's network (the ablation) on that network.
        const net = model.network;
        const atTap = net === undefined || o.earlyBoundary === model.taps.early;
        const mixupModel = atTap ? Effect.succeed(model) : Effect.gen(function* () {
          const { tf } = yield* Compute;
          return yield* groodFeatureModel(tf, net, "grood's classifier", {
            ...groodTaps(net),
            early: o.earlyBoundary,
          });
        });
        const meanOf = (images: ImageSet) => meanPenultimate(model, images);
        const oodCompute = (() => {
          switch (source.kind) {
            case "mixup":
              return Effect.flatMap(
                Effect.zip(mixupModel, reduce),
                ([m, reduced]) => oodPrototypeOf(m, source, reduced, train.images),
              );
            case "mean":
              return Effect.succeed(meanOfPrototypes(prototypes.value));
            case "noise":
              return meanOf(smoothedNoiseImages(source.count, source.seed));
            case "custom":
              return source.compute(inputs, prototypes.value);
            case "validation": {
              const all = concatSets(inputs.validation.ood.map((s) => s.images), "validation-ood");
              const n = source.firstImages;
              return meanOf(
                n === undefined || n >= all.count
                  ? all
                  : subset(all, Array.from({ length: n }, (_, i) => i), `validation-ood[:${n}]`),
              );
            }
          }
        })();
        const ood = yield* cache.cached(
          "ood-prototype",
          {
            prototypes: prototypes.key,
            source: source.kind === "custom" ? { kind: "custom", name: source.name } : source,
            ...(source.kind === "validation"
              ? { validation: inputs.validation.ood.map((s) => s.key ?? s.images.name) }
              : {}),
          },
          vectorCodec,
          oodCompute,
        );
        const gradientPrototypes = { classes: prototypes.value.penultimate, ood: ood.value };
        if (o.descriptor === "distance") {
          return fittedDetector({
            score: (set: ExtractedSet) =>
              Effect.succeed(negativeDistanceTo(set.features.penultimate, ood.value)),
            settings: groodSettings(o, "none", o.temperature),
            artefacts: [oodArtefact(ood.value, source)],
          });
        }
        // Only correctly classified training samples are indexed, as the reference does.
        const descriptorsAt = (temperature: number) =>
          cache.cached(
            "descriptors",
            { prototypes: prototypes.key, ood: ood.key, rows: "correct", temperature },
            matrixCodec,
            Effect.flatMap(
              reduce,
              (reduced) => trainingDescriptors(reduced.kept, gradientPrototypes, temperature),
            ),
          );
        const indexOf = (descriptors: Matrix) => indexOver(o.index, descriptors, o.seed);
        const scorer = (index: NearestNeighbourIndex, temperature: number) => (set: ExtractedSet) =>
          groodScores(set, gradientPrototypes, index, temperature, o.k);
        // The temperature extension may be chosen on validation data (never on test OOD).
        const fixed = o.temperatureGrid === undefined ? o.temperature : undefined;
        const { chosen: temperature, tuned } = yield* tuneUnlessFixed(fixed, {
          detector: name,
          parameter: "temperature",
          grid: o.temperatureGrid ?? [],
          validation: inputs.validation,
          // Each candidate's index is released by tuneParameter once its scores are in.
          candidate: (temperature) =>
            Effect.gen(function* () {
              const index = yield* indexOf((yield* descriptorsAt(temperature)).value);
              return { score: scorer(index, temperature), dispose: () => index.dispose() };
            }),
        });
        const descriptors = (yield* descriptorsAt(temperature)).value;
        // Released on failure or interruption; on success the fitted detector owns it.
        const index = yield* Effect.acquireRelease(
          indexOf(descriptors),
          (built, exit) => Exit.isFailure(exit) ? Effect.sync(() => built.dispose()) : Effect.void,
        );
        return groodFitted(o, {
          prototypes: prototypes.value,
          ood: ood.value,
          descriptors,
          index,
          temperature,
          tuned,
        });
      })),
  };
}

/** GROOD's scores of a set: its descriptors' mean distance to the `k` nearest in `index`. */
const groodScores = (
  set: ExtractedSet,
  prototypes: GradientPrototypes,
  index: NearestNeighbourIndex,
  temperature: number,
  k: number,
) =>
  Effect.flatMap(
    groodDescriptors(set.features.penultimate, prototypes, temperature),
    (queries) => knnScore(index, queries, k),
  );

/** The OOD prototype as an exported artefact, saying where it came from. */
const oodArtefact = (ood: Float32Array, source: GroodOptions["oodPrototype"]): Artefact =>
  artefact("ood-prototype", `D-vector OOD prototype (${describeSource(source)})`, ood, [
    ood.length,
  ]);

/** The settings every GROOD fit reports (`index`: how it is named, or "none"). */
const groodSettings = (o: ResolvedGroodOptions, index: string, temperature: number) => ({
  earlyBoundary: o.earlyBoundary,
  oodPrototype: describeSource(o.oodPrototype),
  descriptor: o.descriptor,
  index,
  k: o.k,
  temperature,
});

/** How settings and reports name an index option: the kind, or a user's builder's name. */
const indexLabel = (index: IndexSpec | IndexBuilder): string =>
  "kind" in index ? index.kind : index.name;

/** What a GROOD fit computed; the fitted detector owns `index` (its `dispose` frees it). */
interface GroodParts {
  readonly prototypes: Prototypes;
  readonly ood: Float32Array;
  readonly descriptors: Matrix;
  readonly index: NearestNeighbourIndex;
  readonly temperature: number;
  readonly tuned: ReadonlyArray<TunedParameter>;
}

/**
 * GROOD's fitted detector over its parts, whether from `grood().fit` or the streamed fit: the one
 * place that says how GROOD scores, what settings it reports and what it exports.
 */
export function groodFitted(options: Partial<GroodOptions>, parts: GroodParts): FittedDetector {
  const { prototypes, ood, descriptors, index, temperature } = parts;
  // The early boundary is the prototypes' own: what ran.
  const o = { ...GROOD_DEFAULTS, ...options, earlyBoundary: prototypes.earlyBoundary };
  const gradientPrototypes = { classes: prototypes.penultimate, ood };
  return {
    score: (set: ExtractedSet) => groodScores(set, gradientPrototypes, index, temperature, o.k),
    settings: {
      ...groodSettings(o, indexLabel(o.index), temperature),
      indexed: descriptors.rows,
      ...index.settings,
    },
    tuned: parts.tuned,
    artefacts: [
      matrixArtefact(
        "class-prototypes-penultimate",
        "C × D mean penultimate feature per class (training split)",
        prototypes.penultimate,
      ),
      matrixArtefact(
        `class-prototypes-${o.earlyBoundary}`,
        `C × F mean ${o.earlyBoundary} feature per class, flattened ` +
          `from [${prototypes.earlyShape.join(", ")}]`,
        prototypes.early,
      ),
      oodArtefact(ood, o.oodPrototype),
      matrixArtefact(
        "train-descriptors",
        "GROOD descriptors of the correctly classified training samples",
        descriptors,
      ),
      ...ivfCentroidsOf(index),
    ],
    dispose: () => index.dispose(),
  };
}
