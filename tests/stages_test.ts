import assert from "node:assert/strict";
import type * as tfType from "@tensorflow/tfjs";
import { Effect } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import { subset } from "../lib/data/images.ts";
import { matrix, row } from "../lib/matrix.ts";
import { defaultSpec, initialWeights, makeClassifier, toInput } from "../lib/model/classifier.ts";
import { extractFeatures, predictedClasses } from "../lib/stages/features.ts";
import {
  InvalidParameter,
  meanPenultimate,
  mixupWithModel,
  secondLargest,
  smoothedNoiseImages,
} from "../lib/stages/mixup.ts";
import { computePrototypes, EmptyClass } from "../lib/stages/prototype.ts";
import { groodFeatureModel } from "../lib/models/grood_cnn.ts";
import { runPromise, tf } from "./with_compute.ts";

const spec = defaultSpec(10);
const net = makeClassifier(tf, spec, initialWeights(spec, 7));
const test = await runPromise(loadSplit("mnist", "test"));
const train = subset(test, Array.from({ length: 400 }, (_, i) => i), "mnist/tiny");
const model = await runPromise(groodFeatureModel(tf, net, "random net"));

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tolerance: number, what: string) => {
  for (let i = 0; i < a.length; i++) {
    assert.ok(
      Math.abs(a[i]! - b[i]!) <= tolerance * (1 + Math.abs(b[i]!)),
      `${what}[${i}]: ${a[i]} vs ${b[i]}`,
    );
  }
};

/** Run `f` and assert it leaves no tensor behind. */
async function noLeak<A>(what: string, f: () => Promise<A>): Promise<A> {
  const before = tf.memory().numTensors;
  const result = await f();
  assert.equal(tf.memory().numTensors, before, `${what} leaks tensors`);
  return result;
}

const { features, classSums } = await runPromise(
  extractFeatures(model, train, {
    classSumsAt: ["stem", "block1", "block2"],
    batchSize: 128,
  }),
);

Deno.test("extractFeatures() matches a direct forward pass and leaks nothing", async () => {
  await noLeak(
    "extractFeatures",
    () =>
      runPromise(
        extractFeatures(model, train, { classSumsAt: ["block1"], batchSize: 64 }),
      ),
  );
  const direct = tf.tidy(() => {
    const x = toInput(tf, train.pixels.subarray(0, 5 * 784), 5, spec.inputShape);
    return [net.forward(x, { to: "pool" }).dataSync(), net.forward(x).dataSync()];
  });
  close(features.penultimate.data.subarray(0, 5 * 64), direct[0]!, 1e-5, "penultimate");
  close(features.logits.data.subarray(0, 5 * 10), direct[1]!, 1e-5, "logits");
});

Deno.test("computePrototypes() gives per-class means at both layers", async () => {
  const prototypes = await runPromise(computePrototypes({ features, classSums }, "block1"));
  assert.equal(prototypes.early.rows, 10);
  assert.equal(prototypes.early.cols, 14 * 14 * 32);
  const label = 3;
  const members = Array.from(train.labels.entries()).filter(([, l]) => l === label).map(([i]) => i);
  assert.equal(prototypes.counts[label], members.length);
  const mean = new Float64Array(64);
  for (const i of members) {
    row(features.penultimate, i).forEach((v, j) => (mean[j]! += v / members.length));
  }
  close(row(prototypes.penultimate, label), mean, 1e-5, "penultimate prototype");
  // The early prototype equals the mean of the early features, computed here directly.
  const early = tf.tidy(() =>
    tf.mean(
      net.forward(
        toInput(tf, subset(train, members).pixels, members.length, spec.inputShape),
        { to: "block1" },
      ).reshape([members.length, -1]),
      0,
    ).dataSync()
  );
  close(row(prototypes.early, label), early, 1e-4, "early prototype");
});

