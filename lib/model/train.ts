/**
 * Train a classifier: seeded initialisation and shuffling, Adam with a cosine learning-rate
 * decay, softmax cross-entropy. Same seed + same data + same backend = same weights.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { Effect, Exit } from "effect";
import { IMAGE_SIZE, type LabelledSet } from "../data/images.ts";
import { InvalidParameter } from "../errors.ts";
import { permutation } from "../random.ts";
import { applyUpdates, type StatisticUpdate } from "./batch_norm.ts";
import {
  type Classifier,
  type ClassifierSpec,
  defaultSpec,
  initialWeights,
  makeClassifier,
  type Tf,
  toInput,
} from "./classifier.ts";

/** Training settings (all recorded in the model's metadata). */
export interface TrainOptions {
  /** Seed of the initialisation and the shuffling. */
  readonly seed: number;
  /** Passes over the training set. */
  readonly epochs: number;
  /** Images per training batch. */
  readonly batchSize: number;
  /** Adam's initial learning rate (decayed by a cosine schedule). */
  readonly learningRate: number;
  /** The architecture (default `defaultSpec` for the training set's classes). */
  readonly spec?: ClassifierSpec;
}

/** A progress report, every `reportEvery` steps and at each epoch's end. */
export interface TrainProgress {
  /** The current epoch (1-based). */
  readonly epoch: number;
  /** Total epochs. */
  readonly epochs: number;
  /** Steps done so far in this epoch, of `stepsPerEpoch`. */
  readonly step: number;
  /** Steps per epoch. */
  readonly stepsPerEpoch: number;
  /** Mean cross-entropy loss over the epoch so far. */
  readonly loss: number;
  /** Training accuracy over the epoch so far, in [0, 1]. */
  readonly accuracy: number;
  /** Images per second over the epoch so far. */
  readonly imagesPerSecond: number;
}

/**
 * Train a new classifier on `train`. The caller owns (and disposes) the result.
 * `onProgress` is called with running means over the current epoch.
 */
export const trainClassifier: (
  tf: Tf,
  train: LabelledSet,
  options: TrainOptions,
  onProgress?: (progress: TrainProgress) => void,
  reportEvery?: number,
) => Effect.Effect<Classifier, InvalidParameter> = Effect.fn("trainClassifier")(function* (
  tf: Tf,
  train: LabelledSet,
  options: TrainOptions,
  onProgress: (progress: TrainProgress) => void = () => {},
  reportEvery = 50,
) {
  for (const [name, min] of [["seed", 0], ["epochs", 1], ["batchSize", 1]] as const) {
    const value = options[name];
    if (!Number.isInteger(value) || value < min) {
      return yield* new InvalidParameter({ name, value, expected: `a whole number ≥ ${min}` });
    }
  }
  const { learningRate: value } = options;
  if (!(Number.isFinite(value) && value > 0)) {
    const expected = "a finite number > 0";
    return yield* new InvalidParameter({ name: "learningRate", value, expected });
  }
  const spec = options.spec ?? defaultSpec(train.classNames.length);
  const net: Classifier = makeClassifier(tf, spec, initialWeights(spec, options.seed));
  const stepsPerEpoch = Math.ceil(train.count / options.batchSize);
  const totalSteps = stepsPerEpoch * options.epochs;
  const optimizer = tf.train.adam(options.learningRate);
  const batchPixels = new Uint8Array(options.batchSize * IMAGE_SIZE);
  const batchLabels = new Int32Array(options.batchSize);
  let globalStep = 0;
  // Released by Effect (not try/finally, which a failing or interrupted yield* skips): the
  // optimizer always, the network when training does not finish.
  yield* Effect.gen(function* () {
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      const order = permutation(train.count, options.seed * 1000 + epoch);
      let [lossSum, correct, seen] = [0, 0, 0];
      const started = performance.now();
      for (let step = 0; step < stepsPerEpoch; step++) {
        const start = step * options.batchSize;
        const size = Math.min(options.batchSize, train.count - start);
        for (let i = 0; i < size; i++) {
          const j = order[start + i]!;
          batchPixels.set(
            train.pixels.subarray(j * IMAGE_SIZE, (j + 1) * IMAGE_SIZE),
            i * IMAGE_SIZE,
          );
          batchLabels[i] = train.labels[j]!;
        }
        // Cosine decay to zero over the whole run (tfjs reads this protected field every step).
        const rate = options.learningRate * 0.5 * (1 + Math.cos(Math.PI * globalStep / totalSteps));
        (optimizer as unknown as { learningRate: number }).learningRate = rate;
        const [lossValue, hits] = tf.tidy(() => {
          const x = toInput(tf, batchPixels.subarray(0, size * IMAGE_SIZE), size, spec.inputShape);
          const labels = tf.tensor1d(batchLabels.subarray(0, size), "int32");
          const y = tf.oneHot(labels, net.numClasses);
          let logits: tfType.Tensor | undefined;
          let updates: ReadonlyArray<StatisticUpdate> = [];
          const loss = optimizer.minimize(() => {
            const out = net.forwardTraining(x);
            // Kept past minimize's own scope for the accuracy below; disposed after it.
            logits = tf.keep(out.logits);
            updates = out.updates;
            return tf.losses.softmaxCrossEntropy(y, out.logits) as tfType.Scalar;
          }, true)!;
          applyUpdates(updates);
          const hit = tf.sum(tf.cast(tf.equal(tf.argMax(logits!, 1), labels), "int32"));
          const result: [number, number] = [loss.dataSync()[0]!, hit.dataSync()[0]!];
          logits!.dispose();
          return result;
        });
        lossSum += lossValue * size;
        correct += hits;
        seen += size;
        globalStep++;
        if ((step + 1) % reportEvery === 0 || step === stepsPerEpoch - 1) {
          onProgress({
            epoch,
            epochs: options.epochs,
            step: step + 1,
            stepsPerEpoch,
            loss: lossSum / seen,
            accuracy: correct / seen,
            imagesPerSecond: seen / ((performance.now() - started) / 1000),
          });
        }
        yield* Effect.yieldNow;
      }
    }
  }).pipe(
    Effect.onExit((exit) => Exit.isFailure(exit) ? Effect.sync(() => net.dispose()) : Effect.void),
    Effect.ensuring(Effect.sync(() => optimizer.dispose())),
  );
  return net;
});
