/**
 * The classifier: a small residual CNN for 28×28×1 images, an ordered list of named blocks, so
 * GROOD can read features at any block boundary, edit them and feed them to the blocks after
 * (`forward(x, { from, to })`). Plain tfjs ops over named variables, so weights, their seeded
 * initialisation and the saved format are ours (`docs/internals/models.md`).
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { Data } from "effect";
import { mulberry32 } from "../random.ts";
import { batchNormTraining, BN_EPSILON, BN_MOMENTUM, type StatisticUpdate } from "./batch_norm.ts";

// Exported here too, where callers have taken them.
export { applyUpdates, batchNormTraining, type StatisticUpdate } from "./batch_norm.ts";

/** The tfjs module a classifier runs on (the `Compute` service's `tf`). */
export type Tf = typeof tfType;

/**
 * A block of the network: a convolution (`conv`: conv, batch norm, ReLU; `residual`: two of
 * them and a shortcut), the global average pooling, or the dense head.
 */
export type BlockSpec =
  | {
    readonly name: string;
    readonly kind: "conv" | "residual";
    readonly filters: number;
    readonly stride: number;
  }
  | { readonly name: string; readonly kind: "globalAvgPool" }
  | { readonly name: string; readonly kind: "dense"; readonly units: number };

/** The architecture, as data (saved in `model.json`). */
export interface ClassifierSpec {
  /** Input image shape: height, width, channels. */
  readonly inputShape: readonly [number, number, number];
  /** The blocks, in forward order. */
  readonly blocks: ReadonlyArray<BlockSpec>;
}

/** The boundary before the first block. */
export const INPUT = "input";

/**
 * The default architecture: a stem and three residual stages (convolutions with batch
 * normalisation), 14×14×32 early features at block1 for the mix-up, a 64-d penultimate
 * feature (pool), logits (head).
 */
export function defaultSpec(numClasses: number): ClassifierSpec {
  return {
    inputShape: [28, 28, 1],
    blocks: [
      { name: "stem", kind: "conv", filters: 16, stride: 1 },
      { name: "block1", kind: "residual", filters: 32, stride: 2 },
      { name: "block2", kind: "residual", filters: 64, stride: 2 },
      { name: "block3", kind: "residual", filters: 64, stride: 1 },
      { name: "pool", kind: "globalAvgPool" },
      { name: "head", kind: "dense", units: numClasses },
    ],
  };
}

/** A boundary name is not a block of this network, or `from` is not before `to`. */
export class UnknownBoundary extends Data.TaggedError("UnknownBoundary")<{
  readonly boundary: string;
  readonly known: ReadonlyArray<string>;
}> {
  /** Names the boundary and the known ones. */
  override get message(): string {
    return `Cannot use block boundary "${this.boundary}": known boundaries are ${
      this.known.join(", ")
    }`;
  }
}

/** Where to start and stop a forward pass (boundary names; defaults: input → last block). */
export interface ForwardRange {
  /** Start after this boundary (default `input`). */
  readonly from?: string;
  /** Stop after this boundary, included (default: the last block). */
  readonly to?: string;
}

/** One named weight, in a fixed order (the order of the saved weights file). */
interface NamedWeight {
  readonly name: string;
  readonly shape: ReadonlyArray<number>;
}

/**
 * The weight names and shapes of a spec, in order. Every convolution is followed by batch
 * normalisation (`<conv>/bn/{gamma,beta}` trained, `{mean,variance}` moving), so has no bias.
 */
export function weightLayout(spec: ClassifierSpec): ReadonlyArray<NamedWeight> {
  const out: Array<NamedWeight> = [];
  const conv = (name: string, size: number, cin: number, cout: number) => {
    out.push({ name: `${name}/kernel`, shape: [size, size, cin, cout] });
    for (const stat of BN_PARAMS) out.push({ name: `${name}/bn/${stat}`, shape: [cout] });
  };
  let channels = spec.inputShape[2];
  for (const block of spec.blocks) {
    if (block.kind === "conv") conv(block.name, 3, channels, block.filters);
    if (block.kind === "residual") {
      conv(`${block.name}/conv1`, 3, channels, block.filters);
      conv(`${block.name}/conv2`, 3, block.filters, block.filters);
      if (block.stride !== 1 || channels !== block.filters) {
        conv(`${block.name}/shortcut`, 1, channels, block.filters);
      }
    }
    if (block.kind === "dense") {
      out.push({ name: `${block.name}/kernel`, shape: [channels, block.units] });
      out.push({ name: `${block.name}/bias`, shape: [block.units] });
    }
    channels = block.kind === "dense" ? block.units : "filters" in block ? block.filters : channels;
  }
  return out;
}

