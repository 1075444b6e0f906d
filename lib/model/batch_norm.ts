/**
 * Batch normalisation of the classifier's training passes: the forward with the batch's own
 * moments and a hand-written gradient, and the moving statistics' updates it produces.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";

type Tf = typeof tfType;

/** Moving-average momentum and epsilon of batch normalisation (Keras defaults). */
export const BN_MOMENTUM = 0.99;
export const BN_EPSILON = 1e-3;

/** A pending update of a moving statistic, produced by a training forward pass. */
export interface StatisticUpdate {
  /** The moving mean or variance to update. */
  readonly variable: tfType.Variable;
  /** The new value (kept out of tidy scopes; `applyUpdates` disposes it). */
  readonly value: tfType.Tensor;
}

/** Apply (and dispose) the moving-statistic updates of a training forward pass. */
export function applyUpdates(updates: ReadonlyArray<StatisticUpdate>): void {
  for (const { variable, value } of updates) {
    variable.assign(value);
    value.dispose();
  }
}

/**
 * Batch normalisation with the batch's own moments, with a hand-written gradient (tfjs's own
 * tiles the statistics, the costliest part of a wasm training step; this one broadcasts):
 * dx = γ/(σ·N) · (N·dy − Σdy − x̂·Σ(dy·x̂)), dγ = Σ(dy·x̂), dβ = Σdy (sums over N, H, W).
 */
export function batchNormTraining(
  tf: Tf,
  x: tfType.Tensor4D,
  gamma: tfType.Tensor1D,
  beta: tfType.Tensor1D,
): { output: tfType.Tensor4D; mean: tfType.Tensor1D; variance: tfType.Tensor1D } {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  const normalise = tf.customGrad((...args: Array<tfType.Tensor | tfType.GradSaveFunc>) => {
    const [input, scale, shift] = args as [tfType.Tensor4D, tfType.Tensor1D, tfType.Tensor1D];
    const save = args[3] as tfType.GradSaveFunc;
    const moments = tf.moments(input, [0, 1, 2]);
    const inverse = tf.rsqrt(tf.add(moments.variance, BN_EPSILON));
    const normalised = tf.mul(tf.sub(input, moments.mean), inverse);
    save([normalised, inverse, scale]);
    return {
      value: tf.add(tf.mul(normalised, scale), shift),
      gradFunc: (dy: tfType.Tensor | Array<tfType.Tensor>, saved: Array<tfType.Tensor>) => {
        const grad = dy as tfType.Tensor4D;
        const [xhat, inv, g] = saved as [tfType.Tensor4D, tfType.Tensor1D, tfType.Tensor1D];
        const count = grad.shape[0] * grad.shape[1] * grad.shape[2];
        const dBeta = tf.sum(grad, [0, 1, 2]);
        const dGamma = tf.sum(tf.mul(grad, xhat), [0, 1, 2]);
        const dx = tf.mul(
          tf.mul(g, tf.div(inv, count)),
          tf.sub(tf.sub(tf.mul(grad, count), dBeta), tf.mul(xhat, dGamma)),
        );
        return [dx, dGamma, dBeta];
      },
    };
  });
  const output = normalise(x, gamma, beta) as tfType.Tensor4D;
  return { output, mean: mean as tfType.Tensor1D, variance: variance as tfType.Tensor1D };
}
