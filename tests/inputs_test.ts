/**
 * Bad inputs through the library API (issue 10, "What went wrong" 5 and 7): each is a typed
 * error naming the set and what is wrong, never a wrong result or a crash, with real
 * components (a real classifier on tfjs, the real detectors, the real HNSW addon).
 */
import assert from "node:assert/strict";
import { Effect } from "effect";
import { InvalidImageSet } from "../lib/data/checks.ts";
import { IMAGE_SIZE, type ImageSet, type LabelledSet } from "../lib/data/images.ts";
import type { ExtractedSet, FitInputs } from "../lib/detectors/detector.ts";
import { InconsistentFitInputs } from "../lib/detectors/checks.ts";
import { buildDetector } from "../lib/detectors/mod.ts";
import { InvalidParameter, NonFiniteInput } from "../lib/errors.ts";
import { matrix } from "../lib/matrix.ts";
import { defaultSpec, initialWeights, makeClassifier } from "../lib/model/classifier.ts";
import { trainClassifier } from "../lib/model/train.ts";
import { mulberry32 } from "../lib/random.ts";
import { extractFeatures } from "../lib/stages/features.ts";
import { groodDescriptors } from "../lib/stages/gradient.ts";
import { hnswIndex } from "../lib/knn/mod.ts";
import { groodModel, runPromise, tf } from "./with_compute.ts";
import type { Compute } from "../lib/compute/compute.ts";

const failure = <A, E>(effect: Effect.Effect<A, E, Compute>): Promise<E> =>
  runPromise(Effect.flip(effect));

/** A registered detector with its default options, input checks included. */
const detectorOf = (kind: string) => Effect.runSync(buildDetector({ kind }));

const spec = defaultSpec(10);
const net = makeClassifier(tf, spec, initialWeights(spec, 0));

/** `count` seeded random 28×28 uint8 images. */
function images(name: string, count: number, seed = 1): ImageSet {
  const random = mulberry32(seed);
  return {
    name,
    count,
    pixels: Uint8Array.from({ length: count * IMAGE_SIZE }, () => Math.floor(256 * random())),
  };
}

// ───────────────────────────── images into the model ─────────────────────────────

Deno.test("32×32×3 images are refused, not read as 28×28×1 from their first bytes", async () => {
  const set: ImageSet = { name: "cifar-like", count: 2, pixels: new Uint8Array(2 * 32 * 32 * 3) };
  const error = await failure(extractFeatures(await groodModel(net), set));
  assert.ok(error instanceof InvalidImageSet);
  assert.match(error.message, /"cifar-like".*3072 per image.*28×28×1 = 784/);
});

Deno.test("float pixels in 0..1 are refused, not read as near-black images", async () => {
  const floats = {
    name: "floats",
    count: 1,
    pixels: new Float32Array(IMAGE_SIZE).fill(0.5),
  } as unknown as ImageSet;
  const error = await failure(extractFeatures(await groodModel(net), floats));
  assert.ok(error instanceof InvalidImageSet);
  assert.match(error.message, /"floats".*Float32Array.*scale floats in 0\.\.1 by 255/);
  // The same values already copied into a Uint8Array: every pixel 0 or 1.
  const rounded: ImageSet = {
    name: "rounded",
    count: 2,
    pixels: Uint8Array.from({ length: 2 * IMAGE_SIZE }, (_, i) => i % 2),
  };
  const again = await failure(extractFeatures(await groodModel(net), rounded));
  assert.ok(again instanceof InvalidImageSet);
  assert.match(again.message, /"rounded".*every pixel is 0 or 1/);
  // All-black images are legitimate input.
  const black = await runPromise(
    extractFeatures(await groodModel(net), {
      name: "black",
      count: 1,
      pixels: new Uint8Array(IMAGE_SIZE),
    }),
  );
  assert.equal(black.features.count, 1);
});

Deno.test("labels out of range are an error, not silently dropped from class sums", async () => {
  const set = { ...images("labelled", 3), labels: Uint8Array.of(0, 12, 3) };
  const error = await failure(
    extractFeatures(await groodModel(net), set, { classSumsAt: ["block1"] }),
  );
  assert.ok(error instanceof InvalidImageSet);
  assert.match(error.message, /"labelled".*label 12 of image 1.*\(0\.\.9\)/);
  const short = { ...images("short-labels", 3), labels: Uint8Array.of(0, 1) };
  assert.match(
    (await failure(extractFeatures(await groodModel(net), short))).message,
    /2 labels for 3 images/,
  );
});

Deno.test("a model producing NaN is stopped at extraction, naming the set", async () => {
  const weights = initialWeights(spec, 0);
  const [first] = [...weights.keys()];
  weights.get(first!)!.fill(NaN);
  const broken = makeClassifier(tf, spec, weights);
  const error = await failure(extractFeatures(await groodModel(broken), images("digits", 2)));
  assert.equal(error._tag, "NonFiniteOutput");
  assert.match(error.message, /image 0 of "digits"/);
  broken.dispose();
});

// ───────────────────────────── features into detectors ─────────────────────────────

