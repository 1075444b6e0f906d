import assert from "node:assert/strict";
import type * as tfType from "@tensorflow/tfjs";
import { Effect } from "effect";
import { startCompute } from "../lib/compute/compute.ts";
import {
  applyUpdates,
  defaultSpec,
  initialWeights,
  makeClassifier,
  type StatisticUpdate,
  toInput,
} from "../lib/model/classifier.ts";
import { mulberry32 } from "../lib/random.ts";

const { tf } = await Effect.runPromise(startCompute("wasm"));

type Pad = "same" | "valid";

/** All variable gradients of a small CNN (conv with the given stride/pad → relu → conv → pool → dense). */
function cnnGradients(backend: string, stride: number, pad: Pad): Map<string, Float32Array> {
  tf.setBackend(backend);
  const random = mulberry32(stride * 10 + (pad === "same" ? 1 : 2));
  const values = (n: number, scale: number) =>
    Float32Array.from({ length: n }, () => (random() - 0.5) * scale);
  const result = new Map<string, Float32Array>();
  tf.tidy(() => {
    const x = tf.tensor4d(values(4 * 11 * 11 * 3, 2), [4, 11, 11, 3]);
    const labels = tf.oneHot(tf.tensor1d([0, 2, 1, 2], "int32"), 3);
    const vars = {
      k1: tf.variable(tf.tensor4d(values(3 * 3 * 3 * 5, 1), [3, 3, 3, 5])),
      b1: tf.variable(tf.tensor1d(values(5, 0.1))),
      k2: tf.variable(tf.tensor4d(values(3 * 3 * 5 * 4, 1), [3, 3, 5, 4])),
      k3: tf.variable(tf.tensor4d(values(1 * 1 * 3 * 4, 1), [1, 1, 3, 4])),
      w: tf.variable(tf.tensor2d(values(4 * 3, 1), [4, 3])),
    };
    const { grads } = tf.variableGrads(() => {
      const h = tf.relu(tf.add(tf.conv2d(x, vars.k1, stride, pad), vars.b1)) as tfType.Tensor4D;
      const h2 = tf.conv2d(h, vars.k2, stride, pad);
      const skip = tf.conv2d(x, vars.k3, stride * stride, pad);
      const pooled = tf.add(tf.mean(h2, [1, 2]), tf.mean(skip, [1, 2])) as tfType.Tensor2D;
      return tf.losses.softmaxCrossEntropy(labels, tf.matMul(pooled, vars.w)) as tfType.Scalar;
    }, Object.values(vars));
    for (const [name, variable] of Object.entries(vars)) {
      const grad = grads[variable.name];
      assert.ok(grad, `gradient of ${name}`);
      result.set(name, grad.dataSync() as Float32Array);
    }
    for (const v of Object.values(vars)) v.dispose();
  });
  tf.setBackend("wasm");
  return result;
}

function maxRelativeError(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

for (const stride of [1, 2]) {
  for (const pad of ["same", "valid"] as const) {
    Deno.test(`conv kernels on wasm give the cpu backend's gradients (stride ${stride}, ${pad})`, () => {
      const wasm = cnnGradients("wasm", stride, pad);
      const cpu = cnnGradients("cpu", stride, pad);
      for (const [name, expected] of cpu) {
        const actual = wasm.get(name)!;
        assert.equal(actual.length, expected.length);
        const error = maxRelativeError(actual, expected);
        assert.ok(error <= 1e-5, `${name}: relative error ${error}`);
        assert.ok(expected.some((v) => v !== 0), `${name}: gradient is not all zero`);
      }
    });
  }
}

Deno.test("the classifier's gradients on wasm equal the cpu backend's", () => {
  const spec = defaultSpec(10);
  const weights = initialWeights(spec, 3);
  const random = mulberry32(5);
  const pixels = Uint8Array.from({ length: 6 * 784 }, () => Math.floor(random() * 256));
  const gradients = (backend: string) => {
    tf.setBackend(backend);
    const net = makeClassifier(tf, spec, weights);
    const out = new Map<string, Float32Array>();
    tf.tidy(() => {
      const x = toInput(tf, pixels, 6, spec.inputShape);
      const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], "int32"), 10);
      const { grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(y, net.forwardTraining(x).logits) as tfType.Scalar,
        [...net.variables.values()].filter((v) => v.trainable),
      );
      for (const [name, v] of net.variables) {
        if (v.trainable) out.set(name, grads[v.name]!.dataSync() as Float32Array);
      }
    });
    net.dispose();
    tf.setBackend("wasm");
    return out;
  };
  const wasm = gradients("wasm");
  const cpu = gradients("cpu");
  for (const [name, expected] of cpu) {
    const error = maxRelativeError(wasm.get(name)!, expected);
    assert.ok(error <= 1e-5, `${name}: relative error ${error}`);
  }
});

Deno.test("50 training steps on wasm leak no tensor", () => {
  const spec = defaultSpec(10);
  const net = makeClassifier(tf, spec, initialWeights(spec, 1));
  const optimizer = tf.train.adam(1e-3);
  const x = toInput(tf, new Uint8Array(8 * 784).fill(9), 8, spec.inputShape);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], "int32"), 10);
  const step = () => {
    let updates: ReadonlyArray<StatisticUpdate> = [];
    const loss = optimizer.minimize(() => {
      const out = net.forwardTraining(x);
      updates = out.updates;
      return tf.losses.softmaxCrossEntropy(y, out.logits) as tfType.Scalar;
    }, true);
    applyUpdates(updates);
    loss?.dispose();
  };
  step(); // the optimizer creates its slot variables on the first step
  const before = tf.memory().numTensors;
  for (let i = 0; i < 50; i++) step();
  assert.equal(tf.memory().numTensors, before);
  optimizer.dispose();
  tf.dispose([x, y]);
  net.dispose();
});
