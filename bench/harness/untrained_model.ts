/**
 * An untrained classifier (the default architecture with seeded initial weights) saved as a real
 * model folder: the quick benchmark run's model, and the tests' when they must not depend on
 * the committed fixtures.
 *
 * @module
 */
import type * as tfType from "@tensorflow/tfjs";
import { Effect } from "effect";
import {
  type ClassifierMetadata,
  defaultSpec,
  initialWeights,
  makeClassifier,
  saveClassifier,
} from "../../lib/model/mod.ts";
import type { IoError, OutputFolderRefused } from "../../lib/io/mod.ts";

/** Save an untrained classifier of `numClasses` classes, initialised with `seed`, to `dir`. */
export const saveUntrainedClassifier = (
  tf: typeof tfType,
  dir: string,
  seed = 0,
  numClasses = 10,
): Effect.Effect<ClassifierMetadata, IoError | OutputFolderRefused> => {
  const spec = defaultSpec(numClasses);
  const net = makeClassifier(tf, spec, initialWeights(spec, seed));
  return saveClassifier(net, dir, {
    dataset: "untrained",
    seed,
    epochs: 0,
    batchSize: 0,
    learningRate: 0,
    testAccuracy: 0,
    blocks: spec.blocks.map((b) => b.name),
    featureSizes: {},
    backend: tf.getBackend(),
    tfjsVersion: tf.version.tfjs,
    trainingSeconds: 0,
    createdAt: new Date(0).toISOString(),
  }).pipe(Effect.ensuring(Effect.sync(() => net.dispose())));
};