/** An extracted set with random features (rows may differ from the image count). */
function extracted(name: string, imageCount: number, rows: number, seed: number): ExtractedSet {
  const random = mulberry32(seed);
  const numbers = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
  return {
    images: images(name, imageCount, seed),
    features: {
      name,
      count: rows,
      penultimate: matrix(rows, 8, numbers(rows * 8)),
      logits: matrix(rows, 3, numbers(rows * 3)),
      labels: Uint8Array.from({ length: rows }, (_, i) => i % 3),
    },
  };
}

const model = await groodModel(net);
function fitInputs(train: ExtractedSet): FitInputs {
  const labelled: LabelledSet = {
    ...train.images,
    labels: train.features.labels!,
    classNames: ["a", "b", "c"],
  };
  return {
    model,
    train: { images: labelled, features: train.features, classSums: [], key: "t" },
    validation: { id: train, ood: [] },
  };
}

Deno.test("KNN refuses 3 feature rows for 10 images instead of giving 3 scores", async () => {
  const train = extracted("train", 30, 30, 1);
  const fitted = await runPromise(detectorOf("knn").fit(fitInputs(train)));
  const error = await failure(fitted.score(extracted("mismatched", 10, 3, 2)));
  assert.equal(error._tag, "FeatureSizeMismatch");
  assert.match(error.message, /"mismatched".*number of images is 10, expected 3/);
  fitted.dispose();
});

Deno.test("NaN features are refused by every detector at fit and at score", async () => {
  const train = extracted("train", 30, 30, 1);
  const poisoned = extracted("poisoned", 5, 5, 3);
  (poisoned.features.penultimate.data as Float32Array)[2 * 8 + 4] = NaN;
  for (const kind of ["knn", "mahalanobis", "msp", "grood"] as const) {
    const detector = detectorOf(kind);
    const atFit = await failure(detector.fit(fitInputs(poisoned)));
    assert.equal(atFit._tag, "NonFiniteFeatures", kind);
    assert.match(atFit.message, /"poisoned".*image 2/, kind);
    if (kind === "grood") continue; // fitting GROOD needs a real training extraction
    const fitted = await runPromise(detector.fit(fitInputs(train)));
    const atScore = await failure(fitted.score(poisoned));
    assert.match(atScore._tag, /NonFinite/, kind);
    fitted.dispose();
  }
});

Deno.test("GROOD's descriptor stage refuses NaN features instead of returning NaN descriptors", async () => {
  const features = matrix(2, 2, [1, 2, NaN, 0]);
  const error = await failure(
    groodDescriptors(features, { classes: matrix(1, 2, [0, 1]), ood: Float32Array.of(0, 0) }),
  );
  assert.ok(error instanceof NonFiniteInput);
  assert.match(error.message, /row 1 of the features/);
});

Deno.test("training labels beyond the classes and count mismatches are refused at fit", async () => {
  const train = extracted("train", 30, 30, 1);
  const bad = fitInputs({
    ...train,
    features: { ...train.features, labels: Uint8Array.from({ length: 30 }, () => 7) },
  });
  const error = await failure(detectorOf("mahalanobis").fit(bad));
  assert.ok(error instanceof InconsistentFitInputs);
  assert.match(error.message, /label 7 of training image 0 is not one of 3 classes/);
  const fewer = fitInputs(extracted("train", 40, 30, 1));
  const mismatch = await failure(detectorOf("msp").fit(fewer));
  assert.match(mismatch.message, /has 40 images but 30 feature rows/);
});

// ───────────────────────────── parameters ─────────────────────────────

Deno.test("HNSW with M = 0 is a typed error, not a silent exit of the process", async () => {
  const points = matrix(4, 2, [0, 0, 1, 0, 0, 1, 1, 1]);
  for (
    const [options, name] of [[{ M: 0 }, "M"], [{ M: 1 }, "M"], [
      { efSearch: 0 },
      "efSearch",
    ]] as const
  ) {
    const error = await failure(hnswIndex(points, { seed: 0, ...options }));
    assert.ok(error instanceof InvalidParameter);
    assert.match(error.message, new RegExp(`HNSW ${name}`));
  }
  const index = await runPromise(hnswIndex(points, { seed: 0, M: 2 }));
  index.dispose();
});

Deno.test("trainClassifier() refuses batch size 0 and NaN numbers before any step", async () => {
  const train: LabelledSet = {
    ...images("train", 4),
    labels: Uint8Array.of(0, 1, 2, 3),
    classNames: Array.from({ length: 10 }, (_, i) => `${i}`),
  };
  const base = { seed: 0, epochs: 1, batchSize: 2, learningRate: 0.01 };
  for (
    const [override, name] of [
      [{ batchSize: 0 }, "batchSize"],
      [{ seed: NaN }, "seed"],
      [{ learningRate: NaN }, "learningRate"],
    ] as const
  ) {
    const error = await failure(trainClassifier(tf, train, { ...base, ...override }));
    assert.ok(error instanceof InvalidParameter);
    assert.equal(error.name, name);
  }
});
