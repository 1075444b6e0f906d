/**
 * ODIN's input gradient g = ∂/∂x Σᵢ CE(f(xᵢ)/T, argmax f(xᵢ)) by tfjs's autograd (`tf.grad`
 * through a forward function), and the bound the onnxruntime graph of the same gradient
 * (`export_gradient.ts`) is held to against it.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { Effect } from "effect";
import { ModelRunFailed } from "./errors.ts";
import { describeError, type FeatureModel, type FeatureTensor } from "./model.ts";

/**
 * How far the onnxruntime gradient may stray from tfjs's autograd, relative to the gradient's
 * size: ‖onnx − tfjs‖₂ ≤ `GRADIENT_TOLERANCE` · ‖tfjs‖₂ over the check sample. Both are exact
 * backward passes in float32, with different summation orders and batch normalisation folded
 * by different code, so a ReLU pre-activation within a few ulps of 0 can be open on one engine
 * and shut on the other: measured on 256 mnist test images at T = 1000, one such unit moved
 * one image's gradient by 1.7% of its largest value, and the whole batch by 7e-4 in this norm
 * (3e-6 at T = 1, where that image's gradient is small). The bound leaves room for one such
 * unit in the 16-image check sample; a wrong backward pass (a transposed kernel, a missing
 * mask or branch, a padding off by one) is off by order one.
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
 * The input gradient by tfjs's autograd through `logitsOf` (input tensor → logits, in the
 * model's layout): one `tf.grad` per batch of the summed cross-entropy (the images of a batch
 * do not interact, so the gradient of the sum holds each image's own gradient).
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
