/**
 * Fitted-detector folders on real models and files: the foreign PyTorch-trained ONNX fixture
 * fitted on `.npy` arrays (MNIST subsets written in the test), reloaded, scored; the reloaded
 * scores equal the in-process ones (recorded in the manifest); damaged folders and bad inputs
 * give typed errors naming the file or model and what is wrong.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { writeNpyAtomic } from "../lib/io/npy.ts";
import { Progress } from "../lib/progress.ts";
import {
  type FeatureMemo,
  fitDetectorFolder,
  type FitOptions,
  FITTED_MANIFEST_FILE,
  imageBatch,
  openFittedDetector,
  readManifest,
  scoreSource,
} from "../lib/fitted/mod.ts";
import { parseSourceArgument } from "../lib/sources/argument.ts";
import { decodeImage } from "../lib/sources/conform.ts";
import { runScoped, scopedFailure } from "./with_compute.ts";

const foreign = join(fixtureDir("foreign"), "foreign.onnx");
const run = runScoped;
const failure = scopedFailure;

// Real files: MNIST subsets as .npy arrays (uint8 images, uint8 labels) in a temp folder.
const data = await Deno.makeTempDir({ prefix: "grood-fitted-" });
const mnist = await Effect.runPromise(loadSplit("mnist", "train"));
const writeSubset = async (name: string, start: number, count: number) => {
  await Effect.runPromise(writeNpyAtomic(
    join(data, `${name}.npy`),
    mnist.pixels.slice(start * 784, (start + count) * 784),
    [count, 28, 28],
  ));
  await Effect.runPromise(writeNpyAtomic(
    join(data, `${name}.labels.npy`),
    mnist.labels.slice(start, start + count),
    [count],
  ));
};
await writeSubset("train", 0, 3000);
await writeSubset("val", 3000, 600);
const source = (argument: string, labelled = false) =>
  Effect.runPromise(parseSourceArgument(argument, data, { labelled }));
const train = await source("train.npy", true);
const validation = await source("val.npy", true);
const lettersVal = await source("ood-set:letters-val");

const fitOptions = (out: string, extra: Partial<FitOptions> = {}): FitOptions => ({
  model: foreign,
  train,
  validation,
  validationOod: [lettersVal],
  out,
  ...extra,
});

const groodDir = join(data, "grood");
const manifest = await run(fitDetectorFolder(fitOptions(groodDir)));

Deno.test("fit writes a self-describing folder: model copy, state, threshold, metrics", async () => {
  assert.equal(manifest.format, "grood-fitted-detector");
  assert.equal(manifest.detector.kind, "grood");
  assert.equal(manifest.detector.settings.earlyBoundary, "early");
  assert.equal(manifest.model.kind, "onnx");
  assert.equal(manifest.model.path, "model/foreign.onnx");
  assert.deepEqual(
    await Deno.readFile(join(groodDir, "model/foreign.onnx")),
    await Deno.readFile(foreign),
  );
  assert.deepEqual(manifest.state.map((s) => s.name).sort(), [
    "class-prototypes-penultimate",
    "ood-prototype",
    "train-descriptors",
  ]);
  assert.equal(manifest.data.train.count, 3000);
  assert.equal(manifest.data.validation.count, 600);
  assert.equal(manifest.data.validation.heldOut, false);
  assert.ok(manifest.validation.idKept >= 0.95 && manifest.validation.idKept < 0.96);
  // The fixture is a 96.9% classifier; 3,000 training images are enough for a useful detector.
  assert.ok(manifest.validation.accuracy > 0.9, `accuracy ${manifest.validation.accuracy}`);
  const [letters] = manifest.validation.metrics;
  assert.equal(letters!.source, "ood-set:letters-val");
  assert.ok(letters!.auroc > 0.75 && letters!.auroc <= 1, `AUROC ${letters!.auroc}`);
  assert.equal(manifest.scores.edges.length, 41);
  assert.equal(manifest.scores.id.counts.reduce((a, b) => a + b, 0), 600);
  assert.equal(manifest.scores.ood[0]!.counts.reduce((a, b) => a + b, 0), 1570);
  // The folder's detector.json decodes back to what fit returned.
  assert.deepEqual(await Effect.runPromise(readManifest(groodDir)), manifest);
});

Deno.test("scores from the folder equal the in-process ones; the threshold keeps 95% of ID", async () => {
  const scored = await run(Effect.gen(function* () {
    const detector = yield* openFittedDetector(groodDir);
    assert.deepEqual(detector.inputSpec.shape, { height: 28, width: 28, channels: 1 });
    return yield* scoreSource(detector, validation);
  }));
  // The manifest's quantiles are of the scores the in-process detector gave the same images.
  const sorted = Float64Array.from(scored.scores).sort();
  const quantiles = manifest.scores.id.quantiles;
  quantiles.forEach((q, i) => {
    const value = sorted[Math.round((i * (sorted.length - 1)) / (quantiles.length - 1))]!;
    assert.ok(Math.abs(value - q) <= 1e-6 * Math.max(1, Math.abs(q)), `quantile ${i}`);
  });
  const kept = scored.isOod.filter((x) => !x).length / scored.isOod.length;
  assert.equal(kept, manifest.validation.idKept);
  scored.scores.forEach((s, i) => assert.equal(scored.isOod[i], s > manifest.threshold));
  const labels = mnist.labels.slice(3000, 3600);
  const correct = scored.predicted.filter((p, i) => p === labels[i]).length / 600;
  assert.equal(correct, manifest.validation.accuracy);
});

Deno.test("a decoded PNG scores like the same pixels from an array", async () => {
  const pixels = mnist.pixels.slice(3000 * 784, 3002 * 784);
  const { default: sharp } = await import("sharp");
  const png = await sharp(pixels.subarray(0, 784), { raw: { width: 28, height: 28, channels: 1 } })
    .png().toBuffer();
  const [fromPng, fromArray] = await run(Effect.gen(function* () {
    const detector = yield* openFittedDetector(groodDir);
    const shape = detector.inputSpec.shape;
    const decoded = yield* decodeImage(new Uint8Array(png), "0.png", shape);
    const a = yield* detector.scoreImages(yield* imageBatch([decoded], shape));
    const b = yield* detector.scoreImages({ count: 2, shape, pixels });
    return [a, b] as const;
  }));
  assert.equal(fromPng.scores[0], fromArray.scores[0]);
  assert.equal(fromPng.predicted[0], fromArray.predicted[0]);
});

Deno.test("a batch of the wrong shape is refused, naming both shapes", async () => {
  const error = await failure(Effect.gen(function* () {
    const detector = yield* openFittedDetector(groodDir);
    return yield* detector.scoreImages({
      count: 1,
      shape: { height: 32, width: 32, channels: 3 },
      pixels: new Uint8Array(32 * 32 * 3),
    });
  }));
  assert.equal(error._tag, "ImageBatchMismatch");
  assert.match(error.message, /28×28×1 uint8/);
  assert.match(error.message, /32×32×3/);
});

Deno.test("MSP, energy and KNN fit and reload with the same scores, on one forward pass per set", async () => {
  // One memo for the three fits, as `deno task fit --detector msp --detector energy …` does.
  const features: FeatureMemo = new Map();
  const passes: Array<string> = [];
  for (const kind of ["msp", "energy", "knn"]) {
    const out = join(data, kind);
    const m = await run(
      fitDetectorFolder(fitOptions(out, { detector: { kind }, features })).pipe(
        Effect.provideService(Progress, {
          report: (stage, done, total) => {
            if (done === total) passes.push(stage);
          },
        }),
      ),
    );
    assert.equal(m.detector.kind, kind);
    const scored = await run(
      Effect.flatMap(openFittedDetector(out), (d) => scoreSource(d, validation)),
    );
    const sorted = Float64Array.from(scored.scores).sort();
    const q = m.scores.id.quantiles;
    assert.ok(Math.abs(sorted[0]! - q[0]!) <= 1e-6 * Math.max(1, Math.abs(q[0]!)), kind);
    assert.ok(Math.abs(sorted[599]! - q[q.length - 1]!) <= 1e-6 * Math.max(1, Math.abs(q[0]!)));
    assert.ok(
      m.validation.metrics[0]!.auroc > 0.6,
      `${kind} AUROC ${m.validation.metrics[0]!.auroc}`,
    );
  }
  // Training, validation and validation-OOD sets, each extracted by the first fit only.
  assert.deepEqual(
    passes.filter((p) => p.startsWith("features of")).sort(),
    ["features of ood-set:letters-val", "features of train.npy", "features of val.npy"],
  );
});

Deno.test("a detector that needs grood's own network is refused by name", async () => {
  const error = await failure(fitDetectorFolder(fitOptions(join(data, "odin"), {
    detector: { kind: "odin" },
  })));
  assert.equal(error._tag, "UnsupportedFittedDetector");
  assert.match(error.message, /odin/);
  assert.match(error.message, /grood, /);
  assert.ok(!(await Deno.stat(join(data, "odin")).then(() => true, () => false)));
});

Deno.test("a missing tap is a typed error naming the model and the tensor", async () => {
  const error = await failure(fitDetectorFolder(fitOptions(join(data, "bad-tap"), {
    taps: { early: "no-such-tensor" },
  })));
  assert.equal(error._tag, "MissingTap");
  assert.match(error.message, /foreign\.onnx/);
  assert.match(error.message, /no-such-tensor/);
});

Deno.test("a spec of the wrong input size is a typed error at fit, naming the model and tensor", async () => {
  // The foreign model with a spec declaring 32×32 images: its graph takes 28×28.
  const dir = join(data, "wrong-input");
  await Deno.mkdir(dir);
  await Deno.copyFile(foreign, join(dir, "foreign.onnx"));
  const spec = JSON.parse(await Deno.readTextFile(foreign.replace(/\.onnx$/, ".spec.json")));
  await Deno.writeTextFile(
    join(dir, "foreign.spec.json"),
    JSON.stringify({ ...spec, input: { ...spec.input, height: 32, width: 32 } }),
  );
  const error = await failure(fitDetectorFolder(fitOptions(join(data, "wrong-input-out"), {
    model: join(dir, "foreign.onnx"),
  })));
  assert.equal(error._tag, "InputShapeMismatch");
  assert.match(error.message, /wrong-input\/foreign\.onnx/);
  assert.match(error.message, /tensor "image".*28, 28.*32, 32/);
  assert.ok(!(await Deno.stat(join(data, "wrong-input-out")).then(() => true, () => false)));
});

/** A copy of the fitted GROOD folder, damaged by `damage`; the error of opening it. */
const openDamaged = async (damage: (dir: string) => Promise<void>) => {
  const dir = join(data, `damaged-${crypto.randomUUID().slice(0, 8)}`);
  await new Deno.Command("cp", { args: ["-r", groodDir, dir] }).output();
  await damage(dir);
  return failure(openFittedDetector(dir));
};

