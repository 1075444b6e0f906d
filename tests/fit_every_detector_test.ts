/**
 * Every registered detector through a fitted folder (issue 23, item 5): for every kind of
 * `DETECTOR_KINDS`, on grood's CNN and on the PyTorch-trained ONNX fixture, `fitDetectorFolder`
 * on MNIST digits written as `.npy`, `openFittedDetector`, score a test set, and compare with a
 * second, in-process fit of the same detector on the same features: equal bit for bit. ODIN
 * (its score perturbs the images) is refused at fit, before any work, with a typed error. Then
 * `deno task score` and `evaluate-ood` on a Mahalanobis folder and the service on a ViM folder
 * give the in-process scores too, a folder with a NaN feature is refused on load, and `fit`'s
 * own check (the state, loaded back, reproduces the scores) refuses a one-ulp difference.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect, Exit } from "effect";
import type { LabelledSet } from "../lib/data/images.ts";
import type { ExtractedSet, FitInputs } from "../lib/detectors/detector.ts";
import {
  decodeDetector,
  DETECTOR_KINDS,
  type DetectorSpec,
  makeDetector,
} from "../lib/detectors/registry.ts";
import { loadSplit } from "../lib/data/datasets.ts";
import { encodeNpy, writeNpyAtomic } from "../lib/io/npy.ts";
import { openServedFitted } from "../apps/serve/fitted.ts";
import type { ScoreAnswer } from "../apps/serve/routes.ts";
import { serveDetector } from "../apps/serve/server.ts";
import { evaluateOod } from "../lib/stages/evaluate.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { openModel } from "../lib/models/registry.ts";
import type { FeatureModel } from "../lib/models/model.ts";
import { extractFeatures } from "../lib/stages/features.ts";
import {
  type FeatureMemo,
  fitDetectorFolder,
  openFittedDetector,
  readManifest,
} from "../lib/fitted/mod.ts";
import { honoured } from "../lib/fitted/fit_data.ts";
import { checkReproduced } from "../lib/fitted/reproduce.ts";
import { parseSourceArgument } from "../lib/sources/argument.ts";
import { runScoped, scopedFailure } from "./with_compute.ts";
import { denoTask } from "./deno_task.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const dir = await Deno.makeTempDir({ prefix: "grood-every-detector-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const mnist = await Effect.runPromise(loadSplit("mnist", "train"));
const shape = { height: 28, width: 28, channels: 1 } as const;

/** Images [start, start + count) of MNIST's training split, inverted when `invert`. */
const imagesOf = (start: number, count: number, invert = false) => {
  const pixels = mnist.pixels.slice(start * 784, (start + count) * 784);
  return invert ? pixels.map((p) => 255 - p) : pixels;
};
const TRAIN = { start: 0, count: 400 };
const VAL = { start: 400, count: 200 };
const OOD = { start: 600, count: 150 };
const TEST = { start: 800, count: 200 };
const write = async (name: string, pixels: Uint8Array, labels?: Uint8Array) => {
  const count = pixels.length / 784;
  await Effect.runPromise(writeNpyAtomic(join(dir, `${name}.npy`), pixels, [count, 28, 28]));
  if (labels !== undefined) {
    await Effect.runPromise(writeNpyAtomic(join(dir, `${name}.labels.npy`), labels, [count]));
  }
};
const labelsOf = (r: { start: number; count: number }) =>
  mnist.labels.slice(r.start, r.start + r.count);
await write("train", imagesOf(TRAIN.start, TRAIN.count), labelsOf(TRAIN));
await write("val", imagesOf(VAL.start, VAL.count), labelsOf(VAL));
// Validation OOD: inverted digits (white background), enough for the detectors that tune.
await write("ood", imagesOf(OOD.start, OOD.count, true));
await write("test", imagesOf(TEST.start, TEST.count));

const source = (argument: string, labelled: boolean) =>
  Effect.runPromise(parseSourceArgument(argument, dir, { labelled }));
const train = await source("train.npy", true);
const validation = await source("val.npy", true);
const ood = await source("ood.npy", false);

