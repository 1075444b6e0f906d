/**
 * GROOD's one fit, streamed (`fitGroodStreamed`) and over features held in memory
 * (`grood().fit` on the extraction of the same images, its class sums added in the same
 * chunks): the same prototypes, OOD prototype, descriptors and index results, bit for bit, on
 * the mnist fixture, in one chunk or several; in several chunks, the same bits whoever maps the
 * chunks and in whatever order (a cluster's case), and prototypes within float64 rounding of
 * the one-chunk fit's; and its typed errors.
 */
import assert from "node:assert/strict";
import { Effect, Stream } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import { batches, type LabelledSet, subset } from "../lib/data/images.ts";
import type { Artefact, FitInputs } from "../lib/detectors/detector.ts";
import { grood } from "../lib/detectors/grood.ts";
import {
  type FeatureChunk,
  mapFeatureChunk,
  mixupRanks,
  type TrainingChunk,
} from "../lib/detectors/grood_chunks.ts";
import {
  type ChunkMapper,
  fitGroodStreamed,
  type StreamedGroodOptions,
  type TrainingStream,
} from "../lib/detectors/grood_streamed.ts";
import { matrix } from "../lib/matrix.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { sizeOf } from "../lib/models/model.ts";
import { loadClassifier } from "../lib/model/store.ts";
import { groodFeatureModel } from "../lib/models/grood_cnn.ts";
import { groodDescriptors } from "../lib/stages/gradient.ts";
import { extractFeatures } from "../lib/stages/features.ts";
import { computePrototypes } from "../lib/stages/prototype.ts";
import { knnScore } from "../lib/stages/score.ts";
import { runPromise, tf } from "./with_compute.ts";

const run = runPromise;

/** A labelled set as a stream of batches (views), as a source streams it. */
const streamOf = (set: LabelledSet, labels = set.labels): TrainingStream<never> => ({
  description: set.name,
  count: set.count,
  shape: { height: 28, width: 28, channels: 1 },
  batches: (size) =>
    Stream.fromIterable(
      Array.from(batches(set, size), (b) => ({
        ...b,
        labels: labels.subarray(b.start, b.start + b.size),
      })),
    ),
});

const { net } = await run(loadClassifier(tf, fixtureDir("mnist")));
const model = await run(groodFeatureModel(tf, net, "mnist fixture"));
const all = await run(loadSplit("mnist", "train"));
// 1,234 images: an uneven last batch of 234 (batch 500), every class present.
const train = subset(all, Array.from({ length: 1234 }, (_, i) => 7 * i), "mnist-train[::7]");
const queries = subset(all, Array.from({ length: 300 }, (_, i) => 7 * i + 3), "queries");

const artefact = (artefacts: ReadonlyArray<Artefact> | undefined, name: string) =>
  artefacts!.find((a) => a.name.startsWith(name))!.data;

for (
  const [label, options] of [
    ["mix-up of 700 chosen images, exact index, one chunk", {
      oodPrototype: { kind: "mixup", lambda: 0.5, samples: 700, seed: 3 },
      chunk: 1234,
    }],
    ["mix-up of 700 chosen images, exact index, chunks of 500", {
      oodPrototype: { kind: "mixup", lambda: 0.5, samples: 700, seed: 3 },
      chunk: 500,
    }],
    ["mean of prototypes, temperature 0.5, batch 128, chunks of 256", {
      oodPrototype: { kind: "mean" },
      temperature: 0.5,
      batchSize: 128,
      descriptorChunk: 100,
      chunk: 256,
    }],
  ] as const satisfies ReadonlyArray<readonly [string, StreamedGroodOptions]>
) {
  Deno.test(`streamed GROOD fit equals the fit over features in memory, bit for bit: ${label}`, async () => {
    // The same batches (the chunk is a multiple of the batch), the class sums in the same chunks.
    const batchSize = options.batchSize ?? 500;
    const extraction = await run(
      extractFeatures(model, train, { earlyClassSums: true, batchSize, sumChunk: options.chunk }),
    );
    const queryFeatures = (await run(extractFeatures(model, queries, { batchSize }))).features;
    const inputs: FitInputs = {
      model,
      train: {
        images: train,
        features: extraction.features,
        classSums: extraction.classSums,
        key: "fixture:streamed-test",
      },
      validation: { id: { images: queries, features: queryFeatures }, ood: [] },
    };
    const inMemory = await run(
      grood({
        earlyBoundary: model.taps.early,
        oodPrototype: options.oodPrototype,
        ...("temperature" in options ? { temperature: options.temperature } : {}),
      }).fit(inputs),
    );
    const streamed = await run(fitGroodStreamed(model, streamOf(train), options));
    try {
      const a = inMemory.artefacts;
      assert.deepEqual(streamed.prototypes.penultimate.data, artefact(a, "class-prototypes-pen"));
      assert.deepEqual(streamed.prototypes.early.data, artefact(a, "class-prototypes-block1"));
      // The prototype stage on its own (`computePrototypes`) sums in the same chunks.
      const stage = await run(computePrototypes(extraction, model.taps.early));
      assert.deepEqual(stage.penultimate.data, streamed.prototypes.penultimate.data);
      assert.deepEqual(stage.early.data, streamed.prototypes.early.data);
      assert.deepEqual(streamed.oodPrototype, artefact(a, "ood-prototype"));
      assert.deepEqual(streamed.descriptors.data, artefact(a, "train-descriptors"));
      assert.equal(streamed.descriptors.rows, inMemory.settings.indexed);
      assert.ok(streamed.descriptors.rows > 0.9 * train.count, "the fixture classifies most");
      // Each descriptor row belongs to a correctly classified image, in image order.
      assert.ok(streamed.indexedImages.every((v, i, all) => i === 0 || v > all[i - 1]!));
      // The same index: scoring the queries through either gives the same scores.
      const expected = await run(inMemory.score({ images: queries, features: queryFeatures }));
      const queryDescriptors = await run(groodDescriptors(
        queryFeatures.penultimate,
        { classes: streamed.prototypes.penultimate, ood: streamed.oodPrototype },
        "temperature" in options ? options.temperature : 1,
      ));
      assert.deepEqual(await run(knnScore(streamed.index, queryDescriptors, 1)), expected);
      assert.equal(streamed.index.size, streamed.descriptors.rows);
    } finally {
      inMemory.dispose();
      streamed.index.dispose();
    }
  });
}

