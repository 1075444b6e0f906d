/**
 * Train a classifier on an ID dataset, evaluate it on the test split and save it with its
 * metadata: how the committed fixtures under `fixtures/models/` were made (`deno task train`,
 * or `deno task reproduce --retrain`).
 *
 * @module
 */
import { Effect } from "effect";
import { Compute, type InvalidParameter, lineLogger } from "../../mod.ts";
import { loadSplit, type LoadSplitError } from "../../lib/data/mod.ts";
import {
  boundaryShapes,
  checkModelFolder,
  type ClassifierMetadata,
  saveClassifier,
  trainClassifier,
  type TrainProgress,
} from "../../lib/model/mod.ts";
import {
  groodFeatureModel,
  type ModelError,
  type NonFiniteOutput,
  predictClasses,
} from "../../lib/models/mod.ts";
import { accuracy, type EmptyScores, type LengthMismatch } from "../../lib/stages/mod.ts";
import type { OutputFolderRefused } from "../../lib/io/mod.ts";

/** Epochs per dataset: enough for MNIST ≥ 99% and Fashion-MNIST ≥ 91% test accuracy. */
export const DEFAULT_EPOCHS: Readonly<Record<string, number>> = {
  "mnist": 3,
  "fashion-mnist": 6,
};

/** Training settings of a fixture (defaults: seed 0, batch 128, Adam 0.002, cosine decay). */
export interface FixtureOptions {
  /** The ID dataset to train on (`mnist`, `fashion-mnist`). */
  readonly dataset: string;
  /** Seed of the initialisation and the shuffling (default 0). */
  readonly seed?: number;
  /** Training epochs (default `DEFAULT_EPOCHS` of the dataset, else 5). */
  readonly epochs?: number;
  /** Images per training batch (default 128). */
  readonly batchSize?: number;
  /** Adam's initial learning rate (default 0.002, decayed by a cosine schedule). */
  readonly learningRate?: number;
  /** Output folder (`fixtureDir(dataset)` to replace a committed fixture: never a default). */
  readonly out: string;
}

/**
 * Why a fixture cannot be trained: its dataset (`LoadSplitError`), a bad setting, an empty or
 * mismatched evaluation, a trained network that gives non-finite logits, or an output folder
 * grood may not write.
 */
export type TrainFixtureError =
  | LoadSplitError
  | InvalidParameter
  | EmptyScores
  | LengthMismatch
  | OutputFolderRefused
  | ModelError
  | NonFiniteOutput;

/** Train, evaluate on the test split, save; returns the saved metadata. */
export const trainFixture: (
  options: FixtureOptions,
) => Effect.Effect<ClassifierMetadata, TrainFixtureError, Compute> = Effect.fn(
  "trainFixture",
)(function* (options: FixtureOptions) {
  const { tf, backend } = yield* Compute;
  const log = yield* lineLogger;
  const dataset = options.dataset;
  const seed = options.seed ?? 0;
  const epochs = options.epochs ?? DEFAULT_EPOCHS[dataset] ?? 5;
  const batchSize = options.batchSize ?? 128;
  const learningRate = options.learningRate ?? 0.002;
  const out = options.out;
  // A model is saved only into a folder that is new, empty, or a model grood saved and nothing
  // else (its files are replaced one by one): checked before training, and again by the save.
  yield* checkModelFolder(out);
  const train = yield* loadSplit(dataset, "train");
  const test = yield* loadSplit(dataset, "test");
  log(
    `training on ${dataset} (${train.count} images), seed ${seed}, ${epochs} epochs, ` +
      `batch ${batchSize}, lr ${learningRate}, backend ${backend}`,
  );
  const started = performance.now();
  const net = yield* trainClassifier(
    tf,
    train,
    { seed, epochs, batchSize, learningRate },
    (p: TrainProgress) =>
      log(
        `epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} ` +
          `loss ${p.loss.toFixed(4)} acc ${(100 * p.accuracy).toFixed(2)}% ` +
          `${p.imagesPerSecond.toFixed(0)} img/s`,
      ),
  );
  const trainingSeconds = (performance.now() - started) / 1000;
  const predicted = yield* predictClasses(yield* groodFeatureModel(tf, net, out), test);
  const testAccuracy = yield* accuracy(predicted, test.labels);
  log(`test accuracy ${(100 * testAccuracy).toFixed(2)}% after ${trainingSeconds.toFixed(0)}s`);
  const shapes = boundaryShapes(net.spec);
  const metadata = yield* saveClassifier(net, out, {
    dataset,
    seed,
    epochs,
    batchSize,
    learningRate,
    testAccuracy,
    blocks: net.spec.blocks.map((b) => b.name),
    featureSizes: Object.fromEntries(
      [...shapes].map(([name, shape]) => [name, shape.reduce((a, b) => a * b, 1)]),
    ),
    backend,
    tfjsVersion: tf.version.tfjs,
    trainingSeconds: Math.round(trainingSeconds),
    createdAt: new Date().toISOString(),
  });
  net.dispose();
  log(`saved ${out} (weights sha256 ${metadata.weightsSha256.slice(0, 16)}…)`);
  return metadata;
});
