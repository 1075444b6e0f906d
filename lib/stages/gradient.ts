/**
 * Stage 3, gradient: GROOD's descriptor of an input, ∂L/∂p_ood of the cross-entropy of the NCP
 * logits s_j = −‖h − p_j‖/τ against the predicted class. In closed form (derivation in
 * docs/method.md) H(h) = π_ood/τ · (h − p_ood)/‖h − p_ood‖, zero at h = p_ood (a subgradient,
 * never NaN). τ (default 1, the paper) is our extension: docs/internals/pipeline.md.
 * `autogradDescriptors` computes the same with `tf.grad`, to verify the closed form.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { Data, Effect } from "effect";
import { Compute } from "../compute/compute.ts";
import { firstNonFiniteRow, InvalidParameter, NonFiniteInput } from "../errors.ts";
import { squaredDistance } from "../distance.ts";
import { type Matrix, matrix } from "../matrix.ts";

/** The temperatures GROOD's float32 descriptors can hold (docs/internals/pipeline.md). */
export const TEMPERATURE_RANGE = { minimum: 2 ** -62, maximum: 2 ** 62 } as const;

/** {@link TEMPERATURE_RANGE} in words, for errors. */
export const TEMPERATURE_EXPECTED = "a number in [2^-62, 2^62] (about 2.2e-19 to 4.6e18): " +
  "GROOD's float32 descriptors are up to 1/τ long";

/** Whether GROOD's descriptors can hold temperature `t` ({@link TEMPERATURE_RANGE}). */
export const temperatureHeld = (t: number): boolean =>
  t >= TEMPERATURE_RANGE.minimum && t <= TEMPERATURE_RANGE.maximum;

/** What the gradient stage needs besides the features: class prototypes and the OOD one. */
export interface GradientPrototypes {
  /** C × D penultimate class prototypes. */
  readonly classes: Matrix;
  /** D-vector OOD prototype. */
  readonly ood: Float32Array;
}

/** Features and prototypes disagree in size. */
export class ShapeMismatch extends Data.TaggedError("ShapeMismatch")<{
  readonly what: string;
  readonly expected: number;
  readonly actual: number;
}> {
  /** What has which size and which was expected, in one sentence. */
  override get message(): string {
    return `Cannot compute descriptors: ${this.what} has size ${this.actual}, expected ${this.expected}`;
  }
}

const checkShapes = (features: Matrix, { classes, ood }: GradientPrototypes) => {
  const [what, actual] = features.cols !== classes.cols
    ? ["the feature dimension", features.cols]
    : ["the OOD prototype", ood.length];
  return actual === classes.cols
    ? Effect.void
    : Effect.fail(new ShapeMismatch({ what, expected: classes.cols, actual }));
};

/**
 * GROOD descriptors of every row of `features`, in closed form (float64 inside).
 *
 * @example One class, descriptor points away from the OOD prototype
 * ```ts
 * import { Effect } from "effect";
 * import { groodDescriptors } from "./gradient.ts";
 * import { matrix } from "../matrix.ts";
 * const h = matrix(1, 2, [3, 0]);
 * const H = Effect.runSync(groodDescriptors(h, { classes: matrix(1, 2, [3, 1]), ood: new Float32Array([0, 0]) }));
 * // d_class = 1, d_ood = 3: π_ood = e^-3 / (e^-1 + e^-3); direction (1, 0)
 * const pi = Math.exp(-3) / (Math.exp(-1) + Math.exp(-3));
 * if (Math.abs(H.data[0]! - pi) > 1e-6 || H.data[1] !== 0) throw new Error("wrong descriptor");
 * ```
 */
