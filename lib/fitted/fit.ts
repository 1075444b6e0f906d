/**
 * Fit a detector on any model and data and write it as a fitted-detector folder (see
 * `manifest.ts`): read the sources at the model's input size, extract features once, fit with
 * the detector's own code, set the threshold that keeps 95 % of the ID validation images,
 * measure the validation metrics, and write model copy + state + manifest atomically. Without
 * a validation source a seeded 10 % of the training images (at most 10,000) is held out.
 *
 * @module
 */
import { dirname } from "node:path";
import { Effect, type Scope } from "effect";
import type { Compute } from "../compute/compute.ts";
import type { LabelledSet } from "../data/images.ts";
import type { ExtractedSet } from "../detectors/detector.ts";
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
import { type ReadSource, readSource } from "../sources/source.ts";
import { evaluateOod, idKeptThreshold } from "../stages/evaluate.ts";
import { predictedClasses } from "../stages/features.ts";
import { FitDataInvalid } from "./errors.ts";
import {
  asSet,
  checkOutputsReached,
  checkValidationCoverage,
  fitClassOrder,
  fitEarlyBoundary,
  HELD_OUT_MAX,
  HELD_OUT_SHARE,
  honoured,
  inClassOrder,
  labelled,
  openArgument,
  readArgument,
  splitHeldOut,
  toShape,
} from "./fit_data.ts";
import { type FitFolderError, type FitOptions, fittedFolderRules } from "./fit_options.ts";
import { memoisedExtraction, openWithTaps } from "./fit_chunk.ts";
import {
  copyModel,
  distribution,
  edgesOf,
  fillFittedFolder,
  refuseDegenerate,
} from "./fit_write.ts";
import {
  FITTED_FORMAT,
  FITTED_VERSION,
  type FittedManifest,
  type StateEntry,
  type ValidationMetrics,
} from "./manifest.ts";
import { savedAs } from "./persist.ts";
import { checkReproduced } from "./reproduce.ts";
import { streamedGroodOptions, trainStream } from "./train_stream.ts";

const nameOf = (set: ExtractedSet) => set.images.name;

const hashText = (text: string) => sha256Hex(new TextEncoder().encode(text));

