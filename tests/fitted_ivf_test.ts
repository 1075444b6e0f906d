/**
 * Fitted-detector folders of GROOD with the IVF index (issues 26 and 27): fitted on 2,000 MNIST
 * training images with the mnist fixture model, opened and scored. The folder keeps the
 * index's k-means centroids (`state/ivf-centroids.npy`, listed with its sha256) and its nprobe,
 * so opening rebuilds the same lists without k-means: the folder's scores equal, bit for bit,
 * those of an IVF index built in memory the way GROOD's fit builds it; with nprobe = lists
 * they equal the exact folder's (to the IVF's float32 rounding of distances); a tampered
 * centroids file, an inconsistent manifest and an unknown index option are refused by name.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import { decodeStrict } from "../lib/decode.ts";
import { decodeNpy, writeNpyAtomic } from "../lib/io/npy.ts";
import { buildIndex, IndexSpec, ivfIndex } from "../lib/knn/mod.ts";
import { matrix } from "../lib/matrix.ts";
import { openModel } from "../lib/models/registry.ts";
import {
  fitDetectorFolder,
  FITTED_MANIFEST_FILE,
  type FittedManifest,
  type ImageBatch,
  openFittedDetector,
  readManifest,
  sealManifest,
} from "../lib/fitted/mod.ts";
import { parseSourceArgument } from "../lib/sources/argument.ts";
import { extractFeatures } from "../lib/stages/features.ts";
import { groodDescriptors } from "../lib/stages/gradient.ts";
import { knnScore } from "../lib/stages/score.ts";
import { runScoped, scopedFailure } from "./with_compute.ts";
import { copyFolder } from "./folder_copy.ts";
import { ivfCentroids } from "../lib/fitted/ivf_state.ts";

const MODEL = fileURLToPath(new URL("../fixtures/models/mnist", import.meta.url));
const LISTS = 16;
const dir = await Deno.makeTempDir({ prefix: "grood-fitted-ivf-" });
const mnist = await Effect.runPromise(loadSplit("mnist", "train"));
await Effect.runPromise(
  writeNpyAtomic(join(dir, "train.npy"), mnist.pixels.slice(0, 2000 * 784), [2000, 28, 28]),
);
await Effect.runPromise(
  writeNpyAtomic(join(dir, "train.labels.npy"), mnist.labels.slice(0, 2000), [2000]),
);
const train = await Effect.runPromise(
  parseSourceArgument("train.npy", dir, { labelled: true }),
);
const fit = (detector: unknown, out: string) =>
  runScoped(fitDetectorFolder({ model: MODEL, train, detector, out: join(dir, out) }));

const ivf = await fit({ kind: "grood", index: { kind: "ivf", lists: LISTS } }, "ivf");
const full = await fit(
  { kind: "grood", index: { kind: "ivf", lists: LISTS, nprobe: LISTS } },
  "ivf-full",
);
const exact = await fit({ kind: "grood" }, "exact");

/** 256 images no fit saw (one forward batch): MNIST training images 2,000 to 2,255. */
const images: ImageBatch = {
  count: 256,
  shape: { height: 28, width: 28, channels: 1 },
  pixels: mnist.pixels.slice(2000 * 784, 2256 * 784),
};
const scoresOf = (folder: string) =>
  runScoped(Effect.gen(function* () {
    const detector = yield* openFittedDetector(join(dir, folder));
    const scored = yield* detector.scoreImages(images);
    assert.equal(scored.invalid.length, 0);
    return scored.scores;
  }));

/** A state array of a folder, as float32 rows × cols. */
const stateOf = async (folder: string, name: string) => {
  const bytes = await Deno.readFile(join(dir, folder, `state/${name}.npy`));
  const array = await Effect.runPromise(decodeNpy(bytes, name));
  const [rows, cols] = array.shape.length === 1 ? [1, array.shape[0]!] : array.shape;
  return matrix(rows!, cols!, array.data as Float32Array);
};

Deno.test("an IVF folder keeps the index's centroids and nprobe, each listed and hashed", () => {
  const centroids = ivf.state.find((s) => s.name === "ivf-centroids");
  assert.ok(centroids !== undefined, JSON.stringify(ivf.state.map((s) => s.name)));
  assert.deepEqual(centroids.shape, [LISTS, 64]);
  assert.equal(centroids.file.path, "state/ivf-centroids.npy");
  assert.match(centroids.file.sha256, /^[0-9a-f]{64}$/);
  const { settings, spec } = ivf.detector;
  assert.equal(settings.index, "ivf");
  assert.equal(settings.lists, LISTS);
  // nprobe was calibrated at the fit; the folder keeps the value, so opening measures nothing.
  assert.equal(settings.nprobeCalibrated, true);
  assert.ok(Number(settings.nprobe) >= 1 && Number(settings.nprobe) <= LISTS);
  assert.deepEqual(spec.index, { kind: "ivf", lists: LISTS });
  assert.equal(spec.seed, 0);
  assert.equal(full.detector.settings.nprobe, LISTS);
  assert.equal(exact.state.some((s) => s.name === "ivf-centroids"), false);
});

