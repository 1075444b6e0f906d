/**
 * A fit's training data opened outside its process (a cluster runner, `grood cluster fit`): the
 * model with the fit's taps, checked against the hash the fit saw, and the training source in
 * the fit's class order, as `fitDetectorFolder` opens them.
 *
 * @module
 */
import { Data, Effect, type Scope } from "effect";
import type { Compute } from "../compute/compute.ts";
import type { IoError } from "../io/files.ts";
import type { LinkLeavesRoot, PathOutsideBase } from "../io/paths.ts";
import type { ModelError } from "../models/errors.ts";
import type { ModelKind } from "../models/registry.ts";
import type { FitDataInvalid } from "./errors.ts";
import type { FeatureModel, Taps } from "../models/model.ts";
import type { SourceArgument } from "../sources/argument.ts";
import type { OpenedSource, SourceError } from "../sources/source.ts";
import { inClassOrder, openArgument, toShape } from "./fit_data.ts";
import type { StreamedTraining } from "./fit_options.ts";
import { openWithTaps } from "./fit_model.ts";
import { copyModel } from "./model_files.ts";

/** What names a fit's training data: enough to read any chunk of it anywhere. */
export interface FitTrainingRef
  extends Pick<StreamedTraining, "classNames" | "sourceCount" | "modelSha256"> {
  /** The model's path. */
  readonly model: string;
  /** The taps the fit used. */
  readonly taps: Partial<Taps>;
  /** The training source, as the fit's command line named it. */
  readonly train: SourceArgument;
  /** Source indices held out as ID validation, ascending. */
  readonly held: ReadonlyArray<number>;
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
    const opened = yield* openArgument(ref.train, shape, model.classes);
    if (opened.count !== ref.sourceCount) {
      return yield* new FitTrainingChanged({
        what: ref.train.argument,
        problem: `it holds ${opened.count} images; the fit began with ${ref.sourceCount}`,
      });
    }
    return yield* inClassOrder(ref.train, opened, ref.classNames);
  });
