/**
 * ODIN (Liang, Li & Srikant, "Enhancing The Reliability of Out-of-distribution Image Detection
 * in Neural Networks", ICLR 2018): temperature scaling plus a small input perturbation that
 * raises the softmax score, which raises it more for ID than for OOD inputs.
 *
 *   x̃ = x − ε · sign(−∇ₓ log S_ŷ(x; T)),   S(x; T) = softmax(f(x)/T),  ŷ = argmax f(x)
 *   score(x) = −maxⱼ S(x̃; T)ⱼ   (negated: higher = more OOD)
 *
 * Defaults and choices:
 * - **T = 1000**, the paper's choice for all its CIFAR/ImageNet experiments (§4 and its
 *   Fig. 4: T = 1000 is best or near best everywhere) and OpenOOD v1.5's default.
 * - **ε tuned on validation data** from {@link ODIN_EPSILON_GRID} = [0, 0.0005, 0.001, 0.0014,
 *   0.002, 0.005] (the paper tunes ε on held-out OOD data over 21 values in [0, 0.004];
 *   0.0014 is the value OpenOOD v1.5 and the paper's released code use; 0.005 covers larger
 *   steps on our [0, 1] inputs). Pass `epsilon` to fix it instead.
 * - sign(0) = +1, as the reference code (`torch.ge(grad, 0)` mapped to ±1) and OpenOOD do.
 * - **No clipping** of x̃ to [0, 1] by default: the reference code and OpenOOD perturb the
 *   (normalised) input tensor without clamping; ε ≤ 0.005 moves a pixel at most 0.005 out of
 *   range. `clipToInputRange: true` clamps instead.
 * - Our inputs are x = pixels / 255 with no per-channel normalisation, so, unlike the
 *   reference code, the gradient is not divided by a normalisation std.
 * - ε = 0 needs no network pass: the extracted logits are already f(x), so the score is
 *   temperature-scaled MSP.
 *
 * The input gradient needs the network: a batched `tf.grad` of Σᵢ −log S_ŷᵢ(xᵢ; T) through
 * `net.forward` (the images of a batch do not interact, so the gradient of the sum holds each
 * image's own gradient). The gradient signs of a set do not depend on ε, so tuning computes
 * them once per validation set and reuses them for every ε of the grid.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { Effect } from "effect";
import { Compute } from "../compute/compute.ts";
import { batches, IMAGE_SIZE, type ImageSet } from "../data/images.ts";
import { type Classifier, toInput } from "../model/classifier.ts";
import { matrix } from "../matrix.ts";
import {
  type Detector,
  type ExtractedSet,
  type FittedDetector,
  modelKindOf,
  NeedsClassifier,
  type TunedParameter,
} from "./detector.ts";
import { requirePositiveTemperature, requireSetting, scoreChecked } from "./checks.ts";
import { rowMaxSoftmax } from "./logits.ts";
import { tuneParameter } from "./tune.ts";
import {
  defineDetector,
  Grid,
  NonNegativeNumber,
  PositiveInt,
  PositiveNumber,
  withDefault,
} from "./entry.ts";
import { Schema } from "effect";

/** The ε grid tuned over by default (see the module doc). */
export const ODIN_EPSILON_GRID: ReadonlyArray<number> = [0, 0.0005, 0.001, 0.0014, 0.002, 0.005];

/** Options of {@link odin}. */
export interface OdinOptions {
  /** Temperature T (default 1000). */
  readonly temperature?: number;
  /** A fixed ε; when given, nothing is tuned. */
  readonly epsilon?: number;
  /** Grid ε is tuned over when `epsilon` is not given (default {@link ODIN_EPSILON_GRID}). */
  readonly epsilonGrid?: ReadonlyArray<number>;
  /** Clamp x̃ to [0, 1] (default false, as the reference code). */
  readonly clipToInputRange?: boolean;
  /** Images per gradient/forward batch (default 128). */
  readonly batchSize?: number;
}

/** The ODIN settings every pass needs. */
export interface OdinPass {
  readonly temperature: number;
  readonly batchSize: number;
  readonly clipToInputRange: boolean;
}

