/**
 * `deno task train --dataset mnist --seed 0 [--epochs N] [--out DIR]`: train a classifier
 * deterministically, report progress, evaluate it on the test split and save it with its
 * metadata (the committed fixtures under `fixtures/models/` were made with this task).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Effect } from "effect";
import { Compute } from "../lib/compute/compute.ts";
import { loadSplit } from "../lib/data/datasets.ts";
import { boundaryShapes } from "../lib/model/classifier.ts";
import { accuracy, predictClasses } from "../lib/model/predict.ts";
import { saveClassifier } from "../lib/model/store.ts";
import { trainClassifier } from "../lib/model/train.ts";
import { formatSeconds, runTask } from "../lib/cli.ts";

/** Default epochs per dataset: enough for the accuracy targets (MNIST ≥ 99%, FMNIST ≥ 91%). */
export const DEFAULT_EPOCHS: Readonly<Record<string, number>> = { "mnist": 3, "fashion-mnist": 6 };

const { values } = parseArgs({
  options: {
    dataset: { type: "string", default: "mnist" },
    seed: { type: "string", default: "0" },
    epochs: { type: "string" },
    "batch-size": { type: "string", default: "128" },
    lr: { type: "string", default: "0.002" },
    out: { type: "string" },
    backend: { type: "string" },
  },
});

const dataset = values.dataset;
const seed = Number(values.seed);
const epochs = Number(values.epochs ?? DEFAULT_EPOCHS[dataset] ?? 5);
const batchSize = Number(values["batch-size"]);
const learningRate = Number(values.lr);
const out = values.out ?? `fixtures/models/${dataset}`;

const program = Effect.gen(function* () {
  const { tf, backend } = yield* Compute;
  const train = yield* loadSplit(dataset, "train");
  const test = yield* loadSplit(dataset, "test");
  console.log(
    `training on ${dataset} (${train.count} images), seed ${seed}, ${epochs} epochs, ` +
      `batch ${batchSize}, lr ${learningRate}, backend ${backend}`,
  );
  const started = performance.now();
  const net = yield* trainClassifier(
    tf,
    train,
    { seed, epochs, batchSize, learningRate },
    (p) =>
      console.log(
        `epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} ` +
          `loss ${p.loss.toFixed(4)} acc ${(100 * p.accuracy).toFixed(2)}% ` +
          `${p.imagesPerSecond.toFixed(0)} img/s`,
      ),
  );
  const trainingSeconds = (performance.now() - started) / 1000;
  const testAccuracy = accuracy(predictClasses(tf, net, test), test.labels);
  console.log(
    `test accuracy ${(100 * testAccuracy).toFixed(2)}% after ${formatSeconds(trainingSeconds)}`,
  );
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
  console.log(`saved ${out} (weights sha256 ${metadata.weightsSha256.slice(0, 16)}…)`);
});

if (import.meta.main) await runTask(program, values.backend);