Deno.test("streamed GROOD fit in chunks: the same bits whoever maps the chunks, in any order; prototypes within rounding of one chunk", async () => {
  const options: StreamedGroodOptions = {
    oodPrototype: { kind: "mixup", lambda: 0.5, samples: 400, seed: 1 },
    chunk: 300,
  };
  const here = await run(fitGroodStreamed(model, streamOf(train), options));
  // A cluster's way: every chunk mapped elsewhere (here: in reverse order), the results handed
  // back in chunk order; descriptors made per chunk of kept rows.
  const chunks: Array<TrainingChunk> = Array.from(batches(train, 300), (b) => ({
    ...b,
    labels: train.labels.subarray(b.start, b.start + b.size),
  }));
  let mapped: Array<FeatureChunk> = [];
  const elsewhere: ChunkMapper<never> = {
    features: (job) =>
      Stream.fromEffect(Effect.gen(function* () {
        const settings = {
          description: job.train.description,
          channels: 1,
          batchSize: job.batchSize,
          rankOf: mixupRanks(job.chosen),
        };
        const results = new Array<FeatureChunk>(chunks.length);
        for (let k = chunks.length - 1; k >= 0; k--) {
          results[k] = yield* mapFeatureChunk(job.model, chunks[k]!, settings);
        }
        mapped = results;
        return results;
      })).pipe(Stream.flatMap((results) => Stream.fromIterable(results))),
    descriptors: (prototypes, temperature) =>
      Stream.fromIterable(mapped).pipe(
        Stream.mapEffect((chunk) =>
          groodDescriptors(
            matrix(chunk.keptImages.length, sizeOf(model.shapes.penultimate), chunk.kept),
            prototypes,
            temperature,
          )
        ),
        Stream.map((m) => m.data),
      ),
  };
  const there = await run(fitGroodStreamed(model, streamOf(train), options, elsewhere));
  const whole = await run(fitGroodStreamed(model, streamOf(train), { ...options, chunk: 5000 }));
  try {
    assert.equal(mapped.length, 5);
    assert.deepEqual(there.prototypes, here.prototypes);
    assert.deepEqual(there.oodPrototype, here.oodPrototype);
    assert.deepEqual(there.descriptors.data, here.descriptors.data);
    assert.deepEqual(there.indexedImages, here.indexedImages);
    // Sums of chunk sums: equal to the one-chunk sums up to float64 rounding, before float32.
    const a = here.prototypes.penultimate.data;
    const b = whole.prototypes.penultimate.data;
    for (let i = 0; i < a.length; i++) {
      assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-6 * Math.max(1, Math.abs(b[i]!)), `prototype ${i}`);
    }
    assert.deepEqual(here.indexedImages, whole.indexedImages);
  } finally {
    for (const fit of [here, there, whole]) fit.index.dispose();
  }
});

Deno.test("streamed GROOD fit: typed errors for missing labels, labels beyond the classes, empty classes, disordered batches", async () => {
  const small = subset(train, Array.from({ length: 40 }, (_, i) => i), "small");
  const unlabelled: TrainingStream<never> = {
    ...streamOf(small),
    batches: (size) => Stream.map(streamOf(small).batches(size), ({ labels: _, ...b }) => b),
  };
  const missing = await run(Effect.flip(fitGroodStreamed(model, unlabelled)));
  assert.equal(missing._tag, "MissingLabels");
  const beyond = await run(
    Effect.flip(fitGroodStreamed(model, streamOf(small, new Uint8Array(40).fill(12)))),
  );
  assert.equal(beyond._tag, "TrainingStreamInvalid");
  assert.match(beyond.message, /label 12; the model has 10 classes/);
  const empty = await run(
    Effect.flip(fitGroodStreamed(model, streamOf(small, new Uint8Array(40)))),
  );
  assert.equal(empty._tag, "EmptyClass");
  const reversed: TrainingStream<never> = {
    ...streamOf(small),
    batches: (size) =>
      Stream.fromIterable(
        Array.from(batches(small, size), (b) => ({
          ...b,
          labels: small.labels.subarray(b.start, b.start + b.size),
        })).reverse(),
      ),
  };
  const disordered = await run(
    Effect.flip(fitGroodStreamed(model, reversed, { batchSize: 16, chunk: 16 })),
  );
  assert.equal(disordered._tag, "TrainingStreamInvalid");
});