/**
 * sign(−∇ₓ log S_ŷ(x; T)) = sign(∇ₓ CE(f(x)/T, ŷ)) for every pixel of every image, as ±1
 * (sign(0) = +1), `count × 784` values. The perturbation is x̃ = x − ε·sign.
 */
export const odinGradientSigns = (
  net: Classifier,
  images: ImageSet,
  pass: OdinPass,
  onBatch?: (done: number, total: number) => void,
): Effect.Effect<Int8Array, never, Compute> =>
  Effect.gen(function* () {
    const { tf } = yield* Compute;
    const signs = new Int8Array(images.count * IMAGE_SIZE);
    for (const batch of batches(images, pass.batchSize)) {
      const batchSigns = tf.tidy(() => {
        const x = toInput(tf, batch.pixels, batch.size, net.spec.inputShape);
        const predicted = tf.argMax(net.forward(x), 1);
        const target = tf.oneHot(predicted, net.numClasses);
        // Σᵢ CE(f(xᵢ)/T, ŷᵢ): each image's gradient is its own (no batch coupling).
        const crossEntropy = (input: tfType.Tensor) =>
          tf.neg(
            tf.sum(
              tf.mul(target, tf.logSoftmax(tf.div(net.forward(input), pass.temperature))),
            ),
          ) as tfType.Scalar;
        const gradient = tf.grad(crossEntropy)(x);
        return tf.where(
          tf.greaterEqual(gradient, 0),
          tf.onesLike(gradient),
          tf.neg(tf.onesLike(gradient)),
        ).dataSync() as Float32Array;
      });
      signs.set(Int8Array.from(batchSigns), batch.start * IMAGE_SIZE);
      onBatch?.(batch.start + batch.size, images.count);
      yield* Effect.yieldNow;
    }
    return signs;
  });

/** ODIN scores −max softmax(f(x − ε·sign)/T) of every image, given the gradient signs. */
export const odinPerturbedScores = (
  net: Classifier,
  images: ImageSet,
  signs: Int8Array,
  epsilon: number,
  pass: OdinPass,
): Effect.Effect<Float64Array, never, Compute> =>
  Effect.gen(function* () {
    const { tf } = yield* Compute;
    const logits = new Float32Array(images.count * net.numClasses);
    for (const batch of batches(images, pass.batchSize)) {
      const batchLogits = tf.tidy(() => {
        const x = toInput(tf, batch.pixels, batch.size, net.spec.inputShape);
        // tfjs takes no Int8Array: widen the batch's ±1 signs to float32.
        const sign = tf.tensor(
          Float32Array.from(
            signs.subarray(batch.start * IMAGE_SIZE, (batch.start + batch.size) * IMAGE_SIZE),
          ),
          x.shape,
        );
        const moved = tf.sub(x, tf.mul(sign, epsilon));
        const perturbed = pass.clipToInputRange ? tf.clipByValue(moved, 0, 1) : moved;
        return net.forward(perturbed).dataSync() as Float32Array;
      });
      logits.set(batchLogits, batch.start * net.numClasses);
      yield* Effect.yieldNow;
    }
    const probabilities = rowMaxSoftmax(
      matrix(images.count, net.numClasses, logits),
      pass.temperature,
    );
    return Float64Array.from(probabilities, (p) => -p);
  });

