/**
 * The model-level entry (`fitOn`, `scoreImages`) against the folder path (`fitDetectorFolder`,
 * `openFittedDetector`, `scoreSource`): on the foreign ONNX fixture and MNIST subsets written
 * here, both give the same scores for every image of a source.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Data, Effect } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import type { Detector } from "../lib/detectors/detector.ts";
import { buildDetector } from "../lib/detectors/registry.ts";
import { fitDetectorFolder, fitOn, openFittedDetector, scoreSource } from "../lib/fitted/mod.ts";
import { writeNpyAtomic } from "../lib/io/npy.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { openModel } from "../lib/models/registry.ts";
import { parseSourceArgument } from "../lib/sources/argument.ts";
import { runScoped, scopedFailure } from "./with_compute.ts";

const foreign = join(fixtureDir("foreign"), "foreign.onnx");
const data = await Deno.makeTempDir({ prefix: "grood-fit-on-" });
const mnist = await Effect.runPromise(loadSplit("mnist", "train"));
const writeSubset = async (name: string, start: number, count: number) => {
  const write = (file: string, array: Uint8Array, shape: ReadonlyArray<number>) =>
    Effect.runPromise(writeNpyAtomic(join(data, file), array, shape));
  await write(`${name}.npy`, mnist.pixels.slice(start * 784, (start + count) * 784), [
    count,
    28,
    28,
  ]);
  await write(`${name}.labels.npy`, mnist.labels.slice(start, start + count), [count]);
};
await writeSubset("train", 0, 600);
await writeSubset("val", 600, 200);
await writeSubset("score", 800, 150);
const source = (argument: string, labelled = false) =>
  Effect.runPromise(parseSourceArgument(argument, data, { labelled }));
const train = await source("train.npy", true);
const validation = await source("val.npy", true);
const toScore = await source("score.npy");

for (const spec of [{ kind: "knn", k: 5 }, { kind: "mahalanobis" }, { kind: "energy" }]) {
  Deno.test(`fitOn + scoreImages give the scores of fit + score through a folder (${spec.kind})`, async () => {
    const out = join(data, `fitted-${spec.kind}`);
    await runScoped(fitDetectorFolder({ model: foreign, train, validation, detector: spec, out }));
    const viaFolder = await runScoped(
      Effect.flatMap(openFittedDetector(out), (detector) => scoreSource(detector, toScore)),
    );
    const viaFitOn = await runScoped(Effect.gen(function* () {
      const model = yield* openModel(foreign);
      const detector = yield* buildDetector(spec);
      const fitted = yield* fitOn(detector, { model, train, validation });
      assert.equal(fitted.sets.train.images.count, 600);
      assert.equal(fitted.sets.validation.images.count, 200);
      return yield* fitted.scoreImages(toScore);
    }));
    assert.equal(viaFitOn.length, 150);
    assert.equal(viaFolder.scores.length, 150);
    assert.deepEqual([...viaFitOn], [...viaFolder.scores]);
    // Not vacuous: the scores differ between images.
    assert.ok(new Set(viaFitOn).size > 100, `${spec.kind}: ${new Set(viaFitOn).size} distinct`);
  });
}

/** The same images as `name.npy`, in memory. */
const inMemory = (name: string, start: number, count: number, labelled: boolean) => ({
  name,
  count,
  pixels: mnist.pixels.slice(start * 784, (start + count) * 784),
  shape: { height: 28, width: 28, channels: 1 },
  ...(labelled ? { labels: mnist.labels.slice(start, start + count) } : {}),
});

Deno.test("fitOn + scoreImages on image sets in memory give the scores of the same sources", async () => {
  const spec = { kind: "mahalanobis" };
  const scores = (sets: boolean) =>
    runScoped(Effect.gen(function* () {
      const model = yield* openModel(foreign);
      const fitted = yield* fitOn(
        yield* buildDetector(spec),
        sets
          ? {
            model,
            train: inMemory("train", 0, 600, true),
            validation: inMemory("val", 600, 200, true),
          }
          : { model, train, validation },
      );
      return yield* fitted.scoreImages(sets ? inMemory("score", 800, 150, false) : toScore);
    }));
  const [fromSets, fromSources] = [await scores(true), await scores(false)];
  assert.deepEqual([...fromSets], [...fromSources]);
  // An image set at another size than the model's is refused, naming it.
  const error = await scopedFailure(Effect.gen(function* () {
    const model = yield* openModel(foreign);
    const wrong = {
      ...inMemory("small", 0, 600, true),
      shape: { height: 14, width: 56, channels: 1 },
    };
    return yield* fitOn(yield* buildDetector(spec), { model, train: wrong, validation });
  }));
  assert.equal((error as { _tag?: string })._tag, "FitDataInvalid", String(error));
  assert.match(String((error as { message?: string }).message), /small.*14×56×1/);
});

class Refused extends Data.TaggedError("Refused")<{ readonly why: string }> {}

Deno.test("fitOn fails with a user's detector's own error, and with an unlabelled training source", async () => {
  const refusing: Detector<Refused, never> = {
    name: "refusing",
    description: "fails its fit",
    fit: () => Effect.fail(new Refused({ why: "on purpose" })),
  };
  const error = await scopedFailure(Effect.gen(function* () {
    const model = yield* openModel(foreign);
    return yield* fitOn(refusing, { model, train, validation });
  }));
  assert.ok(error instanceof Refused, String(error));
  const letters = await source("ood-set:letters-val");
  const unlabelled = await scopedFailure(Effect.gen(function* () {
    const model = yield* openModel(foreign);
    return yield* fitOn(yield* buildDetector({ kind: "msp" }), {
      model,
      train: letters,
      validation,
    });
  }));
  assert.equal((unlabelled as { _tag?: string })._tag, "SourceUnlabelled", String(unlabelled));
});

Deno.test("cleanup", async () => {
  await Deno.remove(data, { recursive: true });
});
