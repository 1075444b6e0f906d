/**
 * Fit a detector on any model and data and write it as a fitted-detector folder (see
 * `manifest.ts`): open the model, read the training, validation and validation-OOD sources at
 * its input size, extract features once, fit the detector with its own code, pick the
 * threshold that keeps 95 % of the ID validation images, measure the validation metrics, and
 * write model copy + state + manifest atomically (`writeDirAtomic`).
 *
 * Without a validation source, a seeded 10 % of the training images (at most 10,000) is held
 * out as ID validation data and the detector is fitted on the rest.
 *
 * @module
 */
import { dirname } from "node:path";
import { Effect, type Scope } from "effect";
import type { Compute } from "../compute/compute.ts";
import type { LabelledSet } from "../data/images.ts";
import type { ExtractedSet, FitInputs, FittedDetector } from "../detectors/detector.ts";
import { groodFitted, type GroodOptions } from "../detectors/grood.ts";
import { fitGroodStreamed } from "../detectors/grood_streamed.ts";
import { FIT_CHUNK } from "../detectors/grood_chunks.ts";
import { matrix } from "../matrix.ts";
import { decodeDetector, type DetectorSpec, makeDetector } from "../detectors/registry.ts";
import { canonicalJson } from "../cache/cache.ts";
import { ensureWritable, sha256Hex } from "../io/files.ts";
import { checkOutputFolder, creationTime, writeOutputFolder } from "../io/output_folder.ts";
import { sizeOf } from "../models/model.ts";
import { permutation } from "../random.ts";
import { openSource } from "../sources/mod.ts";
import { type ReadSource, readSource } from "../sources/source.ts";
import { evaluateOod, idKeptThreshold } from "../stages/evaluate.ts";
import { predictedClasses, type SetFeatures } from "../stages/features.ts";
import { distribution, edgesOf, refuseDegenerate } from "./distribution.ts";
import { FitDataInvalid, UnsupportedFittedDetector } from "./errors.ts";
import {
  asSet,
  checkValidationCoverage,
  fitClassOrder,
  fitEarlyBoundary,
  HELD_OUT_MAX,
  HELD_OUT_SHARE,
  honoured,
  inClassOrder,
  labelled,
  openInClassOrder,
  readArgument,
  splitHeldOut,
  toShape,
} from "./fit_data.ts";
import { type FitFolderError, type FitOptions, fittedFolderRules } from "./fit_options.ts";
import { memoisedExtraction, openWithTaps } from "./fit_model.ts";
import { fillFittedFolder } from "./fit_write.ts";
import {
  FITTED_FORMAT,
  FITTED_VERSION,
  type FittedManifest,
  type StateEntry,
  type ValidationMetrics,
} from "./manifest.ts";
import { copyModel } from "./model_files.ts";
import { persistenceOf, refusalOf, SUPPORTED_KINDS } from "./persist.ts";
import { checkReproduced } from "./reproduce.ts";
import { streamedGroodOptions, trainStream } from "./train_stream.ts";

/** The settings a manifest keeps: every one but non-finite numbers. */
const settingsOf = (fitted: FittedDetector) =>
  Object.fromEntries(
    Object.entries(fitted.settings).filter(([, v]) => typeof v !== "number" || Number.isFinite(v)),
  );

