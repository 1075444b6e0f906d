/**
 * ODIN's input gradient g = ∂/∂x Σᵢ CE(f(xᵢ)/T, argmax f(xᵢ)) by tfjs's autograd, and the bound
 * the onnxruntime graph of it (`export_gradient.ts`) is held to.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { Effect } from "effect";
import { ModelRunFailed } from "./errors.ts";
import { describeError, type FeatureModel, type FeatureTensor } from "./model.ts";

/**
 * How far the onnxruntime gradient may stray from tfjs's autograd over the check sample:
 * ‖onnx − tfjs‖₂ ≤ `GRADIENT_TOLERANCE` · ‖tfjs‖₂ (room for one ReLU flipped by rounding; a
 * wrong backward pass is off by order one: `docs/internals/models.md`).
 */
export const GRADIENT_TOLERANCE = 1e-2;

/** ‖onnx − tfjs‖₂ of two gradients and the bound it must stay under. */
export const gradientDifference = (
  onnx: Float32Array,
  tfjs: Float32Array,
): { readonly difference: number; readonly allowed: number } => {
  let squared = onnx.length === tfjs.length ? 0 : Infinity;
  let size = 0;
  for (let i = 0; i < tfjs.length; i++) {
    squared += (onnx[i]! - tfjs[i]!) ** 2;
    size += tfjs[i]! ** 2;
  }
  const difference = Number.isNaN(squared) || !Number.isFinite(size)
    ? Infinity
    : Math.sqrt(squared);
  return { difference, allowed: GRADIENT_TOLERANCE * Math.sqrt(size) };
};

/**
 * The input gradient by tfjs's autograd through `logitsOf` (input → logits): one `tf.grad` of
 * the batch's summed cross-entropy (images do not interact, so each gets its own gradient).
 */
export const tfjsInputGradient = (
  tf: typeof tfType,
  model: string,
  logitsOf: (x: tfType.Tensor) => tfType.Tensor,
): NonNullable<FeatureModel["inputGradient"]> =>
(x, temperature) =>
  Effect.try({
    try: (): FeatureTensor =>
      tf.tidy(() => {
        const input = tf.tensor(x.data, [...x.shape]);
        const logits = logitsOf(input);
        const target = tf.oneHot(tf.argMax(logits, 1), logits.shape[1]!);
        const crossEntropy = (value: tfType.Tensor) =>
          tf.neg(
            tf.sum(tf.mul(target, tf.logSoftmax(tf.div(logitsOf(value), temperature)))),
          ) as tfType.Scalar;
        const gradient = tf.grad(crossEntropy)(input);
        return { data: gradient.dataSync() as Float32Array, shape: gradient.shape };
      }),
    catch: (error) => new ModelRunFailed({ model, problem: describeError(error) }),
  });
