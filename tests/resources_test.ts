import assert from "node:assert/strict";
import { Deferred, Effect, Exit, Fiber } from "effect";
import { Compute } from "../lib/compute/compute.ts";
import { loadSplit } from "../lib/data/datasets.ts";
import { subset } from "../lib/data/images.ts";
import { NonFiniteDetectorScore } from "../lib/detectors/checks.ts";
import type { Detector, ExtractedSet } from "../lib/detectors/detector.ts";
import { defaultSpec, initialWeights, makeClassifier } from "../lib/model/classifier.ts";
import { trainClassifier } from "../lib/model/train.ts";
import { type PreparedBenchmark, runDetectors } from "../lib/pipeline/run.ts";
import { extractFeatures } from "../lib/stages/features.ts";
import { groodFeatureModel } from "../lib/models/grood_cnn.ts";
import { mixupWithModel } from "../lib/stages/mixup.ts";
import { computePrototypes } from "../lib/stages/prototype.ts";
import { groodModel, runPromise, runPromiseExit, tf } from "./with_compute.ts";

// Resources are released by Effect (acquireRelease / ensuring), so a stage that fails or is
// interrupted midway frees its tensors: tf.memory().numTensors is the same before and after.

const test = await runPromise(loadSplit("mnist", "test"));

Deno.test("an interrupted mix-up stage releases its tensors", async () => {
  const spec = defaultSpec(10);
  const net = makeClassifier(tf, spec, initialWeights(spec, 0));
  const train = subset(test, Array.from({ length: 1000 }, (_, i) => i), "mnist/1000");
  const extraction = await runPromise(
    extractFeatures(await groodModel(net), train, { classSumsAt: ["block1"] }),
  );
  const prototypes = await runPromise(computePrototypes(extraction, "block1"));
  const before = tf.memory().numTensors;
  let batches = 0;
  const model = await runPromise(groodFeatureModel(tf, net, "random net"));
  const stage = mixupWithModel(model, train, extraction.features, prototypes, {
    lambda: 0.5,
    samples: 1000,
    seed: 0,
    batchSize: 5,
  }).pipe(Effect.ensuring(Effect.sync(() => batches++)));
  // Cut off long before its 200 batches are done (a timeout interrupts the stage).
  const exit = await runPromiseExit(stage.pipe(Effect.timeout("150 millis")));
  assert.ok(Exit.isFailure(exit), "the stage was cut off midway");
  assert.equal(batches, 1);
  assert.equal(tf.memory().numTensors, before, "no tensor leaked");
  net.dispose();
});

Deno.test("interrupted training releases the network and the optimizer", async () => {
  const train = subset(test, Array.from({ length: 2000 }, (_, i) => i), "mnist/2000");
  const before = tf.memory().numTensors;
  let steps = 0;
  // Interrupted once 3 of its 100 steps are done (not after a time: a loaded machine may not
  // have done one step by then, a fast one all of them).
  const midway = Effect.runSync(Deferred.make<void>());
  const exit = await runPromiseExit(Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(
      trainClassifier(tf, train, { seed: 0, epochs: 1, batchSize: 20, learningRate: 0.001 }, () => {
        steps++;
        if (steps === 3) Effect.runSync(Deferred.succeed(midway, undefined));
      }, 1),
    );
    // (A training that ends before its third step ends the wait too, and fails below.)
    yield* Effect.raceFirst(Deferred.await(midway), Fiber.await(fiber));
    yield* Fiber.interrupt(fiber);
    return yield* Fiber.join(fiber);
  }));
  assert.ok(Exit.isFailure(exit), "training was cut off midway");
  assert.ok(steps >= 3 && steps < 100, `cut off after ${steps} of 100 steps`);
  assert.equal(tf.memory().numTensors, before, "no tensor leaked");
});

Deno.test("a detector whose scoring fails midway is disposed (its tensors released)", async () => {
  const set = (name: string): ExtractedSet => ({
    images: { name, count: 1, pixels: new Uint8Array(784) },
    features: {
      name,
      count: 1,
      penultimate: { rows: 1, cols: 1, data: new Float32Array(1) },
      logits: { rows: 1, cols: 1, data: new Float32Array(1) },
    },
  });
  const prepared = {
    data: { spec: { name: "tiny" }, train: undefined },
    model: { features: undefined },
    train: { ...set("train"), key: "t", classSums: [] },
    idTest: set("id"),
    idValidation: set("id-val"),
    oodTest: [{ ...set("ood-1"), group: "far" }, { ...set("ood-2"), group: "far" }],
    oodValidation: [],
    idAccuracy: 1,
  } as unknown as PreparedBenchmark;
  const before = tf.memory().numTensors;
  let disposed = 0;
  const detector: Detector = {
    name: "holds-a-tensor",
    description: "fits a tensor, fails to score the second OOD set",
    fit: () =>
      Effect.sync(() => {
        const held = tf.ones([100, 100]);
        return {
          score: (s: ExtractedSet) =>
            s.images.name === "ood-2"
              ? Effect.fail(
                new NonFiniteDetectorScore({
                  detector: "holds-a-tensor",
                  set: s.images.name,
                  index: 0,
                  value: NaN,
                }),
              )
              : Effect.succeed(new Float64Array(s.images.count)),
          settings: {},
          tuned: [],
          dispose: () => {
            disposed++;
            held.dispose();
          },
        };
      }),
  };
  const exit = await runPromiseExit(
    runDetectors(prepared, [detector]).pipe(Effect.provide(Compute.layer("wasm"))),
  );
  assert.ok(Exit.isFailure(exit));
  assert.equal(disposed, 1);
  assert.equal(tf.memory().numTensors, before, "no tensor leaked");
});
