import assert from "node:assert/strict";
import { Effect } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import { subset } from "../lib/data/images.ts";
import type { FitInputs, FittedDetector } from "../lib/detectors/detector.ts";
import { grood } from "../lib/detectors/grood.ts";
import { TEMPERATURE_GRID } from "../lib/detectors/grood_variants.ts";
import { buildDetector } from "../lib/detectors/registry.ts";
import { defaultSpec, initialWeights, makeClassifier } from "../lib/model/classifier.ts";
import { extractFeatures } from "../lib/stages/features.ts";
import { groodDescriptors } from "../lib/stages/gradient.ts";
import type { Matrix } from "../lib/matrix.ts";
import { exactIndex } from "../lib/knn/exact.ts";
import { meanOfPrototypes } from "../lib/stages/mixup.ts";
import { groodModel, runPromise, scopedFailure, tf } from "./with_compute.ts";

/** A registered detector built from its spec, as pipelines build it. */
const registered = (spec: unknown) => Effect.runSync(buildDetector(spec));
const spec = defaultSpec(10);
const net = makeClassifier(tf, spec, initialWeights(spec, 2));
const test = await runPromise(loadSplit("mnist", "test"));
const train = subset(test, Array.from({ length: 300 }, (_, i) => i), "tiny-train");
const queries = subset(test, Array.from({ length: 40 }, (_, i) => 500 + i), "queries");
const { features, classSums } = await runPromise(
  extractFeatures(await groodModel(net), train, { classSumsAt: ["block1"] }),
);
const queryFeatures = (await runPromise(extractFeatures(await groodModel(net), queries))).features;
const inputs: FitInputs = {
  model: await groodModel(net),
  train: { images: train, features, classSums, key: "random:tiny" },
  validation: { id: { images: queries, features: queryFeatures }, ood: [] },
};
const scoreWith = async (detector: ReturnType<typeof grood>) => {
  const before = tf.memory().numTensors;
  const fitted = await runPromise(detector.fit(inputs));
  const scores = await runPromise(
    fitted.score({ images: queries, features: queryFeatures }),
  );
  fitted.dispose();
  assert.equal(tf.memory().numTensors, before, `${detector.name} leaks tensors`);
  return { scores, fitted };
};

Deno.test("GROOD scores a training image it indexed at distance zero", async () => {
  const fitted = await runPromise(grood().fit(inputs));
  const scores = await runPromise(fitted.score({ images: train, features }));
  const predicted = features.logits;
  let checked = 0;
  for (let i = 0; i < train.count; i++) {
    const row = predicted.data.subarray(i * 10, i * 10 + 10);
    if (row.indexOf(Math.max(...row)) === train.labels[i]) {
      assert.equal(scores[i], 0, `training image ${i} is in the index`);
      checked++;
    }
  }
  assert.ok(checked > 0);
  assert.ok(scores.every((s) => s >= 0));
  fitted.dispose();
});

Deno.test("GROOD takes a user's own index and OOD-prototype source without other changes", async () => {
  let built = 0;
  const custom = grood({
    oodPrototype: {
      kind: "custom",
      name: "mean of class prototypes (user code)",
      compute: (_inputs, prototypes) => Effect.succeed(meanOfPrototypes(prototypes)),
    },
    index: {
      name: "counting exact index",
      build: (points) => {
        built++;
        return exactIndex(points);
      },
    },
  });
  const ours = await scoreWith(custom);
  const reference = await scoreWith(registered({ kind: "grood-no-mixup" }));
  assert.equal(built, 1);
  assert.deepEqual(ours.scores, reference.scores);
  assert.equal(ours.fitted.settings.oodPrototype, "mean of class prototypes (user code)");
  assert.equal(ours.fitted.settings.index, "counting exact index");
});

/** Euclidean distances from each query descriptor to every training descriptor, sorted. */
const sortedDistances = (queries: Matrix, points: Float32Array, cols: number) =>
  Array.from({ length: queries.rows }, (_, q) => {
    const out: Array<number> = [];
    for (let p = 0; p < points.length / cols; p++) {
      let squared = 0;
      for (let j = 0; j < cols; j++) {
        const d = queries.data[q * cols + j]! - points[p * cols + j]!;
        squared += d * d;
      }
      out.push(Math.sqrt(squared));
    }
    return out.sort((a, b) => a - b);
  });

const artefact = (fitted: FittedDetector, name: string) =>
  fitted.artefacts!.find((a) => a.name === name)!;

