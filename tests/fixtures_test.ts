/**
 * The committed classifiers (every training seed): one recipe, distinct weights matching their
 * recorded sha256; they load, verify, and score at least the thresholds on a sample of
 * the test split; GROOD's closed form matches autograd on their real features; and training is
 * deterministic for a given seed.
 */
import assert from "node:assert/strict";
import { Effect } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import { subset } from "../lib/data/images.ts";
import { type Matrix } from "../lib/matrix.ts";
import { fixtureDir, fixtureSeeds } from "../lib/benchmarks/fixtures.ts";
import { DEFAULT_EPOCHS } from "../apps/results/train_fixture.ts";
import { predictClasses } from "../lib/models/predict.ts";
import { loadClassifier, ModelLoadError, weightBytes } from "../lib/model/store.ts";
import { trainClassifier } from "../lib/model/train.ts";
import { permutation } from "../lib/random.ts";
import { accuracy } from "../lib/stages/evaluate.ts";
import { extractFeatures } from "../lib/stages/features.ts";
import { autogradDescriptors, groodDescriptors } from "../lib/stages/gradient.ts";
import { computePrototypes } from "../lib/stages/prototype.ts";
import { meanOfPrototypes } from "../lib/stages/mixup.ts";
import { groodModel, runPromise, tf } from "./with_compute.ts";

const THRESHOLDS = { "mnist": 0.99, "fashion-mnist": 0.91 } as const;
const SAMPLE = 3000;
/**
 * The committed fixture models per dataset, by training seed: seed 0 in `<dataset>/`, seeds 1
 * and 2 (the same recipe, for spreads over seeds) in `<dataset>-seed<N>/`.
 */
const COMMITTED_SEEDS: Readonly<Record<keyof typeof THRESHOLDS, ReadonlyArray<number>>> = {
  "mnist": [0, 1, 2],
  "fashion-mnist": [0, 1, 2],
};

for (const [dataset, threshold] of Object.entries(THRESHOLDS)) {
  const seeds = COMMITTED_SEEDS[dataset as keyof typeof THRESHOLDS];
  Deno.test(`the ${dataset} fixtures are seeds ${seeds.join(", ")}, one recipe, distinct weights`, async () => {
    assert.deepEqual(await runPromise(fixtureSeeds(dataset)), seeds);
    const all = await Promise.all(seeds.map(async (seed) => {
      const metadata = JSON.parse(
        await Deno.readTextFile(`${fixtureDir(dataset, seed)}/metadata.json`),
      );
      const sha = await crypto.subtle.digest(
        "SHA-256",
        await Deno.readFile(`${fixtureDir(dataset, seed)}/weights.bin`),
      );
      const hex = Array.from(new Uint8Array(sha), (b) => b.toString(16).padStart(2, "0")).join("");
      return { seed, metadata, hex };
    }));
    for (const { seed, metadata, hex } of all) {
      assert.equal(metadata.dataset, dataset);
      assert.equal(
        metadata.seed,
        seed,
        `${fixtureDir(dataset, seed)} records seed ${metadata.seed}`,
      );
      assert.equal(metadata.weightsSha256, hex, `${dataset} seed ${seed}: weights.bin sha256`);
      // Same recipe as seed 0: only the seed differs.
      for (const key of ["epochs", "batchSize", "learningRate", "backend", "tfjsVersion"]) {
        assert.deepEqual(metadata[key], all[0]!.metadata[key], `${dataset} seed ${seed}: ${key}`);
      }
      assert.equal(metadata.epochs, DEFAULT_EPOCHS[dataset]);
      assert.deepEqual(metadata.featureSizes, all[0]!.metadata.featureSizes);
    }
    assert.equal(new Set(all.map((m) => m.hex)).size, seeds.length, "every seed's weights differ");
  });

  for (const seed of seeds) {
    Deno.test(`the ${dataset} fixture of seed ${seed} scores ≥ ${100 * threshold}% on ${SAMPLE} test images`, async () => {
      // loadClassifier also checks weights.bin against the sha256 in metadata.json.
      const { net, metadata } = await runPromise(
        loadClassifier(tf, fixtureDir(dataset, seed)),
      );
      assert.equal(metadata.dataset, dataset);
      assert.ok(metadata.testAccuracy >= threshold, `recorded ${metadata.testAccuracy}`);
      const test = await runPromise(loadSplit(dataset, "test"));
      const sample = subset(test, permutation(test.count, 11).subarray(0, SAMPLE));
      const predicted = await runPromise(predictClasses(await groodModel(net), sample));
      const measured = await runPromise(accuracy(predicted, sample.labels));
      net.dispose();
      assert.ok(measured >= threshold, `${dataset} seed ${seed}: ${measured} on the sample`);
    });
  }
}

