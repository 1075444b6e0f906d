/**
 * The runner, in two parts so ablations load and extract once: `prepareBenchmark` (data, model,
 * features of every set, cached) and `runDetectors` (fit, score, evaluate each OOD set).
 *
 * @module
 */
import { resolve } from "node:path";
import { Effect, type Scope } from "effect";
import {
  loadBenchmark,
  type LoadBenchmarkError,
  type LoadedBenchmark,
  readBenchmark,
} from "../benchmarks/load.ts";
import type { ImageSet } from "../data/images.ts";
import type { Compute } from "../compute/compute.ts";
import type { ModelError } from "../models/errors.ts";
import type { LinkLeavesRoot, PathOutsideBase } from "../io/paths.ts";
import type {
  Detector,
  DetectorError,
  ExtractedSet,
  FittedDetector,
  TaggedFailure,
  TrainingSet,
  TunedParameter,
} from "../detectors/detector.ts";
import { ModelUnreadable } from "../models/errors.ts";
import { resolveModel } from "../models/registry.ts";
import {
  accuracy,
  type EmptyScores,
  evaluateOodWithTies,
  type LengthMismatch,
  type OodMetrics,
  type ScoreError,
  type TieShares,
} from "../stages/evaluate.ts";
import { predictedClasses } from "../stages/features.ts";
import { extractCached } from "./extract.ts";
import {
  type Engine,
  type EngineUnavailable,
  type ExtractionError,
  openPipelineModel,
  type PipelineModel,
} from "./model.ts";
import type { SpecContext } from "./spec.ts";
import type { InvalidInput } from "../decode.ts";

/** Everything detectors are fitted and scored on, extracted once. */
export interface PreparedBenchmark {
  /** The benchmark's sets (train, ID test and validation, OOD test and validation) and files. */
  readonly data: LoadedBenchmark;
  /** The model (any kind) and its engine; its resources live as long as the preparing scope. */
  readonly model: PipelineModel;
  /** The ID training set, its features, class sums at the early boundaries and cache key. */
  readonly train: TrainingSet;
  /** The ID test set with its features. */
  readonly idTest: ExtractedSet;
  /** The held-out ID validation set with its features. */
  readonly idValidation: ExtractedSet;
  /** The OOD test sets with their features, each marked near or far. */
  readonly oodTest: ReadonlyArray<ExtractedSet & { readonly group: "near" | "far" }>;
  /** The validation-OOD sets with their features (never a test OOD set). */
  readonly oodValidation: ReadonlyArray<ExtractedSet>;
  /** Classifier accuracy on the ID test set. */
  readonly idAccuracy: number;
}

/** Options of `prepareBenchmark`. */
export interface PrepareOptions {
  /** A built-in benchmark name (`mnist`, `fashion-mnist`) or the path of a benchmark file. */
  readonly benchmark: string;
  /** Model path (any kind); default: the benchmark file's model. */
  readonly modelDir?: string;
  /** The engine that extracts features (default: tfjs, or onnx for an ONNX model). */
  readonly engine?: Engine;
  /** Runs once data and model are loaded, before any feature is extracted (a spec's check). */
  readonly check?: (context: SpecContext) => Effect.Effect<void, InvalidInput>;
}

/** What preparing a benchmark may fail with: data, model, the spec's check, features, accuracy. */
export type PrepareError =
  | LoadBenchmarkError
  | ModelError
  | EngineUnavailable
  | InvalidInput
  | ExtractionError
  | LengthMismatch
  | EmptyScores
  | PathOutsideBase
  | LinkLeavesRoot;

/**
 * Load data and model (in the caller's scope), and extract every set's features once (or from the
 * context's `StageCache`). Each pass reports to the `Progress` and logs a line.
 */
export const prepareBenchmark: (
  options: PrepareOptions,
) => Effect.Effect<PreparedBenchmark, PrepareError, Compute | Scope.Scope> = Effect.fn(
  "prepareBenchmark",
)(function* (options: PrepareOptions) {
  const spec = yield* readBenchmark(options.benchmark);
  const path = options.modelDir ?? resolve(spec.baseDir, spec.model.path);
  const kind = options.modelDir === undefined
    ? spec.model.kind
    : (yield* resolveModel(options.modelDir)).entry.kind;
  const model = yield* openPipelineModel({
    path,
    kind,
    ...(spec.model.taps === undefined ? {} : { taps: spec.model.taps }),
    ...(options.engine === undefined ? {} : { engine: options.engine }),
  });
  const { height, width, channels } = model.features.input;
  if (channels !== 1 && channels !== 3) {
    return yield* new ModelUnreadable({
      model: path,
      problem: `it takes ${channels}-channel images; benchmark sources give 1 or 3 channels`,
    });
  }
  const data = yield* loadBenchmark(spec, { shape: { height, width, channels } });
  // Class sums at every boundary the model can sum at, so any early layer can be chosen later.
  const sumsAt = model.earlyBoundaries;
  if (options.check !== undefined) {
    yield* options.check({
      trainCount: data.train.count,
      earlyBoundaries: sumsAt,
      earlyTap: model.earlyTap,
    });
  }
  const extract = (set: ImageSet, classSumsAt?: ReadonlyArray<string>) =>
    Effect.map(
      extractCached(model, set, classSumsAt === undefined ? {} : { classSumsAt }),
      ({ extraction, key }) => ({ images: set, features: extraction.features, key, extraction }),
    );
  const train = yield* extract(data.train, sumsAt);
  const idTest = yield* extract(data.idTest);
  const idValidation = yield* extract(data.idValidation);
  const oodTest = yield* Effect.forEach(
    data.oodTest,
    ({ images, group }) => Effect.map(extract(images), (set) => ({ ...set, group })),
  );
  const oodValidation = yield* Effect.forEach(data.oodValidation, (set) => extract(set));
  const idAccuracy = yield* accuracy(predictedClasses(idTest.features.logits), data.idTest.labels);
  return {
    data,
    model,
    train: {
      images: data.train,
      features: train.features,
      classSums: train.extraction.classSums,
      key: train.key,
    },
    idTest,
    idValidation,
    oodTest,
    oodValidation,
    idAccuracy,
  } satisfies PreparedBenchmark;
});