Deno.test("a damaged folder is refused, naming the file and what is wrong", async () => {
  const missing = await openDamaged((dir) => Deno.remove(join(dir, "state/ood-prototype.npy")));
  assert.equal(missing._tag, "FittedFolderDamaged");
  assert.match(missing.message, /state\/ood-prototype\.npy: missing/);

  const changedModel = await openDamaged(async (dir) => {
    const path = join(dir, "model/foreign.onnx");
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - 1]! ^= 1;
    await Deno.writeFile(path, bytes);
  });
  assert.equal(changedModel._tag, "FittedFolderDamaged");
  assert.match(changedModel.message, /model\/foreign\.onnx: content differs/);

  const edited = await openDamaged(async (dir) => {
    const path = join(dir, FITTED_MANIFEST_FILE);
    const json = JSON.parse(await Deno.readTextFile(path));
    json.threshold = "high";
    await Deno.writeTextFile(path, JSON.stringify(json));
  });
  assert.equal(edited._tag, "FittedFolderDamaged");
  assert.match(edited.message, /detector\.json/);
  assert.match(edited.message, /threshold/);

  const wrongSha = await openDamaged(async (dir) => {
    const path = join(dir, FITTED_MANIFEST_FILE);
    const json = JSON.parse(await Deno.readTextFile(path));
    json.state[0].file.sha256 = "0".repeat(64);
    await Deno.writeTextFile(path, JSON.stringify(json));
  });
  assert.equal(wrongSha._tag, "FittedFolderDamaged");
  // detector.json's own digest no longer matches (tests/fitted_integrity_test.ts).
  assert.match(wrongSha.message, /detector\.json: it was changed after it was written/);

  const noManifest = await failure(openFittedDetector(data));
  assert.equal(noManifest._tag, "FittedFolderDamaged");
  assert.match(noManifest.message, /detector\.json: missing/);
});

