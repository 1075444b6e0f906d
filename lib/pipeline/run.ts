/**
 * The runner: load a benchmark and a model, extract features once per set (cached), then fit
 * and score every detector through the same interface, and evaluate each OOD set.
 *
 * Split in two so ablations pay for loading and extraction once: `prepareBenchmark` (data,
 * model, features) and `runDetectors` (fit, score, evaluate).
 *
 * @module
 */
import { resolve } from "node:path";
import { Effect } from "effect";
import { loadBenchmark, type LoadedBenchmark, readBenchmark } from "../benchmarks/load.ts";
import type { ImageSet } from "../data/images.ts";
import type { Scope } from "effect";
import type { Compute } from "../compute/compute.ts";
import type { LoadBenchmarkError } from "../benchmarks/load.ts";
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
  /**
   * The benchmark's sets (train, ID test and validation, OOD test and validation) and its files.
   */
  readonly data: LoadedBenchmark;
  /** The model (any kind) and its engine; its resources live as long as the preparing scope. */
  readonly model: PipelineModel;
  /**
   * The ID training set with its features, its per-class sums at the model's early boundaries
   * and the cache key of its extraction (which covers the model's key, `model.key`).
   */
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
  /**
   * Runs once data and model are loaded, before any feature is extracted: a spec that does not
   * fit them (a layer the model lacks, more samples than images) fails here, not after minutes.
   */
  readonly check?: (context: SpecContext) => Effect.Effect<void, InvalidInput>;
}

/**
 * What preparing a benchmark may fail with: its file or data (`LoadBenchmarkError`), the model
 * (`ModelError`, `EngineUnavailable`, a model file leaving its folder), the spec's check
 * against them (`InvalidInput`), the feature pass (`ExtractionError`), or the ID accuracy (no
 * or mismatched predictions).
 */
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
 * Load data and model, and extract features of every set once (or from the context's
 * `StageCache`; none is off). The model is opened in the caller's scope (its tensors and sessions
 * are released when it closes). Each pass reports to the context's `Progress` and logs a line.
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
  // Class sums at every boundary the model can sum at (grood's CNN on tfjs: each convolutional
  // block), so any early layer can be chosen for the prototypes without another pass.
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
      extractCached(model, set, {
        ...(classSumsAt === undefined ? {} : { classSumsAt }),
      }),
      ({ extraction, key }) => ({ images: set, features: extraction.features, key, extraction }),
    );
  const train = yield* extract(data.train, sumsAt);
  const idTest = yield* extract(data.idTest);
  const idValidation = yield* extract(data.idValidation);
  const oodTest = [];
  for (const set of data.oodTest) {
    oodTest.push({ ...(yield* extract(set.images)), group: set.group });
  }
  const oodValidation = [];
  for (const set of data.oodValidation) oodValidation.push(yield* extract(set));
  const idAccuracy = yield* accuracy(
    predictedClasses(idTest.features.logits),
    data.idTest.labels,
  );
  const prepared: PreparedBenchmark = {
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
  };
  return prepared;
});

/**
 * A detector spec with the model's defaults filled in: GROOD's early boundary, when the spec
 * names none, is the model's early tap (`block1` on grood's CNN, a tensor name elsewhere).
 */
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
 * Fit, score and evaluate each detector on a prepared benchmark, logging a line per detector
 * (`Effect.logInfo`); the fits report to the context's `Progress`. Fails with the first
 * detector's error (`DetectorError` for grood's, `E` for a user's) or a score that cannot be
 * evaluated (`ScoreError`).
 */
export const runDetectors = <E extends TaggedFailure = DetectorError>(
  prepared: PreparedBenchmark,
  detectors: ReadonlyArray<Detector<E>>,
): Effect.Effect<Array<DetectorRun>, E | ScoreError, Compute> =>
  // Effect.fn does not keep a generic signature: the body runs on any tagged error, and the
  // detectors' own error type `E` is restored here (it is all their fit and score can fail with).
  runAnyDetectors(prepared, detectors) as Effect.Effect<
    Array<DetectorRun>,
    E | ScoreError,
    Compute
  >;

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
      for (const set of prepared.oodTest) {
        const pair = {
          id: scores.get("id")!,
          ood: scores.get(set.images.name)!,
          names: {
            id: `${detector.name} on ID test`,
            ood: `${detector.name} on ${set.images.name}`,
          },
        };
        const evaluated = yield* evaluateOodWithTies(pair);
        rows.push({
          benchmark,
          detector: detector.name,
          set: set.images.name,
          group: set.group,
          ...evaluated,
          idAccuracy: prepared.idAccuracy,
        });
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