Deno.test("GROOD with k > 1 scores the mean of the k nearest distances (not the k-th, not the largest)", async () => {
  const fitted = await runPromise(grood({ k: 5 }).fit(inputs));
  const scores = await runPromise(
    fitted.score({ images: queries, features: queryFeatures }),
  );
  // The query descriptors by the same stage, the distances by brute force in float64.
  const classes = artefact(fitted, "class-prototypes-penultimate");
  const descriptors = await runPromise(groodDescriptors(queryFeatures.penultimate, {
    classes: {
      rows: classes.shape[0]!,
      cols: classes.shape[1]!,
      data: classes.data as Float32Array,
    },
    ood: artefact(fitted, "ood-prototype").data as Float32Array,
  }));
  const train = artefact(fitted, "train-descriptors");
  const sorted = sortedDistances(descriptors, train.data as Float32Array, train.shape[1]!);
  let kthDiffers = 0;
  let largestDiffers = 0;
  for (let q = 0; q < queries.count; q++) {
    const d = sorted[q]!;
    const mean = (d[0]! + d[1]! + d[2]! + d[3]! + d[4]!) / 5;
    assert.ok(
      Math.abs(scores[q]! - mean) <= 1e-4 * Math.max(1, mean),
      `query ${q}: ${scores[q]} vs ${mean}`,
    );
    // The alternatives the score must not be: the 5th distance, the largest of all.
    if (Math.abs(d[4]! - mean) > 1e-3 * Math.max(1, mean)) kthDiffers++;
    if (Math.abs(d[d.length - 1]! - mean) > 1e-3 * Math.max(1, mean)) largestDiffers++;
  }
  assert.ok(kthDiffers > queries.count / 2, `the 5th distance differs on ${kthDiffers} queries`);
  assert.equal(largestDiffers, queries.count);
  fitted.dispose();
});

Deno.test("GROOD-distance scores −‖h − p_ood‖ and GROOD exposes its artefacts", async () => {
  const { scores } = await scoreWith(registered({ kind: "grood-distance" }));
  const fitted = await runPromise(grood().fit(inputs));
  // The same (seeded) mix-up OOD prototype as GROOD's, and −‖h − p_ood‖ by hand in float64.
  const ood = artefact(fitted, "ood-prototype").data as Float32Array;
  const { rows, cols, data } = queryFeatures.penultimate;
  for (let q = 0; q < rows; q++) {
    let squared = 0;
    for (let j = 0; j < cols; j++) squared += (data[q * cols + j]! - ood[j]!) ** 2;
    const expected = -Math.sqrt(squared);
    assert.ok(Math.abs(scores[q]! - expected) <= 1e-5 * Math.max(1, -expected), `query ${q}`);
  }
  assert.ok(new Set(scores).size > rows / 2, "scores vary with the query");
  const names = (fitted.artefacts ?? []).map((a) => a.name);
  assert.deepEqual(names, [
    "class-prototypes-penultimate",
    "class-prototypes-block1",
    "ood-prototype",
    "train-descriptors",
  ]);
  fitted.dispose();
});

Deno.test("GROOD-τ chooses its temperature on validation data and reports the grid", async () => {
  const { smoothedNoiseImages } = await import("../lib/stages/mixup.ts");
  const noise = smoothedNoiseImages(40, 3);
  const noiseFeatures = (await runPromise(extractFeatures(await groodModel(net), noise))).features;
  const fitted = await runPromise(
    registered({ kind: "grood-tuned-temperature" }).fit({
      ...inputs,
      validation: {
        id: { images: queries, features: queryFeatures },
        ood: [{ images: noise, features: noiseFeatures }],
      },
    }),
  );
  const [tuned] = fitted.tuned;
  assert.ok(tuned !== undefined);
  assert.deepEqual(tuned.grid, TEMPERATURE_GRID);
  assert.equal(tuned.validationAuroc.length, TEMPERATURE_GRID.length);
  const best = Math.max(...tuned.validationAuroc);
  assert.equal(tuned.chosen, TEMPERATURE_GRID[tuned.validationAuroc.indexOf(best)]);
  assert.equal(fitted.settings.temperature, tuned.chosen);
  fitted.dispose();
});

Deno.test("the validation-OOD variants average the first batch or the whole split", async () => {
  const { smoothedNoiseImages } = await import("../lib/stages/mixup.ts");
  const { REFERENCE_FIRST_BATCH } = await import("../lib/detectors/grood_variants.ts");
  // Two validation-OOD sets; the first batch (200) takes all of the first and 50 of the second.
  const first = smoothedNoiseImages(150, 5);
  const second = smoothedNoiseImages(120, 6);
  const featuresOf = async (images: typeof first) =>
    (await runPromise(extractFeatures(await groodModel(net), images))).features;
  const [f1, f2] = [await featuresOf(first), await featuresOf(second)];
  const withValidation = {
    ...inputs,
    validation: {
      id: inputs.validation.id,
      ood: [{ images: first, features: f1 }, { images: second, features: f2 }],
    },
  };
  const prototypeOf = async (kind: string) => {
    const fitted = await runPromise(registered({ kind }).fit(withValidation));
    const artefact = fitted.artefacts!.find((a) => a.name === "ood-prototype")!;
    fitted.dispose();
    return { prototype: artefact.data, source: fitted.settings.oodPrototype };
  };
  // Hand means of the penultimate rows (float64 sums).
  const meanOf = (rows: ReadonlyArray<{ m: typeof f1.penultimate; count: number }>) => {
    const d = f1.penultimate.cols;
    const sum = new Float64Array(d);
    let n = 0;
    for (const { m, count } of rows) {
      for (let i = 0; i < count; i++) for (let j = 0; j < d; j++) sum[j]! += m.data[i * d + j]!;
      n += count;
    }
    return Array.from(sum, (v) => v / n);
  };
  const batch = await prototypeOf("grood-val-ood-batch");
  const whole = await prototypeOf("grood-val-ood");
  assert.equal(REFERENCE_FIRST_BATCH, 200);
  assert.equal(batch.source, "validation-ood(first 200)");
  assert.equal(whole.source, "validation-ood");
  const expectBatch = meanOf([{ m: f1.penultimate, count: 150 }, { m: f2.penultimate, count: 50 }]);
  const expectWhole = meanOf([{ m: f1.penultimate, count: 150 }, {
    m: f2.penultimate,
    count: 120,
  }]);
  for (let j = 0; j < expectBatch.length; j++) {
    assert.ok(Math.abs(batch.prototype[j]! - expectBatch[j]!) < 1e-4, `batch[${j}]`);
    assert.ok(Math.abs(whole.prototype[j]! - expectWhole[j]!) < 1e-4, `whole[${j}]`);
  }
  assert.ok(batch.prototype.some((v, j) => Math.abs(v - whole.prototype[j]!) > 1e-4));
});