/** The ODIN detector (temperature T = 1000, ε tuned on validation data by default). */
export function odin(options: OdinOptions = {}): Detector {
  const name = "ODIN";
  const temperature = options.temperature ?? 1000;
  const grid = options.epsilonGrid ?? ODIN_EPSILON_GRID;
  const pass: OdinPass = {
    temperature,
    batchSize: options.batchSize ?? 128,
    clipToInputRange: options.clipToInputRange ?? false,
  };
  return {
    name,
    description: `ODIN: temperature T = ${temperature} and input perturbation ε ` +
      `(${
        options.epsilon === undefined ? "tuned on validation" : `= ${options.epsilon}`
      }), score −max softmax(f(x̃)/T) (Liang et al., ICLR 2018)`,
    fit: (inputs) =>
      Effect.gen(function* () {
        // Read once at fit: the fitted detector's scores run with the same tfjs.
        const compute = yield* Compute;
        if (inputs.net === undefined) {
          return yield* new NeedsClassifier({
            detector: name,
            need: "the network's input gradient (its perturbation step)",
            modelKind: modelKindOf(inputs),
          });
        }
        const net = inputs.net;
        yield* requirePositiveTemperature(name, temperature);
        yield* requireSetting(
          Number.isInteger(pass.batchSize) && pass.batchSize > 0,
          name,
          "batchSize",
          pass.batchSize,
          "a positive integer",
        );
        const epsilons = options.epsilon === undefined ? grid : [options.epsilon];
        yield* requireSetting(
          epsilons.every((e) => Number.isFinite(e) && e >= 0),
          name,
          options.epsilon === undefined ? "epsilonGrid" : "epsilon",
          options.epsilon ?? grid,
          "finite non-negative values",
        );
        const classes = net.numClasses;

        // Gradient signs per set, kept only while tuning (they do not depend on ε).
        const signCache = new Map<ExtractedSet, Int8Array>();
        const signsOf = (set: ExtractedSet) =>
          Effect.gen(function* () {
            const cached = signCache.get(set);
            if (cached !== undefined) return cached;
            const signs = yield* odinGradientSigns(
              net,
              set.images,
              pass,
              (done, total) =>
                inputs.progress?.(`${name}: input gradients of "${set.images.name}"`, done, total),
            ).pipe(Effect.provideService(Compute, compute));
            return signs;
          });
        const scoreAt = (epsilon: number, set: ExtractedSet, keepSigns: boolean) =>
          scoreChecked(
            name,
            set,
            { classes, images: true },
            () =>
              epsilon === 0
                ? Effect.succeed(
                  Float64Array.from(rowMaxSoftmax(set.features.logits, temperature), (p) => -p),
                )
                : Effect.gen(function* () {
                  const signs = yield* signsOf(set);
                  if (keepSigns) signCache.set(set, signs);
                  return yield* odinPerturbedScores(net, set.images, signs, epsilon, pass).pipe(
                    Effect.provideService(Compute, compute),
                  );
                }),
          );

        let epsilon = epsilons[0]!;
        const tuned: Array<TunedParameter> = [];
        if (options.epsilon === undefined) {
          const choice = yield* tuneParameter({
            detector: name,
            parameter: "epsilon",
            grid,
            validation: inputs.validation,
            candidate: (value) =>
              Effect.succeed({ score: (set: ExtractedSet) => scoreAt(value, set, true) }),
            ...(inputs.progress === undefined ? {} : { progress: inputs.progress }),
          }).pipe(Effect.ensuring(Effect.sync(() => signCache.clear())));
          epsilon = choice.chosen;
          tuned.push(choice);
        }
        const fitted: FittedDetector = {
          score: (set) => scoreAt(epsilon, set, false),
          settings: {
            temperature,
            epsilon,
            clipToInputRange: pass.clipToInputRange,
            signOfZeroGradient: 1,
          },
          tuned,
          dispose: () => signCache.clear(),
        };
        return fitted;
      }),
  };
}

/** Registration of {@link odin}. */
export const odinEntry = defineDetector({
  kind: "odin",
  title: "ODIN",
  family: "baseline",
  source: "Liang et al., ICLR 2018; OpenOOD `odin`",
  reproduce: true,
  scoresImages: "its score perturbs every image along the network's input gradient and runs " +
    "the network again on the perturbed image",
  options: Schema.Struct({
    temperature: withDefault(PositiveNumber, 1000),
    epsilon: Schema.optionalKey(NonNegativeNumber),
    epsilonGrid: withDefault(
      Grid(NonNegativeNumber),
      [...ODIN_EPSILON_GRID] as [number, ...number[]],
    ),
    clipToInputRange: withDefault(Schema.Boolean, false),
    batchSize: withDefault(PositiveInt, 128),
  }),
  make: (options, name) => ({ ...odin(options), name }),
});