Deno.test("loadClassifier() refuses weights that do not match the metadata", async () => {
  const dir = await Deno.makeTempDir();
  for (const file of ["model.json", "metadata.json", "weights.bin"]) {
    await Deno.copyFile(`${fixtureDir("mnist")}/${file}`, `${dir}/${file}`);
  }
  const weights = await Deno.readFile(`${dir}/weights.bin`);
  weights[100] = weights[100]! ^ 1;
  await Deno.writeFile(`${dir}/weights.bin`, weights);
  const error = await runPromise(Effect.flip(loadClassifier(tf, dir)));
  assert.ok(error instanceof ModelLoadError);
  assert.match(error.message, /weights.bin has sha256 .* metadata.json records/);
  await Deno.remove(`${dir}/metadata.json`);
  const missing = await runPromise(Effect.flip(loadClassifier(tf, dir)));
  assert.match(missing.message, /cannot read metadata.json \(.*No such file/);
});

Deno.test("groodDescriptors() equals autograd on the fixture model's real features", async () => {
  const { net } = await runPromise(loadClassifier(tf, fixtureDir("mnist")));
  const test = await runPromise(loadSplit("mnist", "test"));
  const sample = subset(test, Array.from({ length: 1000 }, (_, i) => i));
  const extraction = await runPromise(
    extractFeatures(await groodModel(net), sample, { classSumsAt: ["block1"] }),
  );
  const prototypes = await runPromise(computePrototypes(extraction, "block1"));
  const gradientPrototypes = { classes: prototypes.penultimate, ood: meanOfPrototypes(prototypes) };
  const features: Matrix = extraction.features.penultimate;
  const predicted = Uint8Array.from(
    await runPromise(predictClasses(await groodModel(net), sample)),
  );
  const closed = await runPromise(groodDescriptors(features, gradientPrototypes));
  const auto = await runPromise(
    autogradDescriptors(features, gradientPrototypes, predicted, "batched"),
  );
  let diff = 0;
  let scale = 0;
  closed.data.forEach((v, i) => {
    diff = Math.max(diff, Math.abs(v - auto.data[i]!));
    scale = Math.max(scale, Math.abs(auto.data[i]!));
  });
  net.dispose();
  assert.ok(scale > 0);
  assert.ok(diff / scale < 1e-5, `relative error ${diff / scale}`);
});

Deno.test("trainClassifier() gives the same weights for the same seed", async () => {
  const test = await runPromise(loadSplit("mnist", "test"));
  const tiny = subset(test, Array.from({ length: 256 }, (_, i) => i));
  const options = { seed: 5, epochs: 1, batchSize: 64, learningRate: 0.002 };
  const a = await runPromise(trainClassifier(tf, tiny, options));
  const b = await runPromise(trainClassifier(tf, tiny, options));
  const c = await runPromise(trainClassifier(tf, tiny, { ...options, seed: 6 }));
  assert.deepEqual(weightBytes(a), weightBytes(b));
  assert.notDeepEqual(weightBytes(a), weightBytes(c));
  for (const net of [a, b, c]) net.dispose();
});