/** Batch-normalisation parameters of each convolution, in saved order. */
const BN_PARAMS = ["gamma", "beta", "mean", "variance"] as const;

/** The output shape (without the batch axis) of every boundary. */
export function boundaryShapes(spec: ClassifierSpec): ReadonlyMap<string, ReadonlyArray<number>> {
  let [h, w, c] = spec.inputShape;
  const shapes = new Map<string, ReadonlyArray<number>>([[INPUT, [h, w, c]]]);
  for (const block of spec.blocks) {
    if (block.kind === "conv" || block.kind === "residual") {
      [h, w, c] = [Math.ceil(h / block.stride), Math.ceil(w / block.stride), block.filters];
      shapes.set(block.name, [h, w, c]);
      continue;
    }
    // Pooling keeps the channels (and leaves 1 × 1); a dense block has its units.
    if (block.kind === "dense") c = block.units;
    else [h, w] = [1, 1];
    shapes.set(block.name, [c]);
  }
  return shapes;
}

/**
 * Seeded He-normal initial kernels; biases, BN shifts and means 0, BN scales and variances 1
 * (our generator, not tfjs's: the same network on every backend).
 */
export function initialWeights(spec: ClassifierSpec, seed: number): Map<string, Float32Array> {
  const random = mulberry32(seed);
  const gaussian = () => {
    // Box-Muller; 1 - u avoids log(0).
    const u = 1 - random();
    const v = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const out = new Map<string, Float32Array>();
  for (const { name, shape } of weightLayout(spec)) {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith("/kernel")) {
      const std = Math.sqrt(2 / shape.slice(0, -1).reduce((a, b) => a * b, 1));
      values.forEach((_, i) => values[i] = std * gaussian());
    } else if (name.endsWith("/bn/gamma") || name.endsWith("/bn/variance")) {
      values.fill(1);
    }
    out.set(name, values);
  }
  return out;
}

/** A classifier ready to run: spec, variables, and block-range forward passes. */
export interface Classifier {
  /** The architecture. */
  readonly spec: ClassifierSpec;
  /** Number of classes C (units of the dense head). */
  readonly numClasses: number;
  /** `input`, then each block name, in order. */
  readonly boundaries: ReadonlyArray<string>;
  /** The trainable weights and moving statistics, by name. */
  readonly variables: ReadonlyMap<string, tfType.Variable>;
  /** Run blocks after `from` up to and including `to` (tensors in, tensor out, no disposal). */
  readonly forward: (x: tfType.Tensor, range?: ForwardRange) => tfType.Tensor;
  /** A training forward pass: batch statistics, and the moving-statistic updates to apply. */
  readonly forwardTraining: (x: tfType.Tensor) => {
    readonly logits: tfType.Tensor;
    readonly updates: ReadonlyArray<StatisticUpdate>;
  };
  /** Output shape (without batch axis) at a boundary. */
  readonly shapeAt: (boundary: string) => ReadonlyArray<number>;
  /** Free the variables (the classifier is unusable after). */
  readonly dispose: () => void;
}

/** The name of the penultimate boundary (the global pooling block). */
export function penultimate(spec: ClassifierSpec): string {
  const pool = spec.blocks.find((b) => b.kind === "globalAvgPool");
  if (pool === undefined) throw new Error("Cannot find the penultimate block: no pooling block");
  return pool.name;
}

/**
 * Build a classifier from a spec and weight values (from `initialWeights` or a saved model).
 * The caller owns the result and must `dispose()` it.
 */
