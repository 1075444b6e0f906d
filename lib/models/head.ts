/**
 * The classifier head z = h·W + b from the penultimate tap to the logits, which detectors that
 * edit features (ReAct, ASH, DICE) or read its geometry (ViM, fDBD) recompute logits with. Each
 * adapter reads it from its engine; logits that are not such a map have none (`HeadUnreadable`).
 *
 * @module
 */
import { Data } from "effect";

/** The classifier's last dense layer, as plain arrays: z = h·kernel + bias. */
export interface Head {
  /** Penultimate feature size D. */
  readonly inputSize: number;
  /** Number of classes C. */
  readonly numClasses: number;
  /** D × C, row-major (the tfjs `Dense` kernel layout): zⱼ = Σₖ hₖ·kernel[k·C + j] + biasⱼ. */
  readonly kernel: Float32Array;
  /** C values. */
  readonly bias: Float32Array;
}

/** The model's logits are not an affine map of its penultimate tap whose weights can be read. */
export class HeadUnreadable extends Data.TaggedError("HeadUnreadable")<{
  readonly model: string;
  /** What was looked for and what was found instead. */
  readonly reason: string;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Cannot read the classifier head of the model "${this.model}": ${this.reason}`;
  }
}

/**
 * A head (a copy) from `weights` of D × C, or C × D when `transposed` (PyTorch's `Linear`, Gemm
 * with transB); `scale` and `biasScale` are Gemm's α and β; a missing bias is zero.
 */
export function headFrom(
  weights: ArrayLike<number>,
  inputSize: number,
  numClasses: number,
  options: {
    readonly transposed?: boolean;
    readonly bias?: ArrayLike<number>;
    readonly scale?: number;
    readonly biasScale?: number;
  } = {},
): Head {
  const { scale = 1, biasScale = 1, bias: given } = options;
  const kernel = new Float32Array(inputSize * numClasses);
  for (let k = 0; k < inputSize; k++) {
    for (let j = 0; j < numClasses; j++) {
      const at = options.transposed === true ? j * inputSize + k : k * numClasses + j;
      kernel[k * numClasses + j] = scale * weights[at]!;
    }
  }
  const bias = Float32Array.from(
    { length: numClasses },
    // A bias of one value broadcasts over the classes (ONNX allows it).
    (_, j) => given === undefined ? 0 : biasScale * given[given.length === 1 ? 0 : j]!,
  );
  return { inputSize, numClasses, kernel, bias };
}
