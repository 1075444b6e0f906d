import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import { subset } from "../lib/data/images.ts";
import {
  defaultSpec,
  initialWeights,
  makeClassifier,
  penultimate,
  toInput,
} from "../lib/model/classifier.ts";
import { classifierToOnnx } from "../lib/models/export_onnx.ts";
import { groodFeatureModel } from "../lib/models/grood_cnn.ts";
import { openOnnxModel } from "../lib/models/onnx.ts";
import { encodeOnnx } from "../lib/models/onnx_graph.ts";
import { mixupPlan, mixupWithModel } from "../lib/stages/mixup.ts";
import { extractFeatures } from "../lib/stages/features.ts";
import type { SetFeatures } from "../lib/stages/features.ts";
import { computePrototypes, type Prototypes } from "../lib/stages/prototype.ts";
import { groodModel, runPromise, runPromiseExit, tf } from "./with_compute.ts";

const spec = defaultSpec(10);
const net = makeClassifier(tf, spec, initialWeights(spec, 5));
const test = await runPromise(loadSplit("mnist", "test"));
const train = subset(test, Array.from({ length: 240 }, (_, i) => i * 3), "tiny-train");
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};
const options = { lambda: 0.5, samples: 100, seed: 3, batchSize: 64 };

/**
 * An independent mix-up on grood's tfjs network, all in tensors (mix, forward, mean): the
 * second computation `mixupWithModel` is checked against.
 */
const tensorMixup = async (
  features: SetFeatures,
  prototypes: Prototypes,
) => {
  const { chosen, targets } = await runPromise(mixupPlan(train, features, options));
  const mixSet = subset(train, chosen, "mix");
  return tf.tidy(() => {
    const x = toInput(tf, mixSet.pixels, mixSet.count, net.spec.inputShape);
    const early = net.forward(x, { to: "block1" });
    const target = tf.reshape(
      tf.gather(
        tf.tensor2d(prototypes.early.data, [prototypes.early.rows, prototypes.early.cols]),
        tf.tensor1d(Int32Array.from(chosen, (i) => targets[i]!), "int32"),
      ),
      early.shape,
    );
    const mixed = tf.add(tf.mul(early, options.lambda), tf.mul(target, 1 - options.lambda));
    const h = net.forward(mixed, { from: "block1", to: penultimate(net.spec) });
    return tf.mean(h, 0).dataSync() as Float32Array;
  });
};

/** Features, logits and block1 class sums of `train` in one tensor pass: the second computation. */
const tensorExtraction = () =>
  tf.tidy(() => {
    const x = toInput(tf, train.pixels, train.count, net.spec.inputShape);
    const early = net.forward(x, { to: "block1" });
    const h = net.forward(early, { from: "block1", to: penultimate(net.spec) });
    const onehot = tf.oneHot(tf.tensor1d(train.labels, "int32"), 10);
    return {
      penultimate: h.dataSync() as Float32Array,
      logits: net.forward(h, { from: penultimate(net.spec) }).dataSync() as Float32Array,
      sums: tf.matMul(
        tf.transpose(tf.cast(onehot, "float32")),
        tf.reshape(early, [train.count, -1]),
      )
        .dataSync() as Float32Array,
      counts: tf.sum(onehot, 0).dataSync(),
    };
  });

Deno.test("the feature and mix-up stages on grood's CNN match a tensor computation", async () => {
  const model = await runPromise(groodFeatureModel(tf, net, "random net"));
  const direct = tensorExtraction();
  // The early tap named as a point and as the tap: the same pass.
  for (const classSums of [{ classSumsAt: ["block1"] }, { earlyClassSums: true }]) {
    const viaModel = await runPromise(
      extractFeatures(model, train, { ...classSums, batchSize: 64 }),
    );
    assert.ok(maxDiff(direct.penultimate, viaModel.features.penultimate.data) < 1e-5);
    assert.ok(maxDiff(direct.logits, viaModel.features.logits.data) < 1e-5);
    assert.deepEqual([...viaModel.classSums[0]!.counts], [...direct.counts]);
    assert.ok(maxDiff(direct.sums, viaModel.classSums[0]!.sums) < 1e-3);
  }
  const builtIn = await runPromise(
    extractFeatures(model, train, { classSumsAt: ["block1"], batchSize: 64 }),
  );
  const prototypes = await runPromise(computePrototypes(builtIn, "block1"));
  const expected = await tensorMixup(builtIn.features, prototypes);
  const actual = await runPromise(
    mixupWithModel(model, train, builtIn.features, prototypes, options),
  );
  assert.ok(maxDiff(expected, actual) < 1e-5);
  assert.ok(maxDiff(expected, new Float32Array(expected.length)) > 1e-3, "not all zero");
});

Deno.test("mix-up through the ONNX export matches tfjs's (NCHW early prototypes)", async () => {
  const exported = classifierToOnnx(net);
  const dir = await Deno.makeTempDir();
  const path = join(dir, "net.onnx");
  await Deno.writeFile(path, encodeOnnx(exported.model));
  const [viaOnnx, mixed] = await runPromise(Effect.scoped(Effect.gen(function* () {
    const model = yield* openOnnxModel(path, exported.spec);
    const extraction = yield* extractFeatures(model, train, { earlyClassSums: true });
    const prototypes = yield* computePrototypes(extraction, model.taps.early);
    return [
      extraction,
      yield* mixupWithModel(model, train, extraction.features, prototypes, options),
    ] as const;
  })));
  const builtIn = await runPromise(
    extractFeatures(await groodModel(net), train, { classSumsAt: ["block1"] }),
  );
  const prototypes = await runPromise(computePrototypes(builtIn, "block1"));
  const tfjs = await runPromise(groodFeatureModel(tf, net, "random net"));
  const expected = await runPromise(
    mixupWithModel(tfjs, train, builtIn.features, prototypes, options),
  );
  assert.ok(maxDiff(viaOnnx.features.logits.data, builtIn.features.logits.data) < 1e-4);
  assert.ok(maxDiff(expected, mixed) < 1e-4);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("mix-up refuses early prototypes of another tap's size", async () => {
  const model = await runPromise(groodFeatureModel(tf, net, "random net"));
  const extraction = await runPromise(
    extractFeatures(await groodModel(net), train, { classSumsAt: ["block2"] }),
  );
  const prototypes = await runPromise(computePrototypes(extraction, "block2"));
  const exit = await runPromiseExit(
    mixupWithModel(model, train, extraction.features, prototypes, options),
  );
  assert.equal(exit._tag, "Failure");
  assert.match(String(exit), /block1/);
});

Deno.test("cleanup", () => net.dispose());
