import assert from "node:assert/strict";
import type * as tfType from "@tensorflow/tfjs";
import { Effect } from "effect";
import { startCompute } from "../lib/compute/compute.ts";
import {
  batchNormTraining,
  boundaryShapes,
  defaultSpec,
  initialWeights,
  makeClassifier,
  UnknownBoundary,
} from "../lib/model/classifier.ts";
import { mulberry32 } from "../lib/random.ts";

const { tf } = await Effect.runPromise(startCompute("wasm"));

const randomTensor = (shape: Array<number>, seed: number) => {
  const random = mulberry32(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => random() * 4 - 1), shape);
};

Deno.test("batchNormTraining() has the gradients of the plain batch-norm formula", () => {
  tf.tidy(() => {
    const x = randomTensor([3, 4, 5, 6], 1) as tfType.Tensor4D;
    const gamma = randomTensor([6], 2) as tfType.Tensor1D;
    const beta = randomTensor([6], 3) as tfType.Tensor1D;
    const weights = randomTensor([3, 4, 5, 6], 4);
    const ours = tf.grads((a, g, b) =>
      tf.sum(tf.mul(
        batchNormTraining(tf, a as tfType.Tensor4D, g as tfType.Tensor1D, b as tfType.Tensor1D)
          .output,
        weights,
      ))
    )([x, gamma, beta]);
    const plain = tf.grads((a, g, b) => {
      const { mean, variance } = tf.moments(a, [0, 1, 2]);
      const y = tf.add(tf.mul(tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, 1e-3))), g), b);
      return tf.sum(tf.mul(y, weights));
    })([x, gamma, beta]);
    ours.forEach((grad, i) => {
      const a = grad.dataSync();
      const b = plain[i]!.dataSync();
      const scale = Math.max(...Array.from(b, Math.abs));
      const diff = Math.max(...Array.from(a, (v, j) => Math.abs(v - b[j]!)));
      assert.ok(diff / scale < 1e-4, `gradient ${i}: relative error ${diff / scale}`);
    });
  });
});

Deno.test("forward() from a boundary continues exactly where forward() to it stopped", () => {
  const spec = defaultSpec(10);
  const net = makeClassifier(tf, spec, initialWeights(spec, 0));
  tf.tidy(() => {
    const x = randomTensor([2, 28, 28, 1], 5);
    const whole = net.forward(x).dataSync();
    const early = net.forward(x, { to: "block1" });
    assert.deepEqual(early.shape, [2, 14, 14, 32]);
    const rest = net.forward(early, { from: "block1" }).dataSync();
    assert.deepEqual(Array.from(rest), Array.from(whole));
    assert.deepEqual(net.forward(x, { to: "pool" }).shape, [2, 64]);
  });
  net.dispose();
});

Deno.test("forward() names the known boundaries when given an unknown one", () => {
  const spec = defaultSpec(10);
  const net = makeClassifier(tf, spec, initialWeights(spec, 0));
  assert.throws(
    () => tf.tidy(() => net.forward(tf.zeros([1, 28, 28, 1]), { to: "block9" })),
    (error: unknown) =>
      error instanceof UnknownBoundary && /block9.*input, stem, block1/.test(error.message),
  );
  net.dispose();
});

Deno.test("boundaryShapes() gives every block's output shape", () => {
  const shapes = boundaryShapes(defaultSpec(10));
  assert.deepEqual(shapes.get("block1"), [14, 14, 32]);
  assert.deepEqual(shapes.get("pool"), [64]);
  assert.deepEqual(shapes.get("head"), [10]);
});

Deno.test("initialWeights() is a function of the seed", () => {
  const spec = defaultSpec(10);
  const a = initialWeights(spec, 1).get("stem/kernel")!;
  const b = initialWeights(spec, 1).get("stem/kernel")!;
  const c = initialWeights(spec, 2).get("stem/kernel")!;
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

Deno.test("forward() folds batch normalisation into the convolution exactly", () => {
  const spec = defaultSpec(10);
  const weights = initialWeights(spec, 4);
  const random = mulberry32(9);
  for (const stat of ["gamma", "beta", "mean", "variance"]) {
    weights.set(`stem/bn/${stat}`, Float32Array.from({ length: 16 }, () => 0.5 + random()));
  }
  const net = makeClassifier(tf, spec, weights);
  tf.tidy(() => {
    const x = randomTensor([3, 28, 28, 1], 6) as tfType.Tensor4D;
    const folded = net.forward(x, { to: "stem" }).dataSync();
    const bn = (stat: string) => tf.tensor1d(weights.get(`stem/bn/${stat}`)!);
    const plain = tf.relu(
      tf.batchNorm4d(
        tf.conv2d(x, tf.tensor4d(weights.get("stem/kernel")!, [3, 3, 1, 16]), 1, "same"),
        bn("mean"),
        bn("variance"),
        bn("beta"),
        bn("gamma"),
        1e-3,
      ),
    ).dataSync();
    const diff = Math.max(...Array.from(folded, (v, i) => Math.abs(v - plain[i]!)));
    assert.ok(diff < 1e-5, `max difference ${diff}`);
  });
  net.dispose();
});
