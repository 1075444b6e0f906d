/**
 * GROOD's fit owns the indexes it builds until it hands them to the fitted detector: a step
 * that fails (or an interruption) after an index is built releases it (its native or wasm
 * memory with it), and no tensor is left behind.
 */
import assert from "node:assert/strict";
import { Deferred, Effect, Exit, Fiber } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import { subset } from "../lib/data/images.ts";
import type { ExtractedSet, FitInputs } from "../lib/detectors/detector.ts";
import { grood, type IndexBuilder } from "../lib/detectors/grood.ts";
import { exactIndex, type NearestNeighbourIndex } from "../lib/knn/mod.ts";
import type { Matrix } from "../lib/matrix.ts";
import { defaultSpec, initialWeights, makeClassifier } from "../lib/model/classifier.ts";
import { extractFeatures } from "../lib/stages/features.ts";
import { smoothedNoiseImages } from "../lib/stages/mixup.ts";
import { groodModel, runPromise, runPromiseExit, tf } from "./with_compute.ts";

const spec = defaultSpec(10);
const net = makeClassifier(tf, spec, initialWeights(spec, 4));
const test = await runPromise(loadSplit("mnist", "test"));
const train = subset(test, Array.from({ length: 2000 }, (_, i) => i), "train-2000");
const queries = subset(test, Array.from({ length: 60 }, (_, i) => 3000 + i), "queries");
const extraction = await runPromise(
  extractFeatures(await groodModel(net), train, { classSumsAt: ["block1"] }),
);
const queryFeatures = (await runPromise(extractFeatures(await groodModel(net), queries))).features;
const noise = smoothedNoiseImages(60, 9);
const noiseFeatures = (await runPromise(extractFeatures(await groodModel(net), noise))).features;

/** A validation-OOD set whose features hold a NaN: scoring it fails after the index exists. */
const poisoned: ExtractedSet = {
  images: noise,
  features: {
    ...noiseFeatures,
    penultimate: {
      ...noiseFeatures.penultimate,
      data: noiseFeatures.penultimate.data.map((v, i) => (i === 7 ? Number.NaN : v)),
    },
  },
};

const model = await groodModel(net);
const inputs = (ood: ReadonlyArray<ExtractedSet>): FitInputs => ({
  model,
  train: {
    images: train,
    features: extraction.features,
    classSums: extraction.classSums,
    key: "random:train-2000",
  },
  validation: { id: { images: queries, features: queryFeatures }, ood },
});

/** An index builder that counts the indexes alive (built and not yet disposed). */
function counting(build: (points: Matrix) => Effect.Effect<NearestNeighbourIndex, never>) {
  const state = { built: 0, alive: 0 };
  const builder: IndexBuilder = {
    name: "counting",
    build: (points) =>
      Effect.map(build(points), (index) => {
        state.built++;
        state.alive++;
        return {
          ...index,
          search: (q: Matrix, k: number) => index.search(q, k),
          dispose: () => {
            state.alive--;
            index.dispose();
          },
        };
      }),
  };
  return { state, builder };
}

const exact = (points: Matrix) => Effect.orDie(exactIndex(points));

Deno.test("a GROOD fit failing after its indexes are built releases every one", async () => {
  const { state, builder } = counting(exact);
  const before = tf.memory().numTensors;
  const exit = await runPromiseExit(
    grood({ oodPrototype: { kind: "mean" }, index: builder, temperatureGrid: [1, 3, 10] })
      .fit(inputs([poisoned])),
  );
  assert.ok(Exit.isFailure(exit), "validation OOD with a NaN fails the tuning");
  assert.ok(state.built >= 1, "an index was built before the failure");
  assert.equal(state.alive, 0, "every index built was released");
  assert.equal(tf.memory().numTensors, before, "no tensor leaked");
});

Deno.test("an interrupted GROOD fit releases the index it had just built", async () => {
  const built = Effect.runSync(Deferred.make<void>());
  const state = { built: 0, alive: 0 };
  const builder: IndexBuilder = {
    name: "slow to return",
    build: (points) =>
      Effect.gen(function* () {
        const index = yield* exact(points);
        state.built++;
        state.alive++;
        yield* Deferred.succeed(built, undefined);
        // The index exists; the interruption comes before the builder has returned it.
        yield* Effect.sleep("200 millis");
        return {
          ...index,
          search: (q: Matrix, k: number) => index.search(q, k),
          dispose: () => {
            state.alive--;
            index.dispose();
          },
        };
      }),
  };
  const exit = await runPromise(Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(
      grood({ oodPrototype: { kind: "mean" }, index: builder }).fit(inputs([])),
    );
    yield* Deferred.await(built);
    yield* Fiber.interrupt(fiber);
    return yield* Effect.exit(Fiber.join(fiber));
  }));
  assert.ok(Exit.isFailure(exit));
  assert.equal(state.built, 1);
  assert.equal(state.alive, 0, "the index was released");
});