Deno.test("GROOD's HNSW reports its calibrated efSearch, or the one a spec sets", async () => {
  const calibrated = await runPromise(grood({ index: { kind: "hnsw" } }).fit(inputs));
  const s = calibrated.settings;
  assert.equal(s.efSearchCalibrated, true);
  assert.equal(s.efSearchRecallTarget, 0.995);
  assert.equal(typeof s.efSearch, "number");
  assert.ok(Number(s.efSearchRecall1) >= 0 && Number(s.efSearchRecall1) <= 1);
  assert.equal(s.efSearchTargetMet, Number(s.efSearchRecall1) >= 0.995);
  calibrated.dispose();
  const given = await runPromise(
    registered({
      kind: "grood",
      index: { kind: "hnsw", m: 8, efConstruction: 50, efSearch: 30 },
    }).fit(inputs),
  );
  assert.equal(given.settings.index, "hnsw");
  assert.equal(given.settings.efSearch, 30);
  assert.equal(given.settings.M, 8);
  assert.equal(given.settings.efSearchCalibrated, undefined);
  given.dispose();
});

Deno.test("GROOD's IVF index from a spec reports its lists and nprobe; exact scores equal at nprobe = lists", async () => {
  const ivf = await runPromise(
    registered({ kind: "grood", index: { kind: "ivf", lists: 4, nprobe: 4 } }).fit(inputs),
  );
  assert.equal(ivf.settings.index, "ivf");
  assert.equal(ivf.settings.lists, 4);
  assert.equal(ivf.settings.nprobe, 4);
  const exact = await runPromise(registered({ kind: "grood" }).fit(inputs));
  assert.equal(exact.settings.index, "exact");
  const set = { images: queries, features: queryFeatures };
  // Every list probed: the search is exact (distances to float32 rounding of the IVF copy).
  const a = await runPromise(ivf.score(set));
  const b = await runPromise(exact.score(set));
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-5 * Math.max(1, Math.abs(b[i]!)), `score ${i}`);
  }
  ivf.dispose();
  exact.dispose();
});

Deno.test("GROOD's old index fields are refused by name (index is a tagged union)", () => {
  const problems = (spec: unknown) => Effect.runSync(Effect.flip(buildDetector(spec))).message;
  assert.match(
    problems({ kind: "grood", index: { kind: "hnsw" }, hnsw: { M: 8, efConstruction: 50 } }),
    /unknown key hnsw/,
  );
  assert.match(problems({ kind: "grood", ivf: { nprobe: 4 } }), /unknown key ivf/);
  assert.match(problems({ kind: "grood", index: { kind: "ivf", M: 8 } }), /unknown key M/);
  assert.match(problems({ kind: "grood", index: { kind: "usearch" } }), /unknown kind "usearch"/);
  assert.match(problems({ kind: "grood", index: "hnsw" }), /index/);
});

Deno.test("GROOD refuses an early boundary other than the early tap on a model without grood's network", async () => {
  const withNet = await groodModel(net);
  const { network: _, ...withoutNet } = withNet;
  const sums = await runPromise(
    extractFeatures(withNet, train, { classSumsAt: [withNet.taps.early, "block2"] }),
  );
  assert.notEqual(withNet.taps.early, "block2");
  const at = (model: FitInputs["model"]): FitInputs => ({
    ...inputs,
    model,
    train: { ...inputs.train, classSums: sums.classSums },
  });
  // With the network, the mix-up starts at any block (the early-layer ablation).
  const ablated = await runPromise(grood({ earlyBoundary: "block2" }).fit(at(withNet)));
  ablated.dispose();
  const failure = await scopedFailure(grood({ earlyBoundary: "block2" }).fit(at(withoutNet)));
  assert.equal(failure._tag, "InvalidParameter");
  assert.match(failure.message, /earlyBoundary = "block2"/);
  assert.match(failure.message, /its mix-up starts there/);
});