export const groodDescriptors: (
  features: Matrix,
  prototypes: GradientPrototypes,
  temperature?: number,
) => Effect.Effect<Matrix, InvalidParameter | NonFiniteInput | ShapeMismatch> = Effect.fn(
  "groodDescriptors",
)(function* (features, prototypes, temperature = 1) {
  yield* checkShapes(features, prototypes);
  for (
    const [what, data] of [
      ["the features", features.data],
      ["the class prototypes", prototypes.classes.data],
      ["the OOD prototype", prototypes.ood],
    ] as const
  ) {
    const row = firstNonFiniteRow(data, what === "the OOD prototype" ? data.length : features.cols);
    if (row >= 0) return yield* new NonFiniteInput({ stage: "GROOD descriptors", what, row });
  }
  if (!temperatureHeld(temperature)) {
    return yield* new InvalidParameter({
      name: "temperature",
      value: temperature,
      expected: TEMPERATURE_EXPECTED,
    });
  }
  const { rows, cols } = features;
  const numClasses = prototypes.classes.rows;
  const p = prototypes.classes.data;
  const ood = prototypes.ood;
  const out = new Float32Array(rows * cols);
  const distances = new Float64Array(numClasses);
  for (let i = 0; i < rows; i++) {
    const offset = i * cols;
    const oodDistance = Math.sqrt(squaredDistance(features.data, offset, ood, 0, cols));
    if (oodDistance === 0) continue; // h on p_ood: zero subgradient
    // Softmax over s = −d, shifted by the smallest distance for stability.
    let smallest = oodDistance;
    for (let c = 0; c < numClasses; c++) {
      distances[c] = Math.sqrt(squaredDistance(features.data, offset, p, c * cols, cols));
      if (distances[c]! < smallest) smallest = distances[c]!;
    }
    let partition = Math.exp((smallest - oodDistance) / temperature);
    const oodWeight = partition;
    for (let c = 0; c < numClasses; c++) {
      partition += Math.exp((smallest - distances[c]!) / temperature);
    }
    const scale = oodWeight / partition / oodDistance / temperature;
    for (let j = 0; j < cols; j++) out[offset + j] = scale * (features.data[offset + j]! - ood[j]!);
  }
  return matrix(rows, cols, out);
});

/** How the autograd route batches its `tf.grad` calls. */
export type AutogradMode = "per-sample" | "batched";

/**
 * The same descriptors by automatic differentiation of the NCP cross-entropy against the
 * predicted classes `predicted` (what the reference implementation does). "per-sample" runs one
 * `tf.grad` per row, as the reference; "batched" gives every row its own copy of p_ood so one
 * `tf.grad` of the summed loss yields all per-row gradients at once.
 */
export const autogradDescriptors: (
  features: Matrix,
  prototypes: GradientPrototypes,
  predicted: Uint8Array,
  mode?: AutogradMode,
  batchSize?: number,
  temperature?: number,
) => Effect.Effect<Matrix, ShapeMismatch, Compute> = Effect.fn("autogradDescriptors")(function* (
  features,
  prototypes,
  predicted,
  mode = "batched",
  batchSize = 1000,
  temperature = 1,
) {
  const { tf } = yield* Compute;
  yield* checkShapes(features, prototypes);
  const { rows, cols } = features;
  const numClasses = prototypes.classes.rows;
  const out = new Float32Array(rows * cols);
  const classes = tf.tensor2d(prototypes.classes.data, [numClasses, cols]);
  // Loss of rows h [B, D] against per-row OOD prototypes q [B, D] and labels y [B].
  const loss = (h: tfType.Tensor2D, q: tfType.Tensor2D, y: tfType.Tensor1D) => {
    const toClasses = tf.sqrt(
      tf.sum(tf.square(tf.sub(tf.expandDims(h, 1), tf.expandDims(classes, 0))), 2),
    ); // [B, C]
    const toOod = tf.sqrt(tf.sum(tf.square(tf.sub(h, q)), 1, true)); // [B, 1]
    const logits = tf.div(tf.neg(tf.concat([toClasses, toOod], 1)), temperature);
    return tf.losses.softmaxCrossEntropy(
      tf.oneHot(y, numClasses + 1),
      logits,
      undefined,
      undefined,
      tf.Reduction.SUM,
    ) as tfType.Scalar;
  };
  // Released by Effect (not try/finally, which a failing or interrupted yield* skips).
  yield* Effect.gen(function* () {
    const step = mode === "per-sample" ? 1 : batchSize;
    for (let start = 0; start < rows; start += step) {
      const size = Math.min(step, rows - start);
      const grads = tf.tidy(() => {
        const h = tf.tensor2d(features.data.subarray(start * cols, (start + size) * cols), [
          size,
          cols,
        ]);
        const y = tf.tensor1d(Int32Array.from(predicted.subarray(start, start + size)), "int32");
        const q = tf.tile(tf.tensor2d(prototypes.ood, [1, cols]), [size, 1]) as tfType.Tensor2D;
        const gradient = tf.grad((qq: tfType.Tensor) => loss(h, qq as tfType.Tensor2D, y));
        return gradient(q).dataSync() as Float32Array;
      });
      out.set(grads, start * cols);
      if (mode === "batched") yield* Effect.yieldNow;
    }
  }).pipe(Effect.ensuring(Effect.sync(() => classes.dispose())));
  return matrix(rows, cols, out);
});