Deno.test("computePrototypes() fails with EmptyClass when a class has no sample", async () => {
  const noNines = subset(
    train,
    Array.from(train.labels.entries()).filter(([, l]) => l !== 9).map(([i]) => i),
  );
  const extraction = await runPromise(
    extractFeatures(model, noNines, { classSumsAt: ["block1"] }),
  );
  const error = await runPromise(Effect.flip(computePrototypes(extraction, "block1")));
  assert.ok(error instanceof EmptyClass);
  assert.match(error.message, /class 9/);
  const missing = await runPromise(Effect.flip(computePrototypes(extraction, "block3")));
  assert.match(missing.message, /no class sums .* "block3"/);
});

Deno.test("secondLargest() picks the runner-up class", () => {
  assert.deepEqual(Array.from(secondLargest(matrix(3, 3, [1, 5, 3, 9, 2, 8, 0, 0, 1]))), [2, 2, 0]);
});

Deno.test("mixupWithModel() with λ = 1 is the mean penultimate feature of the samples", async () => {
  const prototypes = await runPromise(computePrototypes({ features, classSums }, "block1"));
  const ood = await noLeak("mixupWithModel", () =>
    runPromise(
      mixupWithModel(model, train, features, prototypes, {
        lambda: 1,
        samples: "all",
        seed: 0,
      }),
    ));
  const mean = new Float64Array(64);
  for (let i = 0; i < train.count; i++) {
    row(features.penultimate, i).forEach((v, j) => (mean[j]! += v / train.count));
  }
  close(ood, mean, 1e-5, "λ = 1");
});

Deno.test("mixupWithModel() with λ = 0 forwards the runner-up class's early prototype", async () => {
  const prototypes = await runPromise(computePrototypes({ features, classSums }, "block1"));
  const subsetSize = 50;
  const ood = await runPromise(
    mixupWithModel(model, train, features, prototypes, {
      lambda: 0,
      samples: subsetSize,
      seed: 3,
    }),
  );
  // Independent route: the chosen samples' runner-up classes, their prototypes forwarded.
  const { permutation } = await import("../lib/random.ts");
  const chosen = permutation(train.count, 3).subarray(0, subsetSize);
  const runnerUp = secondLargest(features.logits);
  const expected = tf.tidy(() => {
    const early = tf.tensor(prototypes.early.data, [10, 14, 14, 32]);
    const penultimate = net.forward(early, { from: "block1", to: "pool" }) as tfType.Tensor2D;
    const picked = tf.gather(penultimate, Array.from(chosen, (i) => runnerUp[i]!));
    return tf.mean(picked, 0).dataSync();
  });
  close(ood, expected, 1e-4, "λ = 0");
});

Deno.test("mixupWithModel() rejects λ outside [0, 1] and a zero sample count", async () => {
  const prototypes = await runPromise(computePrototypes({ features, classSums }, "block1"));
  for (const options of [{ lambda: 1.2, samples: 10 }, { lambda: 0.5, samples: 0 }]) {
    const error = await runPromise(
      Effect.flip(mixupWithModel(model, train, features, prototypes, { ...options, seed: 0 })),
    );
    assert.ok(error instanceof InvalidParameter, String(error));
  }
});

Deno.test("smoothedNoiseImages() is seeded, smooth, and scored without leaks", async () => {
  const a = smoothedNoiseImages(4, 1);
  const b = smoothedNoiseImages(4, 1);
  assert.deepEqual(a.pixels, b.pixels);
  assert.notDeepEqual(a.pixels, smoothedNoiseImages(4, 2).pixels);
  // Blurred: neighbouring pixels differ far less than independent uniform pixels would (~85).
  let step = 0;
  for (let i = 0; i < 27; i++) step += Math.abs(a.pixels[i]! - a.pixels[i + 1]!);
  assert.ok(step / 27 < 40, `mean neighbour difference ${step / 27}`);
  const mean = await noLeak(
    "meanPenultimate",
    () =>
      runPromise(Effect.flatMap(groodFeatureModel(tf, net, "net"), (m) => meanPenultimate(m, a))),
  );
  assert.equal(mean.length, 64);
  assert.ok(mean.every(Number.isFinite));
});

Deno.test("predictedClasses() is the argmax of the logits", () => {
  assert.deepEqual(Array.from(predictedClasses(matrix(2, 3, [0, 2, 1, 5, -1, 4]))), [1, 0]);
});
