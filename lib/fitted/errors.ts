/**
 * The errors of fitted-detector folders: each names the folder or source and what is wrong.
 *
 * @module
 */
import { Data } from "effect";

/** A fitted-detector folder is incomplete or was changed after it was written. */
export class FittedFolderDamaged extends Data.TaggedError("FittedFolderDamaged")<{
  readonly folder: string;
  /** The file at fault, relative to the folder. */
  readonly file: string;
  readonly problem: string;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `The fitted detector "${this.folder}" is damaged: ${this.file}: ${this.problem} ` +
      "(fit it again with `deno task fit`)";
  }
}

/** `fit` cannot save this detector kind (its state is not a set of arrays grood can reload). */
export class UnsupportedFittedDetector extends Data.TaggedError("UnsupportedFittedDetector")<{
  readonly detector: string;
  readonly problem: string;
  readonly supported: ReadonlyArray<string>;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Cannot fit "${this.detector}" into a detector folder: ${this.problem} ` +
      `(supported: ${this.supported.join(", ")})`;
  }
}

/** A batch handed to `scoreImages` does not have the shape the detector's model takes. */
export class ImageBatchMismatch extends Data.TaggedError("ImageBatchMismatch")<{
  readonly detector: string;
  readonly expected: string;
  readonly actual: string;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `The fitted detector "${this.detector}" takes ${this.expected}; got ${this.actual}`;
  }
}

/** The data given to `fit` cannot serve (too few images, wrong shape, no labels…). */
export class FitDataInvalid extends Data.TaggedError("FitDataInvalid")<{
  readonly source: string;
  readonly problem: string;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Cannot fit on "${this.source}": ${this.problem}`;
  }
}

/** Every ID validation image got the same score: no threshold can decide anything. */
export class DegenerateScores extends Data.TaggedError("DegenerateScores")<{
  readonly detector: string;
  readonly source: string;
  readonly count: number;
  readonly score: number;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `${this.detector} gives all ${this.count} validation images of "${this.source}" ` +
      `the same score (${this.score}): it cannot tell images apart on this model ` +
      "(check the model's outputs and spec: huge logits or features underflow a softmax)";
  }
}

/** Some images of a source have no score (their model outputs are not finite): no metric. */
export class UnscoredImages extends Data.TaggedError("UnscoredImages")<{
  readonly source: string;
  /** How many images are invalid. */
  readonly count: number;
  /** The first one (its file or index) and why. */
  readonly image: string;
  readonly problem: string;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `${this.count} image${this.count === 1 ? "" : "s"} of "${this.source}" could not be ` +
      `scored (first: ${this.image}: ${this.problem}); metrics need a score for every image`;
  }
}