Deno.test("an IVF folder's scores equal an IVF index built in memory as GROOD builds it, bit for bit", async () => {
  const folder = "ivf";
  const manifest: FittedManifest = await Effect.runPromise(readManifest(join(dir, folder)));
  const classes = await stateOf(folder, "class-prototypes-penultimate");
  const ood = (await stateOf(folder, "ood-prototype")).data;
  const descriptors = await stateOf(folder, "train-descriptors");
  const spec = manifest.detector.spec;
  const reference = await runScoped(Effect.gen(function* () {
    const model = yield* openModel(join(dir, folder, manifest.model.path));
    // One batch of 256, as `scoreImages` forwards them.
    const { features } = yield* extractFeatures(model, { name: "reference", ...images }, {
      batchSize: 256,
    });
    // GROOD's build: the spec's index and seed over the training descriptors (k-means and
    // nprobe calibration included).
    const index = yield* buildIndex(
      yield* decodeStrict(IndexSpec, "index")(spec.index),
      descriptors,
      { name: "GROOD training descriptors", seed: Number(spec.seed) },
    );
    yield* Effect.addFinalizer(() => Effect.sync(() => index.dispose()));
    assert.equal(index.settings.nprobe, manifest.detector.settings.nprobe);
    const queries = yield* groodDescriptors(
      features.penultimate,
      { classes, ood },
      Number(manifest.detector.settings.temperature),
    );
    return yield* knnScore(index, queries, Number(manifest.detector.settings.k));
  }));
  const scores = await scoresOf(folder);
  assert.equal(scores.length, 256);
  scores.forEach((s, i) =>
    assert.ok(Object.is(s, reference[i]), `image ${i}: ${s} ≠ ${reference[i]}`)
  );
});

Deno.test("an IVF folder probing every list scores as the exact folder (to float32 rounding)", async () => {
  // The two folders come from the same fit but for the index: the same descriptors.
  const descriptorsOf = (m: FittedManifest) =>
    m.state.find((s) => s.name === "train-descriptors")!.file.sha256;
  assert.equal(descriptorsOf(full), descriptorsOf(exact));
  const [probed, exactScores, calibrated] = [
    await scoresOf("ivf-full"),
    await scoresOf("exact"),
    await scoresOf("ivf"),
  ];
  // IVF's distances come from its centred float32 copy, re-ranked in float64 (lib/knn/ivf.ts):
  // equal to the exact index's to float32 rounding, the same neighbours.
  probed.forEach((s, i) => {
    const e = exactScores[i]!;
    assert.ok(Math.abs(s - e) <= 1e-6 * Math.max(1e-3, Math.abs(e)), `image ${i}: ${s} vs ${e}`);
  });
  // The calibrated nprobe is below the number of lists here, so its scores may differ; where
  // they do, the IVF score is the larger (a farther neighbour), never a closer one than exact.
  calibrated.forEach((s, i) => assert.ok(s >= exactScores[i]! * (1 - 1e-6), `image ${i}`));
});

/** A fresh copy of a fitted folder. */
const copyOf = (name: string, as: string) => copyFolder(join(dir, name), join(dir, as));
const openError = (folder: string) =>
  scopedFailure(Effect.map(openFittedDetector(folder), () => undefined));
/** Rewrite and seal detector.json again (as grood would): only the content checks remain. */
const resealed = async (folder: string, edit: (m: Record<string, unknown>) => unknown) => {
  const path = join(folder, FITTED_MANIFEST_FILE);
  const json = JSON.parse(await Deno.readTextFile(path));
  edit(json);
  await Deno.writeTextFile(path, sealManifest(json).text);
};

Deno.test("a tampered IVF centroids file is refused, naming it", async () => {
  const folder = await copyOf("ivf", "tampered");
  const path = join(folder, "state/ivf-centroids.npy");
  const bytes = await Deno.readFile(path);
  bytes[bytes.length - 1]! ^= 1;
  await Deno.writeFile(path, bytes);
  const error = await openError(folder);
  assert.equal(error._tag, "FittedFolderDamaged");
  assert.match(error.message, /state\/ivf-centroids\.npy: content differs from the manifest/);

  const missing = await copyOf("ivf", "missing");
  await Deno.remove(join(missing, "state/ivf-centroids.npy"));
  assert.match((await openError(missing)).message, /state\/ivf-centroids\.npy: missing/);
});