export function makeClassifier(
  tf: Tf,
  spec: ClassifierSpec,
  weights: ReadonlyMap<string, Float32Array>,
): Classifier {
  const layout = weightLayout(spec);
  const variables = new Map<string, tfType.Variable>();
  for (const { name, shape } of layout) {
    const values = weights.get(name);
    if (!values) throw new Error(`Cannot build the classifier: weight "${name}" is missing`);
    // No explicit name: tfjs names must be unique per process. The initial tensor is released,
    // or each model would leave one tensor per weight behind after its dispose().
    const initial = tf.tensor(values, [...shape]);
    // Moving statistics are updated by training steps, not by gradients.
    variables.set(name, tf.variable(initial, !/\/bn\/(mean|variance)$/.test(name)));
    initial.dispose();
  }
  const v = (name: string) => variables.get(name)!;
  const boundaries = [INPUT, ...spec.blocks.map((b) => b.name)];
  const last = spec.blocks[spec.blocks.length - 1]!;
  const numClasses = last.kind === "dense" ? last.units : 0;
  const shapes = boundaryShapes(spec);
  // Convolution + batch normalisation (+ ReLU). In training, the batch's own moments and the
  // moving-average updates; otherwise the statistics folded in: one fused convolution.
  const convBn = (
    name: string,
    x: tfType.Tensor4D,
    stride: number,
    activation: "relu" | "linear",
    updates: Array<StatisticUpdate> | undefined,
  ): tfType.Tensor4D => {
    const kernel = v(`${name}/kernel`) as tfType.Tensor4D;
    const gamma = v(`${name}/bn/gamma`) as tfType.Tensor1D;
    const beta = v(`${name}/bn/beta`) as tfType.Tensor1D;
    if (updates === undefined) {
      const scale = tf.mul(gamma, tf.rsqrt(tf.add(v(`${name}/bn/variance`), BN_EPSILON)));
      return tf.fused.conv2d({
        x,
        filter: tf.mul(kernel, scale) as tfType.Tensor4D,
        strides: stride,
        pad: "same",
        bias: tf.sub(beta, tf.mul(v(`${name}/bn/mean`), scale)),
        activation,
      });
    }
    const y = tf.conv2d(x, kernel, stride, "same");
    const { output, mean, variance } = batchNormTraining(tf, y, gamma, beta);
    for (const [stat, batchValue] of [["mean", mean], ["variance", variance]] as const) {
      const variable = variables.get(`${name}/bn/${stat}`)!;
      const value = tf.add(tf.mul(variable, BN_MOMENTUM), tf.mul(batchValue, 1 - BN_MOMENTUM));
      updates.push({ variable, value: tf.keep(value) });
    }
    return activation === "relu" ? tf.relu(output) : output;
  };
  const runBlock = (block: BlockSpec, x: tfType.Tensor, updates?: Array<StatisticUpdate>) => {
    switch (block.kind) {
      case "conv":
        return convBn(block.name, x as tfType.Tensor4D, block.stride, "relu", updates);
      case "residual": {
        const x4 = x as tfType.Tensor4D;
        const hidden = convBn(`${block.name}/conv1`, x4, block.stride, "relu", updates);
        const branch = convBn(`${block.name}/conv2`, hidden, 1, "linear", updates);
        const shortcut = variables.has(`${block.name}/shortcut/kernel`)
          ? convBn(`${block.name}/shortcut`, x4, block.stride, "linear", updates)
          : x4;
        return tf.relu(tf.add(branch, shortcut));
      }
      case "globalAvgPool":
        return tf.mean(x, [1, 2]);
      case "dense":
        return tf.add(
          tf.matMul(x as tfType.Tensor2D, v(`${block.name}/kernel`) as tfType.Tensor2D),
          v(`${block.name}/bias`),
        );
    }
  };
  const indexOf = (boundary: string): number => {
    const i = boundaries.indexOf(boundary);
    if (i < 0) throw new UnknownBoundary({ boundary, known: boundaries });
    return i;
  };
  const forward = (x: tfType.Tensor, range: ForwardRange = {}): tfType.Tensor => {
    const from = indexOf(range.from ?? INPUT);
    const to = indexOf(range.to ?? boundaries[boundaries.length - 1]!);
    if (to < from) {
      throw new UnknownBoundary({ boundary: `${range.from} → ${range.to}`, known: boundaries });
    }
    let out = x;
    for (let i = from; i < to; i++) out = runBlock(spec.blocks[i]!, out);
    return out;
  };
  const forwardTraining = (x: tfType.Tensor) => {
    const updates: Array<StatisticUpdate> = [];
    let out = x;
    for (const block of spec.blocks) out = runBlock(block, out, updates);
    return { logits: out, updates };
  };
  const shapeAt = (boundary: string) => {
    const shape = shapes.get(boundary);
    if (shape === undefined) throw new UnknownBoundary({ boundary, known: boundaries });
    return shape;
  };
  const dispose = () => variables.forEach((variable) => variable.dispose());
  return { spec, numClasses, boundaries, variables, forward, forwardTraining, shapeAt, dispose };
}

/**
 * What {@link toInput} does to pixels, part of every model's cache key (so a change can never
 * serve features computed the old way). Keep it in step with `toInput`.
 */
export const INPUT_PREPROCESSING = {
  from: "uint8 NHWC",
  to: "float32 NHWC",
  scale: "x / 255",
} as const;

/** Turn uint8 28×28 pixels into a float32 NHWC batch in [0, 1]. */
export function toInput(
  tf: Tf,
  pixels: Uint8Array,
  count: number,
  shape: ClassifierSpec["inputShape"],
): tfType.Tensor4D {
  return tf.tidy(() => tf.div(tf.tensor4d(pixels, [count, ...shape], "float32"), 255));
}