Deno.test("GROOD fits streaming (bounded memory) to the same folder as in memory: state files, threshold and metrics", async () => {
  // With --val, and with a held-out split of the training images (the default); batch 256:
  // an uneven last batch, and held-out images falling in every batch. In chunks of 1,024 (a
  // multiple of the batch): both fits sum in them, the in-memory one via its extraction.
  for (const held of [false, true]) {
    const one = { batchSize: 256, fitChunk: 1024 };
    const extra: Partial<FitOptions> = held ? { ...one, seed: 5 } : one;
    const stages = { streamed: new Set<string>(), inMemory: new Set<string>() };
    const fit = (out: string, inMemory: boolean) => {
      const seen = inMemory ? stages.inMemory : stages.streamed;
      const { validation: _, ...rest } = fitOptions(join(data, out), { ...extra, inMemory });
      return fitDetectorFolder(held ? rest : { ...rest, validation }).pipe(
        Effect.provideService(Progress, { report: (stage) => void seen.add(stage) }),
      );
    };
    const streamed = await run(fit(`streamed-${held}`, false));
    const inMemory = await run(fit(`in-memory-${held}`, true));
    // The streamed fit reports its chunked descriptor stage; the in-memory one has none.
    assert.ok(stages.streamed.has("descriptors") && !stages.inMemory.has("descriptors"));
    const what = held ? "held-out split" : "--val";
    assert.deepEqual(
      streamed.state.map((s) => [s.name, s.file.sha256]),
      inMemory.state.map((s) => [s.name, s.file.sha256]),
      `${what}: state files`,
    );
    assert.equal(streamed.threshold, inMemory.threshold, what);
    assert.deepEqual(streamed.validation, inMemory.validation, what);
    assert.deepEqual(streamed.data, inMemory.data, what);
    assert.equal(streamed.detector.settings.fitChunk, 1024, `${what}: the chunk size is recorded`);
    assert.deepEqual(streamed.detector.settings, inMemory.detector.settings, what);
    assert.deepEqual(streamed.scores, inMemory.scores, what);
    assert.equal(streamed.data.validation.heldOut, held);
    assert.equal(streamed.data.train.count, held ? 2700 : 3000);
  }
});

Deno.test("cleanup", async () => {
  await Deno.remove(data, { recursive: true });
});
