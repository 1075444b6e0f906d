/**
 * Stage 3, gradient: GROOD's descriptor of an input. With NCP logits s_j = −‖h − p_j‖ over the
 * C class prototypes and the OOD prototype p_ood, and the cross-entropy L against the
 * classifier's predicted class ŷ, the descriptor is ∂L/∂p_ood.
 *
 * Closed form (derivation in docs/method.md): since ŷ is never the OOD slot,
 *
 *   H(h) = π_ood(h) · (h − p_ood) / ‖h − p_ood‖,   π_ood = softmax(s)_ood,
 *
 * which does not depend on ŷ. At h = p_ood the direction is undefined; we return the zero
 * vector there (a subgradient), never NaN.
 *
 * Extension (not in the paper; default 1 = the paper): a temperature τ in the NCP logits,
 * s_j = −‖h − p_j‖/τ, gives H = π_ood(τ)/τ · (h − p_ood)/‖h − p_ood‖. The softmax only sees
 * distance *differences*; with large feature distances π_ood saturates, and τ > 1 lets the
 * direction part of H speak. `ablations/paper.json` measures it. `autogradDescriptors` computes the same thing with
 * `tf.grad`, per sample or batched, to verify the closed form and to measure its speed-up.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { Data, Effect } from "effect";
import { Compute } from "../compute/compute.ts";
import { firstNonFiniteRow, InvalidParameter, NonFiniteInput } from "../errors.ts";
import { squaredDistance } from "../distance.ts";
import { type Matrix, matrix } from "../matrix.ts";

/**
 * The temperatures GROOD's descriptors can hold: τ in [2^-62, 2^62], where 1/τ² is a normal
 * float32 number with room to spare. A descriptor's length is exactly π_ood/τ ≤ 1/τ (stored as
 * float32), and an index may square distances between them (up to 4/τ²) in float32, as IVF
 * does. Below the range, descriptors or their squared distances overflow (τ = 1e-300: infinite
 * descriptors; 1e-30: infinite IVF scores); above it they sink below float32's normal numbers
 * and lose their digits, down to all-zero descriptors (1e300: every score the same). No
 * rewriting of the softmax helps: it is already shifted (stable); the size 1/τ is the maths.
 */
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

const checkShapes = (features: Matrix, prototypes: GradientPrototypes) =>
  features.cols !== prototypes.classes.cols
    ? Effect.fail(
      new ShapeMismatch({
        what: "the feature dimension",
        expected: prototypes.classes.cols,
        actual: features.cols,
      }),
    )
    : prototypes.ood.length !== prototypes.classes.cols
    ? Effect.fail(
      new ShapeMismatch({
        what: "the OOD prototype",
        expected: prototypes.classes.cols,
        actual: prototypes.ood.length,
      }),
    )
    : Effect.void;

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
)(function* (
  features: Matrix,
  prototypes: GradientPrototypes,
  temperature = 1,
) {
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
  features: Matrix,
  prototypes: GradientPrototypes,
  predicted: Uint8Array,
  mode: AutogradMode = "batched",
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