// Typed by inference here; exported below with its signature spelled out.
const fitFolder = Effect.fn("fitDetectorFolder")(function* (options: FitOptions) {
  const decoded = yield* decodeDetector(options.detector ?? { kind: "grood" });
  const persistence = yield* savedAs(decoded.kind);
  const folderRules = fittedFolderRules(options);
  yield* checkOutputFolder(options.out, folderRules);
  // Probed in the parent, where the folder is renamed in: a probe inside would be unlisted.
  yield* ensureWritable(dirname(options.out));
  const { model, kind, classes: modelClasses } = yield* openWithTaps(options.model, options.taps);
  let spec = (decoded.kind.startsWith("grood")
    ? { ...decoded, earlyBoundary: yield* fitEarlyBoundary(decoded, model.taps.early) }
    : decoded) as DetectorSpec;
  const shape = yield* toShape(model);
  const batch = options.batchSize === undefined ? {} : { batchSize: options.batchSize };
  const modelCopy = yield* copyModel(options.model, undefined, "model");
  const modelKey = hashText(
    canonicalJson({ model: modelCopy.sha256, input: model.input, taps: model.taps }),
  );
  const { extract, extracted } = memoisedExtraction(model, options, batch);
  const oodArguments = options.validationOod ?? [];
  const readOod = Effect.forEach(oodArguments, (argument) =>
    readArgument(argument, shape));
  /** The validation sets' features, after the OOD sources are read. */
  const extractValidation = (id: LabelledSet, oodReads: ReadonlyArray<ReadSource>) =>
    Effect.all({
      validationSet: extracted(id),
      oodSets: Effect.forEach(oodReads, (read, i) =>
        extracted(asSet(read, oodArguments[i]!.argument, shape))),
    });
  const trainOpened = yield* openArgument(options.train, shape, modelClasses);
  const outputs = sizeOf(model.shapes.logits);
  const classNames = yield* fitClassOrder(
    { name: options.model, classes: modelClasses },
    outputs,
    options.train,
    trainOpened,
  );
  const opened = yield* inClassOrder(options.train, trainOpened, classNames);
  // --val is read and checked before any fit.
  const given = options.validation;
  if (given === undefined) yield* checkOutputsReached(options.train, trainOpened, outputs);
  const givenValidation = given === undefined ? undefined : yield* Effect.gen(function* () {
    const opened = yield* openArgument(given, shape, classNames);
    const read = yield* readSource(yield* inClassOrder(given, opened, classNames));
    const set = yield* labelled(read, given.argument, shape, "ID validation data");
    yield* checkOutputsReached(options.train, trainOpened, outputs, {
      argument: given.argument,
      labels: set.labels,
    });
    yield* checkValidationCoverage(given.argument, set.labels, classNames);
    return { set, checksum: read.checksum, heldOut: false };
  });
  /** The indices of the `count` training images held out as ID validation (none with --val). */
  const heldOutOf = (count: number) =>
    Effect.gen(function* () {
      if (given !== undefined) return new Set<number>();
      const held = Math.min(HELD_OUT_MAX, Math.floor(count * HELD_OUT_SHARE));
      if (held < 20) {
        return yield* new FitDataInvalid({
          source: options.train.argument,
          problem: `${count} images are too few to hold out an ID validation split ` +
            "(give one with --val)",
        });
      }
      return new Set(permutation(count, options.seed ?? 0).subarray(0, held));
    });
  /** The ID validation data: --val's, else the held-out images, checked to cover every class. */
  const validationOf = (trainChecksum: string, heldOutSet: () => LabelledSet) =>
    givenValidation !== undefined ? Effect.succeed(givenValidation) : Effect.gen(function* () {
      const set = heldOutSet();
      yield* checkValidationCoverage(
        `${options.train.argument} (held out)`,
        set.labels,
        classNames,
        " (give more training images, or ID validation data with --val)",
      );
      const checksum = hashText(`${trainChecksum}:held-out:${options.seed ?? 0}:${set.count}`);
      return { set, checksum, heldOut: true };
    });
  // GROOD's prototypes are sums of chunk sums: the chunk is recorded in the settings, hashed.
  const chunk = options.fitChunk ?? FIT_CHUNK;
  const streamedOptions = options.inMemory === true ? undefined : streamedGroodOptions(spec);
  const fit = streamedOptions !== undefined
    ? yield* Effect.gen(function* () {
      const held = yield* heldOutOf(opened.count);
      spec = yield* honoured(spec, opened.count - held.size);
      const { stream, finish } = trainStream(opened, held);
      const training = {
        classNames,
        held,
        sourceCount: opened.count,
        trainCount: stream.count,
        modelSha256: modelCopy.sha256,
      };
      const parts = yield* Effect.acquireRelease(
        fitGroodStreamed(
          model,
          stream,
          { ...streamedGroodOptions(spec)!, ...batch, chunk },
          options.mapper?.(training),
        ),
        // The fitted detector's index lives until the fit returns, as the in-memory path's.
        (f) => Effect.sync(() => f.index.dispose()),
      );
      const { checksum, heldOut } = finish();
      const fitted = groodFitted(spec as Partial<GroodOptions>, {
        prototypes: parts.prototypes,
        ood: parts.oodPrototype,
        descriptors: parts.descriptors,
        index: parts.index,
        temperature: streamedOptions.temperature,
        tuned: [],
      });
      const validation = yield* validationOf(checksum, () => ({
        name: `${options.train.argument} (held out)`,
        count: held.size,
        pixels: heldOut.pixels,
        shape,
        labels: heldOut.labels,
        classNames,
      }));
      const oodReads = yield* readOod;
      return {
        trainData: { count: stream.count, checksum },
        validation,
        fitted,
        // GROOD saves its own state; it reads no training features.
        trainFeatures: {
          name: options.train.argument,
          count: 0,
          penultimate: matrix(0, parts.descriptors.cols),
          logits: matrix(0, classNames.length),
        },
        oodReads,
        ...(yield* extractValidation(validation.set, oodReads)),
      };
    })
    : yield* Effect.gen(function* () {
      const trainRead = yield* readSource(opened);
      const fullTrain = yield* labelled(trainRead, options.train.argument, shape, "training data");
      const held = yield* heldOutOf(fullTrain.count);
      const parts = held.size === 0 ? undefined : splitHeldOut(fullTrain, held);
      const validation = yield* validationOf(trainRead.checksum, () => parts!.heldOut);
      const train = parts?.rest ?? fullTrain;
      spec = yield* honoured(spec, train.count);
      const oodReads = yield* readOod;
      const trainExtraction = yield* extract(train, true);
      const { validationSet, oodSets } = yield* extractValidation(validation.set, oodReads);
      const key = hashText(`${modelKey}:${trainRead.checksum}:${validation.heldOut}`);
      const fitted = yield* Effect.acquireRelease(
        makeDetector(spec).fit({
          model,
          train: { images: train, ...trainExtraction, key },
          validation: { id: validationSet, ood: oodSets },
        }),
        (f) => Effect.sync(() => f.dispose()),
      );
      return {
        trainData: { count: train.count, checksum: trainRead.checksum },
        validation,
        fitted,
        trainFeatures: trainExtraction.features,
        oodReads,
        validationSet,
        oodSets,
      };
    });
  const { trainData, validation, validationSet, oodReads, oodSets } = fit;
  const fitted = spec.kind.startsWith("grood")
    ? { ...fit.fitted, settings: { ...fit.fitted.settings, fitChunk: chunk } }
    : fit.fitted;
  const detector = makeDetector(spec);
  const specRecord = spec as unknown as Record<string, unknown>;
  // A non-finite setting is not kept.
  const settings = Object.fromEntries(
    Object.entries(fitted.settings).filter(([, v]) => typeof v !== "number" || Number.isFinite(v)),
  );
  const arrays = yield* persistence.save({
    detector: detector.name,
    spec: specRecord,
    fitted,
    train: fit.trainFeatures,
    validation: { id: validationSet, ood: oodSets },
  });

  const idScores = yield* fitted.score(validationSet);
  const oodScores = yield* Effect.forEach(oodSets, (set) => fitted.score(set));
  const idName = validation.set.name;
  // Nothing is written unless the saved state, loaded back, gives these scores exactly.
  yield* checkReproduced(spec.kind, persistence, arrays, {
    spec: specRecord,
    settings,
    model,
    modelKey: modelCopy.sha256,
    classNames,
    names: { train: options.train.argument, validation: idName, ood: oodSets.map(nameOf) },
  }, [validationSet, ...oodSets].map((set, i) => ({ set, scores: [idScores, ...oodScores][i]! })));
  yield* refuseDegenerate(idScores, detector.name, idName);
  const threshold = yield* idKeptThreshold(idScores, idName);
  const flagged = (scores: Float64Array) =>
    scores.reduce((n, s) => n + (s > threshold ? 1 : 0), 0) / scores.length;
  const metrics = yield* Effect.forEach(oodScores, (scores, i) =>
    Effect.map(
      evaluateOod({ id: idScores, ood: scores, names: { id: idName, ood: nameOf(oodSets[i]!) } }),
      (m): ValidationMetrics => ({
        source: nameOf(oodSets[i]!),
        ...m,
        flaggedAtThreshold: flagged(scores),
      }),
    ));
  const predicted = predictedClasses(validationSet.features.logits);
  const { labels, count } = validation.set;
  const accuracy = predicted.reduce((n, p, i) => n + (p === labels[i] ? 1 : 0), 0) / count;
  const edges = edgesOf([idScores, ...oodScores]);

  const manifestOf = (state: ReadonlyArray<StateEntry>): FittedManifest => ({
    format: FITTED_FORMAT,
    version: FITTED_VERSION,
    digest: "0".repeat(64),
    createdAt: creationTime(),
    detector: { kind: spec.kind, name: detector.name, spec: specRecord, settings },
    model: {
      kind,
      source: options.model,
      ...modelCopy,
      input: model.input,
      taps: model.taps,
      shapes: model.shapes,
      classNames,
    },
    data: {
      train: { source: options.train.argument, ...trainData },
      validation: {
        source: idName,
        count,
        checksum: validation.checksum,
        heldOut: validation.heldOut,
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
      id: distribution(idName, idScores, edges),
      ood: oodScores.map((s, i) => distribution(nameOf(oodSets[i]!), s, edges)),
    },
  });

  return yield* writeOutputFolder(
    options.out,
    folderRules,
    (tmp) => fillFittedFolder(tmp, options.model, modelCopy.sha256, arrays, manifestOf),
  );
});

/** Fit `options.detector` (default GROOD), write the folder `options.out`, return its manifest. */
export const fitDetectorFolder: (
  options: FitOptions,
) => Effect.Effect<FittedManifest, FitFolderError, Scope.Scope | Compute> = fitFolder;