/** A detector spec with GROOD's early boundary, when it names none, the model's early tap. */
export const withModelDefaults = <S extends { readonly kind: string }>(
  spec: S,
  model: Pick<PipelineModel, "earlyTap">,
): S =>
  spec.kind.startsWith("grood") &&
    (spec as { readonly earlyBoundary?: string }).earlyBoundary === undefined
    ? { ...spec, earlyBoundary: model.earlyTap }
    : spec;

/** One row of results: a detector on one OOD set, with its metrics and its tie report. */
export interface ResultRow extends OodMetrics, TieShares {
  /** The benchmark's name. */
  readonly benchmark: string;
  /** The detector's name in tables. */
  readonly detector: string;
  /** The OOD test set's name. */
  readonly set: string;
  /** Whether the OOD set is near or far from the ID data. */
  readonly group: "near" | "far";
  /** Classifier accuracy on the ID test set, in [0, 1]. */
  readonly idAccuracy: number;
}

/** What one detector did on a benchmark. */
export interface DetectorRun {
  /** The benchmark's name. */
  readonly benchmark: string;
  /** The detector's name in tables. */
  readonly detector: string;
  /** One line on the method and its source. */
  readonly description: string;
  /** The settings in force (defaults and tuned values). */
  readonly settings: FittedDetector["settings"];
  /** The hyper-parameters chosen on validation data. */
  readonly tuned: ReadonlyArray<TunedParameter>;
  /** Seconds to fit (wall clock). */
  readonly fitSeconds: number;
  /** Seconds to score the ID test set and every OOD test set. */
  readonly scoreSeconds: number;
  /** Images scored per second (ID test + OOD test). */
  readonly scoredPerSecond: number;
  /** One row per OOD test set. */
  readonly rows: ReadonlyArray<ResultRow>;
  /** Scores by set name (`id` for the ID test set). */
  readonly scores: ReadonlyMap<string, Float64Array>;
  /** Intermediate outputs the fitted detector exposes (GROOD: prototypes, descriptors). */
  readonly artefacts: FittedDetector["artefacts"];
}

/**
 * Fit, score and evaluate each detector on a prepared benchmark, logging a line per detector.
 * Fails with the first detector's error or a score that cannot be evaluated (`ScoreError`).
 */
export const runDetectors = <E extends TaggedFailure = DetectorError>(
  prepared: PreparedBenchmark,
  detectors: ReadonlyArray<Detector<E>>,
): Effect.Effect<Array<DetectorRun>, E | ScoreError, Compute> =>
  // Effect.fn does not keep a generic signature: the detectors' error type `E` is restored here.
  runAnyDetectors(prepared, detectors) as never;

const runAnyDetectors = Effect.fn("runDetectors")(function* (
  prepared: PreparedBenchmark,
  detectors: ReadonlyArray<Detector<TaggedFailure>>,
) {
  const benchmark = prepared.data.spec.name;
  const runs: Array<DetectorRun> = [];
  for (const detector of detectors) {
    const fitStart = performance.now();
    const fitted = yield* detector.fit({
      model: prepared.model.features,
      train: prepared.train,
      validation: { id: prepared.idValidation, ood: prepared.oodValidation },
    });
    const fitSeconds = (performance.now() - fitStart) / 1000;
    // Released by Effect (not try/finally, which a failing or interrupted yield* skips).
    yield* Effect.gen(function* () {
      const scoreStart = performance.now();
      const scores = new Map<string, Float64Array>();
      scores.set("id", yield* fitted.score(prepared.idTest));
      for (const set of prepared.oodTest) scores.set(set.images.name, yield* fitted.score(set));
      const scoreSeconds = (performance.now() - scoreStart) / 1000;
      const scored = prepared.idTest.images.count +
        prepared.oodTest.reduce((n, s) => n + s.images.count, 0);
      const rows: Array<ResultRow> = [];
      for (const { images: { name: set }, group } of prepared.oodTest) {
        const evaluated = yield* evaluateOodWithTies({
          id: scores.get("id")!,
          ood: scores.get(set)!,
          names: { id: `${detector.name} on ID test`, ood: `${detector.name} on ${set}` },
        });
        const { idAccuracy } = prepared;
        rows.push({ benchmark, detector: detector.name, set, group, ...evaluated, idAccuracy });
      }
      yield* Effect.logInfo(
        `${benchmark} ${detector.name}: fit ${fitSeconds.toFixed(1)}s, score ${
          scoreSeconds.toFixed(1)
        }s; ` +
          rows.map((r) => `${r.set} ${(100 * r.auroc).toFixed(1)}`).join(", "),
      );
      runs.push({
        benchmark,
        detector: detector.name,
        description: detector.description,
        settings: fitted.settings,
        tuned: fitted.tuned,
        fitSeconds,
        scoreSeconds,
        scoredPerSecond: scored / scoreSeconds,
        rows,
        scores,
        artefacts: fitted.artefacts,
      });
    }).pipe(Effect.ensuring(Effect.sync(() => fitted.dispose())));
  }
  return runs;
});