const MODELS = {
  grood: fixtureDir("mnist"),
  onnx: join(root, "fixtures/models/foreign/foreign.onnx"),
} as const;

/** Small settings where the defaults exceed 400 training digits. */
const SMALL: Readonly<Record<string, Record<string, unknown>>> = {
  nnguide: { k: 5, alpha: 0.1 },
  knn: { k: 5 },
};

/** A labelled set of MNIST training images. */
const labelledSet = (name: string, r: { start: number; count: number }): LabelledSet => ({
  name,
  count: r.count,
  pixels: imagesOf(r.start, r.count),
  shape,
  labels: labelsOf(r),
  classNames: Array.from({ length: 10 }, (_, i) => String(i)),
});

/** The in-process side: features of every set, extracted once per model, and the fit inputs. */
const inProcess = (path: string, kind: "grood" | "onnx") =>
  Effect.gen(function* () {
    const model: FeatureModel = yield* openModel(path);
    const trainSet = labelledSet("train.npy", TRAIN);
    const trainExtraction = yield* extractFeatures(model, trainSet, { earlyClassSums: true });
    const extracted = (set: LabelledSet | ExtractedSet["images"]) =>
      Effect.map(extractFeatures(model, set), (e): ExtractedSet => ({
        images: set,
        features: e.features,
      }));
    const inputs: FitInputs = {
      model,
      train: {
        images: trainSet,
        features: trainExtraction.features,
        classSums: trainExtraction.classSums,
        key: `test:${kind}:train`,
      },
      validation: {
        id: yield* extracted(labelledSet("val.npy", VAL)),
        ood: [
          yield* extracted({
            name: "ood.npy",
            count: OOD.count,
            pixels: imagesOf(OOD.start, OOD.count, true),
            shape,
          }),
        ],
      },
    };
    const test = yield* extracted({
      name: "test.npy",
      count: TEST.count,
      pixels: imagesOf(TEST.start, TEST.count),
      shape,
    });
    return { model, inputs, test };
  });

/** The spec `fit` uses for `kind` (GROOD's early tap is the model's; samples fit the data). */
const specOf = (kind: string, model: FeatureModel) =>
  Effect.gen(function* () {
    const input = { kind, ...SMALL[kind] };
    const decoded = yield* decodeDetector(input);
    const spec = (kind.startsWith("grood")
      ? { ...decoded, earlyBoundary: model.taps.early }
      : decoded) as DetectorSpec;
    return { input, spec: yield* honoured(spec, TRAIN.count) };
  });

/** A folder's scores of `count` images from `start` (inverted when `invert`). */
const folderScores = (out: string, r: { start: number; count: number }, invert = false) =>
  Effect.scoped(Effect.gen(function* () {
    const loaded = yield* openFittedDetector(out);
    const scored = yield* loaded.scoreImages({
      count: r.count,
      shape,
      pixels: imagesOf(r.start, r.count, invert),
    });
    assert.deepEqual(scored.invalid, [], out);
    assert.ok(scored.scores instanceof Float64Array);
    return scored.scores;
  }));

/** The order statistics `distribution` keeps as a manifest's quantiles. */
const quantilesOf = (scores: Float64Array) => {
  const sorted = Float64Array.from(scores).sort();
  const n = sorted.length;
  const all = Math.min(101, n);
  return Array.from({ length: all }, (_, q) => sorted[Math.round((q * (n - 1)) / (all - 1))]!);
};

/** The first image where `a` and `b` differ (as float64 values), or −1. */
const firstDifference = (a: Float64Array, b: Float64Array) =>
  a.length !== b.length ? 0 : a.findIndex((s, i) => !Object.is(s, b[i]));