Deno.test("a resealed manifest whose IVF settings disagree with the state is refused by name", async () => {
  const lists = await copyOf("ivf", "lists");
  await resealed(
    lists,
    (m) => ((m.detector as { settings: { lists: number } }).settings.lists = 15),
  );
  const error = await openError(lists);
  assert.equal(error._tag, "FittedFolderDamaged");
  assert.match(error.message, /state\/ivf-centroids\.npy: expected \[15, 64\]/);

  const option = await copyOf("ivf", "option");
  await resealed(option, (m) => {
    (m.detector as { spec: { index: Record<string, unknown> } }).spec.index.nlist = 4;
  });
  const unknown = await openError(option);
  assert.equal(unknown._tag, "FittedFolderDamaged");
  assert.match(unknown.message, /detector\.json: .*nlist/);
});

Deno.test("a resealed nprobe the spec does not give, or beyond the lists, is refused by name", async () => {
  // The folder probing every list: its spec gives nprobe = lists.
  const given = await copyOf("ivf-full", "nprobe-given");
  await resealed(
    given,
    (m) => ((m.detector as { settings: { nprobe: number } }).settings.nprobe = 3),
  );
  const contradicted = await openError(given);
  assert.equal(contradicted._tag, "FittedFolderDamaged");
  assert.match(contradicted.message, /settings\.nprobe is 3; the spec's index gives 16/);

  const beyond = await copyOf("ivf", "nprobe-beyond");
  await resealed(
    beyond,
    (m) => ((m.detector as { settings: { nprobe: number } }).settings.nprobe = 17),
  );
  const capped = await openError(beyond);
  assert.equal(capped._tag, "FittedFolderDamaged");
  assert.match(capped.message, /settings\.nprobe 17 is more than the 16 lists/);
});

Deno.test("an unknown key in the IVF index spec is refused by name before any work", async () => {
  const error = await scopedFailure(
    fitDetectorFolder({
      model: MODEL,
      train,
      detector: { kind: "grood", index: { kind: "ivf", nlist: 4 } },
      out: join(dir, "refused"),
    }),
  );
  assert.match(error.message, /unknown key nlist/);
  await assert.rejects(Deno.stat(join(dir, "refused")), Deno.errors.NotFound);
});

Deno.test("IVF centroids given back rebuild the same lists without k-means; a wrong size is refused", async () => {
  const descriptors = await stateOf("ivf", "train-descriptors");
  const centroids = (await stateOf("ivf", "ivf-centroids")).data;
  const queries = matrix(50, 64, descriptors.data.slice(0, 50 * 64).map((v) => v * 0.9));
  const search = (options: Parameters<typeof ivfIndex>[1]) =>
    runScoped(Effect.gen(function* () {
      const index = yield* ivfIndex(descriptors, { lists: LISTS, nprobe: 2, ...options });
      yield* Effect.addFinalizer(() => Effect.sync(() => index.dispose()));
      const found = yield* index.search(queries, 3);
      return { ...found, centroids: index.centroids };
    }));
  const built = await search({ seed: 0 });
  assert.deepEqual(built.centroids, centroids);
  // Another seed and no Lloyd iteration: k-means would give other lists; the centroids rule.
  const other = await search({ seed: 7, iterations: 0 });
  assert.notDeepEqual(other.centroids, centroids);
  const given = await search({ seed: 7, iterations: 0, centroids });
  assert.deepEqual(given.centroids, centroids);
  assert.deepEqual(given.indices, built.indices);
  assert.deepEqual(given.distances, built.distances);
  const error = await scopedFailure(
    ivfIndex(descriptors, { lists: LISTS, centroids: centroids.subarray(1) }),
  );
  assert.equal(error._tag, "InvalidParameter");
  assert.match(error.message, /ivf centroids/);
});

Deno.test("saving takes the fitted index's own centroids (no second k-means); a wrong size is refused", async () => {
  const descriptors = await stateOf("ivf", "train-descriptors");
  const centroids = await stateOf("ivf", "ivf-centroids");
  const settings = { lists: LISTS, nprobe: 2 };
  const own = {
    name: "ivf-centroids",
    description: "the fitted index's",
    data: centroids.data,
    shape: [LISTS, 64],
  };
  const saved = await Effect.runPromise(ivfCentroids(settings, descriptors, own));
  assert.equal(saved.data, centroids.data, "the fitted array itself, not a rebuild");
  assert.match(saved.description, /nprobe 2/);
  const none = await Effect.runPromiseExit(ivfCentroids(settings, descriptors, undefined));
  assert.equal(none._tag, "Failure", "without them the save is refused");
  assert.match(String(none._tag === "Failure" ? none.cause : ""), /gave no centroids/);
  const wrong = await Effect.runPromiseExit(
    ivfCentroids(settings, descriptors, { ...own, shape: [LISTS - 1, 64] }),
  );
  assert.equal(wrong._tag, "Failure");
  assert.match(String(wrong._tag === "Failure" ? wrong.cause : ""), /the fit had 16 lists/);
});
