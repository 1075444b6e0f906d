/**
 * The errors a model can give, each naming the model and the tensor or file at fault.
 *
 * @module
 */
import { Data } from "effect";

/** The model file cannot be read or parsed (missing, unreadable, not this format). */
export class ModelUnreadable extends Data.TaggedError("ModelUnreadable")<{
  readonly model: string;
  readonly problem: string;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Cannot read the model "${this.model}": ${this.problem}`;
  }
}

/** A tap names a tensor (or layer, or block) the model does not have. */
export class MissingTap extends Data.TaggedError("MissingTap")<{
  readonly model: string;
  readonly tap: string;
  readonly tensor: string;
  readonly known: ReadonlyArray<string>;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    const known = this.known.slice(0, 12).join(", ") + (this.known.length > 12 ? ", …" : "");
    return `Model "${this.model}" has no tensor "${this.tensor}" for tap "${this.tap}" ` +
      `(it has: ${known})`;
  }
}

/** A tensor fed to the model does not have the shape the model declares. */
export class InputShapeMismatch extends Data.TaggedError("InputShapeMismatch")<{
  readonly model: string;
  readonly tensor: string;
  /** Declared shape (−1 = any size, e.g. the batch axis). */
  readonly expected: ReadonlyArray<number>;
  readonly actual: ReadonlyArray<number>;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Model "${this.model}" expects tensor "${this.tensor}" of shape ` +
      `[${this.expected.join(", ")}], got [${this.actual.join(", ")}]`;
  }
}

/** A forward pass from `from` cannot be cut out of the graph: the target needs another tensor. */
export class TapDoesNotCut extends Data.TaggedError("TapDoesNotCut")<{
  readonly model: string;
  readonly from: string;
  readonly to: string;
  readonly tensor: string;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Model "${this.model}": cannot run from "${this.from}" to "${this.to}": ` +
      `"${this.to}" also depends on "${this.tensor}", which "${this.from}" does not provide`;
  }
}

/** The engine failed while running the model (names the model and the engine's reason). */
export class ModelRunFailed extends Data.TaggedError("ModelRunFailed")<{
  readonly model: string;
  readonly problem: string;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Running the model "${this.model}" failed: ${this.problem}`;
  }
}

/** The exported graph disagrees with the tfjs network it was exported from. */
export class OnnxExportMismatch extends Data.TaggedError("OnnxExportMismatch")<{
  readonly model: string;
  readonly output: string;
  readonly difference: number;
  readonly allowed: number;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `grood's CNN "${this.model}" exported to ONNX does not match its tfjs network: ` +
      `the ${this.output} differ by up to ${this.difference.toExponential(2)} on the check ` +
      `sample (allowed ${this.allowed.toExponential(2)}); run it with the tfjs engine`;
  }
}

/** The input-gradient graph disagrees with tfjs's autograd of the network it came from. */
export class OnnxGradientMismatch extends Data.TaggedError("OnnxGradientMismatch")<{
  readonly model: string;
  readonly temperature: number;
  readonly difference: number;
  readonly allowed: number;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `grood's CNN "${this.model}": the input gradient on onnxruntime does not match ` +
      `tfjs's autograd at temperature ${this.temperature}: they differ by ` +
      `${this.difference.toExponential(2)} (L2) on the check sample (allowed ` +
      `${this.allowed.toExponential(2)}); run it with the tfjs engine`;
  }
}

/** Any error a model can give. */
export type ModelError =
  | ModelUnreadable
  | MissingTap
  | InputShapeMismatch
  | TapDoesNotCut
  | ModelRunFailed
  | OnnxExportMismatch
  | OnnxGradientMismatch;