for (const modelKind of ["grood", "onnx"] as const) {
  Deno.test(`every registered detector on the ${modelKind} model: fit into a folder, load, score = in-process, bit for bit`, async () => {
    const path = MODELS[modelKind];
    const memo: FeatureMemo = new Map();
    const outcomes: Array<string> = [];
    const mismatches: Array<string> = [];
    await runScoped(Effect.gen(function* () {
      const { model, inputs, test } = yield* inProcess(path, modelKind);
      const fit = (input: unknown, out: string, inMemory = false) =>
        Effect.exit(Effect.scoped(fitDetectorFolder({
          model: path,
          train,
          validation,
          validationOod: [ood],
          detector: input,
          out,
          features: memo,
          inMemory,
        })));
      for (const kind of DETECTOR_KINDS) {
        const out = join(dir, `${modelKind}-${kind}`);
        const { input, spec } = yield* specOf(kind, model);
        const exit = yield* fit(input, out);
        if (kind === "odin") {
          // Refused before any work: no folder, a typed error naming the detector and why.
          assert.ok(Exit.isFailure(exit), "odin was fitted into a folder");
          const error = Exit.isFailure(exit) ? exit.cause.toString() : "";
          assert.match(error, /UnsupportedFittedDetector/);
          assert.match(error, /"odin".*input gradient/);
          assert.equal(yield* Effect.promise(() => exists(out)), false);
          outcomes.push(`${kind}: refused`);
          continue;
        }
        // Every other kind fits, on both models (the head-based ones read the ONNX graph's head).
        assert.ok(Exit.isSuccess(exit), `${kind} on ${modelKind}: ${exit}`);
        const manifest = exit.value;
        assert.equal(manifest.detector.kind, kind);
        assert.deepEqual(
          manifest.detector.spec,
          JSON.parse(JSON.stringify(spec)),
          `${kind}: the spec fit used`,
        );
        // 1. The folder scores as the detector `fit` fitted in process: the manifest's quantiles
        // are order statistics of that detector's validation scores.
        const idScores = yield* folderScores(out, VAL);
        const oodScores = yield* folderScores(out, OOD, true);
        assert.deepEqual(quantilesOf(idScores), manifest.scores.id.quantiles, `${kind}: ID`);
        assert.deepEqual(quantilesOf(oodScores), manifest.scores.ood[0]!.quantiles, kind);
        // 2. A second, independent in-process fit on the same features scores the test images
        // as the folder does. GROOD's default fit in `fit` is the streamed one; its in-memory
        // twin is what `makeDetector(spec).fit` runs, so that is the folder compared exactly.
        const expected = yield* Effect.scoped(Effect.gen(function* () {
          const fitted = yield* Effect.acquireRelease(
            makeDetector(spec).fit(inputs),
            (f) => Effect.sync(() => f.dispose()),
          );
          return yield* fitted.score(test);
        }));
        const streamed = kind === "grood";
        const compared = streamed ? `${out}-in-memory` : out;
        if (streamed) {
          const twin = yield* fit(input, compared, true);
          assert.ok(Exit.isSuccess(twin), `in-memory GROOD: ${twin}`);
        }
        const scored = yield* folderScores(compared, TEST);
        const differ = firstDifference(expected, scored);
        if (differ >= 0) {
          mismatches.push(
            `${kind}: image ${differ} scores ${scored[differ]} from the folder, ` +
              `${expected[differ]} in process`,
          );
        }
        if (streamed) {
          // GROOD's one fit: streamed and in memory give the same bits on every model kind.
          const folder = yield* folderScores(out, TEST);
          const worst = folder.reduce(
            (m, s, i) => Math.max(m, Math.abs(s - expected[i]!) / Math.max(1e-12, Math.abs(s))),
            0,
          );
          assert.equal(worst, 0, `streamed GROOD: relative difference ${worst}`);
          outcomes.push(`grood (streamed, relative difference ${worst.toExponential(1)})`);
        }
        // A score that says nothing (all equal) would pass the comparison too.
        assert.ok(new Set(expected).size > 1, `${kind}: every test image scores the same`);
        outcomes.push(`${kind}: ${manifest.state.length} arrays`);
      }
    }));
    console.log(`${modelKind}: ${outcomes.join("; ")}`);
    assert.deepEqual(mismatches, [], `on ${modelKind}`);
    // Every kind was tried, and on both models every kind but ODIN was saved and reloaded.
    const saved = outcomes.filter((o) => / arrays$/.test(o)).length;
    assert.equal(saved + outcomes.filter((o) => /refused/.test(o)).length, 27);
    assert.equal(DETECTOR_KINDS.length, 27);
    if (modelKind === "grood") assert.equal(saved, DETECTOR_KINDS.length - 1);
  });
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/** A folder of `kind` on grood's CNN (the one the every-detector test wrote, or a new one). */
const groodFolder = async (kind: string) => {
  const out = join(dir, `grood-${kind}`);
  if (!(await exists(out))) {
    await runScoped(fitDetectorFolder({
      model: MODELS.grood,
      train,
      validation,
      validationOod: [ood],
      detector: { kind },
      out,
    }));
  }
  return out;
};
const mahalanobisFolder = () => groodFolder("mahalanobis");

/** The in-process scores of `kind` (fitted on grood's CNN) on the test images. */
const inProcessScores = (kind: string) =>
  runScoped(Effect.gen(function* () {
    const { model, inputs, test } = yield* inProcess(MODELS.grood, "grood");
    const { spec } = yield* specOf(kind, model);
    const fitted = yield* Effect.acquireRelease(
      makeDetector(spec).fit(inputs),
      (f) => Effect.sync(() => f.dispose()),
    );
    return yield* fitted.score(test);
  }));

/** `deno task NAME …args` run from the data folder; its standard output. */
const task = async (name: string, args: ReadonlyArray<string>) => {
  const out = await denoTask(dir, name, args);
  assert.equal(out.code, 0, out.stderr);
  return out.stdout;
};

Deno.test("a refitted folder whose saved training features were edited and re-hashed is refused on load", async () => {
  // The integrity digest is covered by fitted_integrity_test; here the load's own checks: a
  // folder written by hand (consistent hashes) with a NaN feature is refused, naming the file.
  const out = await mahalanobisFolder();
  const manifest = await Effect.runPromise(readManifest(out));
  const names = manifest.state.map((s) => s.name).sort();
  assert.deepEqual(names, [
    "fit-train-labels",
    "fit-train-logits",
    "fit-train-penultimate",
    "fit-validation-id-labels",
    "fit-validation-id-logits",
    "fit-validation-id-penultimate",
    "fit-validation-ood-0-logits",
    "fit-validation-ood-0-penultimate",
  ]);
  assert.deepEqual(
    manifest.state.find((s) => s.name === "fit-train-penultimate")!.shape,
    [TRAIN.count, manifest.model.shapes.penultimate.reduce((a, b) => a * b, 1)],
  );
  const error = await scopedFailure(Effect.gen(function* () {
    const copy = join(dir, "nan-copy");
    yield* Effect.promise(() => copyFolder(out, copy));
    const file = join(copy, "state/fit-train-penultimate.npy");
    const bytes = yield* Effect.promise(() => Deno.readFile(file));
    // The last float32 of the array: NaN.
    new DataView(bytes.buffer).setFloat32(bytes.length - 4, NaN, true);
    yield* Effect.promise(() => Deno.writeFile(file, bytes));
    yield* Effect.promise(() => rehash(copy));
    return yield* openFittedDetector(copy);
  }));
  assert.equal(error._tag, "FittedFolderDamaged");
  assert.match(error.message, /state\/fit-train-penultimate\.npy: value \d+ is NaN/);
});

const copyFolder = async (from: string, to: string) => {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.isDirectory) await copyFolder(join(from, entry.name), join(to, entry.name));
    else await Deno.copyFile(join(from, entry.name), join(to, entry.name));
  }
};

