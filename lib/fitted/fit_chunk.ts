/**
 * A fit's training chunks read outside the fit's own process (a cluster runner: `apps/cluster`,
 * `grood cluster fit`): the model opened with the fit's taps and checked against the content
 * hash the fit saw, the training source opened and renumbered into the fit's class order as
 * `fitDetectorFolder` does, and images [start, end) of the training stream (the source less the
 * held-out images) as one chunk, the same images `trainStream` gives the fit in one process.
 *
 * @module
 */
import { Data, Effect, type Scope, Stream } from "effect";
import type { Compute } from "../compute/compute.ts";
import type { IoError } from "../io/files.ts";
import type { LinkLeavesRoot, PathOutsideBase } from "../io/paths.ts";
import type { ModelError } from "../models/errors.ts";
import type { ModelKind } from "../models/registry.ts";
import type { FitDataInvalid } from "./errors.ts";
import type { TrainingChunk } from "../detectors/grood_chunks.ts";
import type { FeatureModel, Taps } from "../models/model.ts";
import { openSource } from "../sources/mod.ts";
import type { SourceArgument } from "../sources/argument.ts";
import { imageValues, type OpenedSource, type SourceError } from "../sources/source.ts";
import { readRange, type SourceRangeInvalid } from "../sources/range.ts";
import { inClassOrder, toShape } from "./fit_data.ts";
import { openWithTaps } from "./fit_model.ts";
import { copyModel } from "./model_files.ts";

/** What names a fit's training data: enough to read any chunk of it anywhere. */
export interface FitTrainingRef {
  /** The model's path. */
  readonly model: string;
  /** The taps the fit used. */
  readonly taps: Partial<Taps>;
  /** The model's content hash (as a fitted folder records it): a changed model is refused. */
  readonly modelSha256: string;
  /** The training source, as the fit's command line named it. */
  readonly train: SourceArgument;
  /** The class order the labels are renumbered into. */
  readonly classNames: ReadonlyArray<string>;
  /** Source indices held out as ID validation, ascending. */
  readonly held: ReadonlyArray<number>;
  /** Images in the source when the fit began. */
  readonly sourceCount: number;
}

/** The training data of a fit cannot be read as the fit read it. */
export class FitTrainingChanged extends Data.TaggedError("FitTrainingChanged")<{
  readonly what: string;
  readonly problem: string;
}> {
  /** Names what changed and how. */
  override get message(): string {
    return `Cannot read the fit's training data (${this.what}): ${this.problem}`;
  }
}

/** The model of `ref`, checked against its content hash. */
export const openFitModel = (ref: FitTrainingRef): Effect.Effect<
  {
    readonly model: FeatureModel;
    readonly kind: ModelKind;
    readonly classes: ReadonlyArray<string> | undefined;
  },
  ModelError | IoError | PathOutsideBase | LinkLeavesRoot | FitTrainingChanged,
  Compute | Scope.Scope
> =>
  Effect.gen(function* () {
    const hashed = yield* copyModel(ref.model, undefined, "model");
    if (hashed.sha256 !== ref.modelSha256) {
      return yield* new FitTrainingChanged({
        what: ref.model,
        problem: `the model's content hash is ${hashed.sha256}; the fit began with ` +
          ref.modelSha256,
      });
    }
    return yield* openWithTaps(ref.model, ref.taps);
  });

/** The training source of `ref` at `model`'s input, labels in the fit's class order. */
export const openFitTraining = (
  ref: FitTrainingRef,
  model: { readonly model: FeatureModel; readonly classes: ReadonlyArray<string> | undefined },
): Effect.Effect<OpenedSource, SourceError | FitDataInvalid | FitTrainingChanged> =>
  Effect.gen(function* () {
    const shape = yield* toShape(model.model);
    const opened = yield* openSource(ref.train.spec, {
      baseDir: ref.train.baseDir,
      shape,
      ...(model.classes === undefined ? {} : { classes: model.classes }),
    });
    if (opened.count !== ref.sourceCount) {
      return yield* new FitTrainingChanged({
        what: ref.train.argument,
        problem: `it holds ${opened.count} images; the fit began with ${ref.sourceCount}`,
      });
    }
    return yield* inClassOrder(ref.train, opened, ref.classNames);
  });

/**
 * The source index of image `trainIndex` of the training stream: the source less `held`
 * (ascending source indices).
 */
const sourceIndexOf = (trainIndex: number, held: ReadonlyArray<number>): number => {
  let index = trainIndex;
  for (const h of held) {
    if (h > index) break;
    index++;
  }
  return index;
};

/**
 * Images [start, end) of the training stream of `opened` less `held` (ascending source
 * indices), as one chunk. Only the source images that span the chunk are read (a ranged read,
 * `Sources.readRange`), so the chunks of a fit together read the source once.
 */
export const trainingChunk = (
  opened: OpenedSource,
  held: ReadonlyArray<number>,
  range: { readonly start: number; readonly end: number },
): Effect.Effect<TrainingChunk, FitTrainingChanged | SourceError | SourceRangeInvalid> =>
  Effect.gen(function* () {
    const per = imageValues(opened.shape);
    const size = range.end - range.start;
    const pixels = new Uint8Array(size * per);
    const labels = new Uint8Array(size);
    const ascending = [...held].sort((a, b) => a - b);
    const isHeld = new Set(held);
    const first = sourceIndexOf(range.start, ascending);
    const span = size === 0
      ? { start: first, end: first }
      : { start: first, end: Math.min(opened.count, sourceIndexOf(range.end - 1, ascending) + 1) };
    let filled = 0;
    let labelled = true;
    yield* Stream.runForEach(readRange(opened, span, 500), (batch) =>
      Effect.sync(() => {
        if (batch.labels === undefined) labelled = false;
        for (let i = 0; i < batch.size && filled < size; i++) {
          if (isHeld.has(batch.start + i)) continue;
          pixels.set(batch.pixels.subarray(i * per, (i + 1) * per), filled * per);
          labels[filled++] = batch.labels?.[i] ?? 0;
        }
      }));
    if (filled !== size) {
      return yield* new FitTrainingChanged({
        what: opened.description,
        problem: `images [${range.start}, ${range.end}) of its training stream: read ${filled}`,
      });
    }
    return { start: range.start, size, pixels, ...(labelled ? { labels } : {}) };
  });