// Typed by inference here; exported below with its signature spelled out.
const fitFolder = Effect.fn("fitDetectorFolder")(function* (options: FitOptions) {
  const decoded = yield* decodeDetector(options.detector ?? { kind: "grood" });
  // Refused before any work: a folder scores from the model's features and logits.
  const persistence = persistenceOf(decoded.kind);
  if (persistence === undefined) {
    const why = refusalOf(decoded.kind);
    return yield* new UnsupportedFittedDetector({
      detector: decoded.kind,
      problem: why === undefined
        ? "it needs more than the model's features and logits at scoring time"
        : `${why}, and a fitted folder scores from the model's features and logits alone`,
      supported: SUPPORTED_KINDS,
    });
  }
  // The folder may be written (absent, empty or grood's, no input inside) and can be: checked
  // before any computation.
  const folderRules = fittedFolderRules(options);
  yield* checkOutputFolder(options.out, folderRules);
  // The folder is replaced by renames in its parent (`writeDirAtomic`): the parent is where
  // the fit writes, and a probe inside an existing fitted folder would be an unlisted file
  // there if the process were killed between writing and removing it.
  yield* ensureWritable(dirname(options.out));
  const { model, kind, classes: modelClasses } = yield* openWithTaps(options.model, options.taps);
  // GROOD's early prototypes come from the model's early tap (the one boundary the extraction
  // sums at): the default, and the only value a spec may name.
  let spec = (decoded.kind.startsWith("grood")
    ? { ...decoded, earlyBoundary: yield* fitEarlyBoundary(decoded, model.taps.early) }
    : decoded) as DetectorSpec;
  const shape = yield* toShape(model);
  const batch = options.batchSize === undefined ? {} : { batchSize: options.batchSize };

  const modelCopy = yield* copyModel(options.model, undefined, "model");
  const modelKey = sha256Hex(
    new TextEncoder().encode(canonicalJson({
      model: modelCopy.sha256,
      input: model.input,
      taps: model.taps,
    })),
  );
  const { extract, extracted } = memoisedExtraction(model, options, batch);
  const oodArguments = options.validationOod ?? [];
  const validationSource = options.validation?.argument ?? `${options.train.argument} (held out)`;
  const readOod = Effect.gen(function* () {
    const reads: Array<ReadSource> = [];
    for (const argument of oodArguments) {
      reads.push(yield* readArgument(argument, shape));
    }
    return reads;
  });
  const extractOod = (reads: ReadonlyArray<ReadSource>) =>
    Effect.gen(function* () {
      const sets: Array<ExtractedSet> = [];
      for (const [i, read] of reads.entries()) {
        sets.push(yield* extracted(asSet(read, oodArguments[i]!.argument, shape)));
      }
      return sets;
    });
  const heldOutCount = (count: number) =>
    Effect.gen(function* () {
      const held = Math.min(HELD_OUT_MAX, Math.floor(count * HELD_OUT_SHARE));
      if (held < 20) {
        return yield* new FitDataInvalid({
          source: options.train.argument,
          problem: `${count} images are too few to hold out an ID validation split ` +
            "(give one with --val)",
        });
      }
      return held;
    });
  const heldOutChecksum = (trainChecksum: string, count: number) =>
    sha256Hex(
      new TextEncoder().encode(`${trainChecksum}:held-out:${options.seed ?? 0}:${count}`),
    );

  let trainData: { readonly count: number; readonly checksum: string };
  let validation: LabelledSet;
  let validationChecksum: string;
  let heldOut = false;
  let validationSet: ExtractedSet;
  let oodReads: ReadonlyArray<ReadSource>;
  let oodSets: ReadonlyArray<ExtractedSet>;
  let fitted: FittedDetector;
  let trainFeatures: SetFeatures;
  // Labels are explicit: the class order is the model's (its spec's `classes`) or the training
  // data's, and every labelled source is renumbered into it by name (`fit_data.ts`).
  const trainOpened = yield* openSource(options.train.spec, {
    baseDir: options.train.baseDir,
    shape,
    ...(modelClasses === undefined ? {} : { classes: modelClasses }),
  });
  const classNames = yield* fitClassOrder(
    { name: options.model, classes: modelClasses },
    sizeOf(model.shapes.logits),
    options.train,
    trainOpened,
  );
  const opened = yield* inClassOrder(options.train, trainOpened, classNames);
  // --val is read (and checked: every class, VALIDATION_MIN_PER_CLASS images each) before any fit.
  const given = options.validation;
  const givenValidation = given === undefined ? undefined : yield* Effect.gen(function* () {
    const read = yield* readSource(yield* openInClassOrder(given, shape, classNames));
    const set = yield* labelled(read, given.argument, shape, "ID validation data");
    yield* checkValidationCoverage(given.argument, set.labels, classNames);
    return { set, checksum: read.checksum };
  });
  const checkHeldOut = (labels: Uint8Array) =>
    Effect.mapError(
      checkValidationCoverage(`${options.train.argument} (held out)`, labels, classNames),
      (error) =>
        new FitDataInvalid({
          source: error.source,
          problem: `${error.problem} (give more training images, or ID validation data with --val)`,
        }),
    );
  // GROOD's prototypes are sums of chunk sums, streamed or in memory (the extraction adds its
  // class sums in these chunks): the chunk is recorded, hence hashed.
  const chunk = options.fitChunk ?? FIT_CHUNK;
  const streamedOptions = options.inMemory === true ? undefined : streamedGroodOptions(spec);
  if (streamedOptions !== undefined) {
    // GROOD in bounded memory: the training images stream through one pass and are dropped.
    const held = new Set<number>();
    if (options.validation === undefined) {
      const count = yield* heldOutCount(opened.count);
      permutation(opened.count, options.seed ?? 0).subarray(0, count).forEach((i) =>
        held.add(i)
      );
    }
    spec = yield* honoured(spec, opened.count - held.size);
    const { stream, finish } = trainStream(opened, held);
    const { count: sourceCount } = opened;
    const { sha256: modelSha256 } = modelCopy;
    const training = { classNames, held, sourceCount, trainCount: stream.count, modelSha256 };
    const parts = yield* Effect.acquireRelease(
      fitGroodStreamed(model, stream, {
        ...streamedGroodOptions(spec)!,
        ...batch,
        chunk,
      }, options.mapper?.(training)),
      // The fitted detector's index lives until the fit returns, as the in-memory path's.
      (f) => Effect.sync(() => f.index.dispose()),
    );
    const { checksum, heldOut: heldImages } = finish();
    trainData = { count: stream.count, checksum };
    const grood = groodFitted(spec as Partial<GroodOptions>, {
      prototypes: parts.prototypes,
      ood: parts.oodPrototype,
      descriptors: parts.descriptors,
      index: parts.index,
      temperature: streamedOptions.temperature,
      tuned: [],
    });
    // The chunk size steers the prototypes' bits (sums of chunk sums): recorded, hence hashed.
    fitted = { ...grood, settings: { ...grood.settings, fitChunk: chunk } };
    // GROOD saves its own state; it reads no training features.
    trainFeatures = {
      name: options.train.argument,
      count: 0,
      penultimate: matrix(0, parts.descriptors.cols),
      logits: matrix(0, classNames.length),
    };
    if (givenValidation !== undefined) {
      validation = givenValidation.set;
      validationChecksum = givenValidation.checksum;
    } else {
      yield* checkHeldOut(heldImages.labels);
      validation = {
        name: `${options.train.argument} (held out)`,
        count: held.size,
        pixels: heldImages.pixels,
        shape,
        labels: heldImages.labels,
        classNames,
      };
      validationChecksum = heldOutChecksum(checksum, held.size);
      heldOut = true;
    }
    oodReads = yield* readOod;
    validationSet = yield* extracted(validation);
    oodSets = yield* extractOod(oodReads);
  } else {
    const trainRead = yield* readSource(opened);
    const fullTrain = yield* labelled(trainRead, options.train.argument, shape, "training data");
    let train = fullTrain;
    if (givenValidation !== undefined) {
      validation = givenValidation.set;
      validationChecksum = givenValidation.checksum;
    } else {
      const count = yield* heldOutCount(fullTrain.count);
      const held = new Set(permutation(fullTrain.count, options.seed ?? 0).subarray(0, count));
      const parts = splitHeldOut(fullTrain, held);
      yield* checkHeldOut(parts.heldOut.labels);
      train = parts.rest;
      validation = parts.heldOut;
      validationChecksum = heldOutChecksum(trainRead.checksum, count);
      heldOut = true;
    }
    trainData = { count: train.count, checksum: trainRead.checksum };
    spec = yield* honoured(spec, train.count);
    oodReads = yield* readOod;
    const trainExtraction = yield* extract(train, true);
    validationSet = yield* extracted(validation);
    oodSets = yield* extractOod(oodReads);
    const inputs: FitInputs = {
      model,
      train: {
        images: train,
        features: trainExtraction.features,
        classSums: trainExtraction.classSums,
        key: sha256Hex(new TextEncoder().encode(`${modelKey}:${trainRead.checksum}:${heldOut}`)),
      },
      validation: { id: validationSet, ood: oodSets },
    };
    const fit = yield* Effect.acquireRelease(
      makeDetector(spec).fit(inputs),
      (f) => Effect.sync(() => f.dispose()),
    );
    fitted = spec.kind.startsWith("grood")
      ? { ...fit, settings: { ...fit.settings, fitChunk: chunk } }
      : fit;
    trainFeatures = trainExtraction.features;
  }
  const detector = makeDetector(spec);
  const arrays = yield* persistence.save({
    detector: detector.name,
    spec: spec as unknown as Record<string, unknown>,
    fitted,
    train: trainFeatures,
    validation: { id: validationSet, ood: oodSets },
  });

  const idScores = yield* fitted.score(validationSet);
  const oodScores: Array<Float64Array> = [];
  for (const set of oodSets) oodScores.push(yield* fitted.score(set));
  // Nothing is written unless the saved state, loaded back, gives these scores exactly.
  yield* checkReproduced(spec.kind, persistence, arrays, {
    spec: spec as unknown as Record<string, unknown>,
    settings: settingsOf(fitted),
    model,
    modelKey: modelCopy.sha256,
    classNames,
    names: {
      train: options.train.argument,
      validation: validationSource,
      ood: oodArguments.map((a) => a.argument),
    },
  }, [validationSet, ...oodSets].map((set, i) => ({ set, scores: [idScores, ...oodScores][i]! })));
  yield* refuseDegenerate(idScores, detector.name, validation.name);
  const threshold = yield* idKeptThreshold(idScores, validation.name);
  const flagged = (scores: Float64Array) =>
    scores.reduce((n, s) => n + (s > threshold ? 1 : 0), 0) / scores.length;
  const metrics: Array<ValidationMetrics> = [];
  for (const [i, scores] of oodScores.entries()) {
    const m = yield* evaluateOod({
      id: idScores,
      ood: scores,
      names: { id: validation.name, ood: oodSets[i]!.images.name },
    });
    metrics.push({ source: oodSets[i]!.images.name, ...m, flaggedAtThreshold: flagged(scores) });
  }
  const predicted = predictedClasses(validationSet.features.logits);
  const accuracy = predicted.reduce((n, p, i) => n + (p === validation.labels[i] ? 1 : 0), 0) /
    validation.count;
  const edges = edgesOf([idScores, ...oodScores]);

  const settings = settingsOf(fitted);
  const manifestOf = (state: ReadonlyArray<StateEntry>): FittedManifest => ({
    format: FITTED_FORMAT,
    version: FITTED_VERSION,
    digest: "0".repeat(64),
    createdAt: creationTime(),
    detector: {
      kind: spec.kind,
      name: detector.name,
      spec: spec as unknown as Record<string, unknown>,
      settings,
    },
    model: {
      kind,
      source: options.model,
      path: modelCopy.path,
      sha256: modelCopy.sha256,
      files: modelCopy.files,
      input: model.input,
      taps: model.taps,
      shapes: {
        input: [...model.shapes.input],
        early: [...model.shapes.early],
        penultimate: [...model.shapes.penultimate],
        logits: [...model.shapes.logits],
      },
      classNames,
    },
    data: {
      train: { source: options.train.argument, ...trainData },
      validation: {
        source: validationSource,
        count: validation.count,
        checksum: validationChecksum,
        heldOut,
      },
      validationOod: oodReads.map((read, i) => ({
        source: oodArguments[i]!.argument,
        count: read.count,
        checksum: read.checksum,
      })),
    },
    state,
    threshold,
    validation: { accuracy, idKept: 1 - flagged(idScores), metrics },
    scores: {
      edges,
      id: distribution(validation.name, idScores, edges),
      ood: oodScores.map((s, i) => distribution(oodSets[i]!.images.name, s, edges)),
    },
  });

  return yield* writeOutputFolder(
    options.out,
    folderRules,
    (tmp) => fillFittedFolder(tmp, options.model, modelCopy.sha256, arrays, manifestOf),
  );
});

/**
 * Fit the detector `options.detector` (GROOD by default) on `options.model` and write the
 * fitted folder `options.out`. Returns the manifest written.
 */
export const fitDetectorFolder: (
  options: FitOptions,
) => Effect.Effect<FittedManifest, FitFolderError, Scope.Scope | Compute> = fitFolder;