/** Re-hash a folder's state files and re-seal its manifest, as a forger would. */
const rehash = async (folder: string) => {
  const { sealManifest, FittedManifest } = await import("../lib/fitted/manifest.ts");
  const { sha256Hex } = await import("../lib/io/files.ts");
  const { Schema } = await import("effect");
  const json = JSON.parse(await Deno.readTextFile(join(folder, "detector.json")));
  for (const entry of json.state) {
    const bytes = await Deno.readFile(join(folder, entry.file.path));
    entry.file.sha256 = sha256Hex(bytes);
  }
  const { text } = sealManifest(Schema.decodeUnknownSync(FittedManifest)(json));
  await Deno.writeTextFile(join(folder, "detector.json"), text);
};

Deno.test("deno task score and evaluate-ood on a Mahalanobis folder give the in-process scores", async () => {
  const out = await mahalanobisFolder();
  await task("score", ["--detector", out, "test.npy", "--out", "scores.json"]);
  const scored = JSON.parse(await Deno.readTextFile(join(dir, "scores.json")));
  assert.equal(scored.rows.length, TEST.count);
  const expected = await inProcessScores("mahalanobis");
  scored.rows.forEach((row: { score: number }, i: number) =>
    assert.equal(row.score, expected[i], `image ${i}`)
  );
  // evaluate-ood: the metrics of the in-process scores of the same two sets.
  const evaluated = JSON.parse(
    await task("evaluate-ood", [
      "--detector",
      out,
      "--id",
      "test.npy",
      "--ood",
      "ood.npy",
      "--json",
    ]),
  );
  const oodExpected = await runScoped(Effect.gen(function* () {
    const { model, inputs } = yield* inProcess(MODELS.grood, "grood");
    const { spec } = yield* specOf("mahalanobis", model);
    const fitted = yield* makeDetector(spec).fit(inputs);
    return yield* fitted.score(inputs.validation.ood[0]!);
  }));
  const metrics = await Effect.runPromise(evaluateOod({ id: expected, ood: oodExpected }));
  assert.equal(evaluated.ood[0].ood, "ood.npy");
  for (const key of ["auroc", "auprIn", "auprOut", "fpr95IdKept", "fpr95OpenOod"] as const) {
    assert.equal(evaluated.ood[0][key], metrics[key], key);
  }
  assert.ok(metrics.auroc > 0.5, `Mahalanobis AUROC on inverted digits ${metrics.auroc}`);
});

