/**
 * The classifier head of a model: the affine map from the penultimate tap to the logits tap,
 * z = h·W + b, with W of D × C and b of C values. Detectors that edit the penultimate features
 * (ReAct, ASH, DICE) or read the head's geometry (ViM, fDBD, SCALE) recompute logits with it.
 * Each adapter reads it from its own engine (ONNX: the final Gemm or MatMul + Add; tfjs: the
 * last Dense layer or MatMul + BiasAdd; grood's CNN: its dense block); a model whose logits are
 * not such a map of its penultimate features has none (`HeadUnreadable`).
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
  /** The model's path or label. */
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
 * A head from a weight matrix stored either way: `transposed` false means `weights` is D × C
 * (z = h·W), true means C × D (z = h·Wᵀ, PyTorch's `Linear` and ONNX Gemm with transB = 1).
 * `scale` multiplies the weights (Gemm's α) and `biasScale` the bias (Gemm's β); a missing bias
 * is zero. The result is a copy: later changes to the engine's arrays do not reach it.
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
  const scale = options.scale ?? 1;
  const biasScale = options.biasScale ?? 1;
  const kernel = new Float32Array(inputSize * numClasses);
  for (let k = 0; k < inputSize; k++) {
    for (let j = 0; j < numClasses; j++) {
      const w = options.transposed === true
        ? weights[j * inputSize + k]!
        : weights[k * numClasses + j]!;
      kernel[k * numClasses + j] = scale * w;
    }
  }
  const given = options.bias;
  const bias = Float32Array.from(
    { length: numClasses },
    // A bias of one value broadcasts over the classes (ONNX allows it).
    (_, j) => given === undefined ? 0 : biasScale * given[given.length === 1 ? 0 : j]!,
  );
  return { inputSize, numClasses, kernel, bias };
}