Deno.test("the service answers a ViM folder's in-process scores", async () => {
  const served = await groodFolder("vim");
  const expected = await inProcessScores("vim");
  const count = 32;
  const npy = await Effect.runPromise(
    encodeNpy(imagesOf(TEST.start, count), [count, 28, 28], "test"),
  );
  const answer = await runScoped(Effect.gen(function* () {
    const service = yield* serveDetector(yield* openServedFitted(served), { port: 0 });
    return yield* Effect.promise(() =>
      fetch(`${service.url}/v1/score`, {
        method: "POST",
        headers: { "content-type": "application/x-npy" },
        body: npy as BodyInit,
      }).then((r) => r.json() as Promise<ScoreAnswer>)
    );
  }));
  assert.equal(answer.detector.kind, "vim");
  assert.deepEqual(
    answer.results.map((r) => r.score),
    Array.from(expected.subarray(0, count)),
  );
});

Deno.test("fit refuses state that does not reproduce its in-process scores, naming the image", async () => {
  const penultimate = { rows: 2, cols: 1, data: Float32Array.of(0, 1) };
  const logits = { rows: 2, cols: 1, data: Float32Array.of(0, 0) };
  const set = {
    images: { name: "val", count: 2, pixels: new Uint8Array(0) },
    features: { name: "val", count: 2, penultimate, logits },
  };
  // A scorer one ulp off on the second image, as a fit that is not deterministic would be.
  const persistence = {
    kinds: ["fake"],
    save: () => Effect.succeed([]),
    load: () => Effect.succeed(() => Effect.succeed(Float64Array.of(1, 2.0000000000000004))),
  };
  const check = (scores: Float64Array) =>
    checkReproduced("fake", persistence, [], {
      spec: { kind: "fake" },
      settings: {},
      model: {} as FeatureModel,
      modelKey: "0",
      classNames: [],
      names: { train: "train", validation: "val", ood: [] },
    }, [{ set, scores }]);
  const error = await scopedFailure(check(Float64Array.of(1, 2)));
  assert.equal(error._tag, "UnsupportedFittedDetector");
  assert.match(
    error.message,
    /"fake".*image 1 of "val" scores 2 in process and 2\.0000000000000004/,
  );
  await runScoped(check(Float64Array.of(1, 2.0000000000000004)));
});
