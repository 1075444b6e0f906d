/**
 * The library's public door, used as a script or notebook would (helper b23): a user's own
 * detector in a pipeline spec, `Fitted.fitOn` on image sets in memory, k-NN indexes, saving an
 * index or a classifier into a folder, settings' error messages. Each test is a case that passed
 * a wrong result off as right, crashed, touched a user's files or misnamed a value before its fix.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect, Schema } from "effect";
import {
  Classifier,
  Compute,
  Data,
  Detectors,
  Fitted,
  GroodLive,
  Knn,
  Models,
  Pipeline,
} from "../mod.ts";
import type { ExtractedSet } from "../lib/detectors/detector.ts";
import { tinyBenchmark } from "./tiny_benchmark.ts";

const services = GroodLive({ backend: "wasm", cacheDir: null });

/**
 * A folder holding only the user's `files`: `save` into it is refused (OutputFolderRefused
 * naming it) and the folder still holds exactly those files, unchanged.
 */
async function refusedKeepingFiles(
  folder: string,
  files: Readonly<Record<string, string>>,
  save: (
    folder: string,
  ) => Effect.Effect<unknown, { readonly _tag: string; readonly message: string }>,
): Promise<void> {
  await Deno.mkdir(folder);
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(join(folder, name), text);
  }
  const refused = await Effect.runPromise(Effect.flip(save(folder)));
  assert.equal(refused._tag, "OutputFolderRefused", String(refused));
  assert.ok(refused.message.includes(folder), refused.message);
  for (const [name, text] of Object.entries(files)) {
    assert.equal(await Deno.readTextFile(join(folder, name)), text, name);
  }
  assert.deepEqual(
    [...Deno.readDirSync(folder)].map((e) => e.name).sort(),
    Object.keys(files).sort(),
  );
}
const { dir, path } = await tinyBenchmark();

/** A user's detector whose scores are `scores(n)` for a set of n images. */
const userDetector = <K extends string>(kind: K, scores: (n: number) => Float64Array) =>
  Detectors.defineDetector({
    kind,
    title: kind,
    family: "baseline",
    source: "this test",
    reproduce: false,
    options: Schema.Struct({}),
    make: (_options, name) => ({
      name,
      description: "a fixed score per image",
      fit: () =>
        Effect.succeed({
          score: (set: ExtractedSet) => Effect.sync(() => scores(set.features.count)),
          settings: {},
          tuned: [],
          dispose: () => {},
        }),
    }),
  });

Deno.test("a user's detector returning one score too few or too many is refused, naming the set and both counts", async () => {
  for (const [kind, extra] of [["one-short", -1], ["one-over", 1]] as const) {
    // Ascending scores: without the check the metrics ran over the wrong images and were
    // reported (AUROC 0.5 on "copy", the ID set itself, whichever images were dropped).
    const mine = userDetector(kind, (n) => Float64Array.from({ length: n + extra }, (_, i) => i));
    const error = await Effect.runPromise(Effect.flip(
      Pipeline.runPipelineJson({ benchmark: path, detectors: [{ kind }] }, {
        detectors: [...Detectors.DETECTORS, mine],
      }).pipe(Effect.provide(services)),
    ));
    assert.equal(error._tag, "FeatureSizeMismatch", String(error));
    assert.match(error.message, new RegExp(`"tiny/test" in ${kind}`));
    assert.match(error.message, new RegExp(`number of scores it returned is ${120 + extra}`));
    assert.match(error.message, /expected 120/);
  }
  // Not vacuous: the same detector with one score per image runs.
  const right = userDetector("one-each", (n) => Float64Array.from({ length: n }, (_, i) => i));
  const result = await Effect.runPromise(
    Pipeline.runPipelineJson({ benchmark: path, detectors: [{ kind: "one-each" }] }, {
      detectors: [...Detectors.DETECTORS, right],
    }).pipe(Effect.provide(services)),
  );
  assert.equal(result.runs[0]!.scores.get("id")!.length, 120);
});

Deno.test("two detectors of a spec with one name (KNN k = 5 and k = 50) are refused before any is fitted; named, both run", async () => {
  // Before: two summary rows both called "KNN", which the reader could not tell apart.
  const twice = [{ kind: "knn", k: 5 }, { kind: "knn", k: 50 }];
  const error = await Effect.runPromise(Effect.flip(
    Pipeline.runPipelineJson({ benchmark: path, detectors: twice }).pipe(Effect.provide(services)),
  ));
  assert.equal(error._tag, "InvalidInput", String(error));
  assert.match(error.message, /named "KNN", as detectors\[0\] is.*at detectors\[1\]/);
  const named = [{ kind: "knn", k: 5 }, { kind: "knn", k: 50, name: "KNN k=50" }];
  const result = await Effect.runPromise(
    Pipeline.runPipelineJson({ benchmark: path, detectors: named }).pipe(Effect.provide(services)),
  );
  assert.deepEqual(result.runs.map((r) => [r.detector, r.settings["k"]]), [
    ["KNN", 5],
    ["KNN k=50", 50],
  ]);
});

Deno.test("fitOn an in-memory training set of 130,000 images without class names numbers its classes, not a stack overflow", async () => {
  // 130,000 labels spread into Math.max overflowed the stack: a RangeError, before any pass.
  // The failure wanted here comes after the class names: the training set is read, then refused
  // by the model's input checks (a label the model does not have), naming the image.
  const count = 130_000;
  const labels = new Uint8Array(count);
  labels[count - 1] = 12;
  const test = await Effect.runPromise(Data.loadSplit("mnist", "test"));
  const validation = {
    name: "validation",
    count: 100,
    pixels: test.pixels.slice(0, 100 * 784),
    labels: test.labels.slice(0, 100),
  };
  const error = await Effect.runPromise(Effect.flip(
    Effect.scoped(Effect.gen(function* () {
      const model = yield* Models.openModel("fixtures/models/mnist");
      const detector = yield* Detectors.buildDetector({ kind: "msp" });
      const train = { name: "big", count, pixels: new Uint8Array(count * 784), labels };
      return yield* Fitted.fitOn(detector, { model, train, validation });
    })).pipe(Effect.provide(services)),
  ));
  assert.equal(error._tag, "InvalidImageSet", String(error));
  assert.match(error.message, /"big": label 12 of image 129999/);
});

Deno.test("saveIndex into a folder of the user's files is refused and every file kept; grood's own saved index is replaced whole", async () => {
  const base = await Deno.makeTempDir({ prefix: "grood-save-index-" });
  const index = Effect.runSync(Knn.exactIndex(Data.matrix(2, 2, [0, 0, 1, 1])));
  const other = Effect.runSync(Knn.exactIndex(Data.matrix(3, 2, [0, 0, 1, 1, 5, 5])));
  try {
    // The user's folder holds files of the names a saved index writes: they were overwritten.
    await refusedKeepingFiles(
      join(base, "mine"),
      { "points.npy": "my own points", "index.json": '{"mine": true}' },
      (folder) => Knn.saveIndex(index, folder),
    );
    // Not vacuous: a new folder is written, and saved again (another index) replaced whole.
    const saved = join(base, "saved");
    await Effect.runPromise(Knn.saveIndex(index, saved));
    await Effect.runPromise(Knn.saveIndex(other, saved));
    const loaded = await Effect.runPromise(Knn.loadIndex(saved));
    assert.equal(loaded.size, 3);
    loaded.dispose();
  } finally {
    index.dispose();
    other.dispose();
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("saveClassifier into a folder of the user's files (another model) is refused and every file kept", async () => {
  const base = await Deno.makeTempDir({ prefix: "grood-save-classifier-" });
  try {
    // A user's tfjs model: saving grood's CNN there replaced its model.json and weights.
    const save = (dir: string) =>
      Effect.gen(function* () {
        const { tf } = yield* Compute;
        const { net, metadata } = yield* Classifier.loadClassifier(tf, "fixtures/models/mnist");
        const { weightsSha256: _, ...rest } = metadata;
        return yield* Effect.ensuring(
          Classifier.saveClassifier(net, dir, rest),
          Effect.sync(() => net.dispose()),
        );
      }).pipe(Effect.provide(services));
    await refusedKeepingFiles(join(base, "their-model"), {
      "model.json": '{"modelTopology": {}}',
      "weights.bin": "their weights",
      "group1-shard1of1.bin": "more of their weights",
    }, save);
    // Not vacuous: a new folder is written, and a model grood saved is saved over again.
    const mine = join(base, "mine");
    const first = await Effect.runPromise(save(mine));
    const again = await Effect.runPromise(save(mine));
    assert.equal(again.weightsSha256, first.weightsSha256);
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});

Deno.test("a k-NN index refuses a Matrix literal holding fewer values than its rows × cols, for its points and its queries", async () => {
  const points = Data.matrix(3, 2, [0, 0, 1, 1, 2, 2]);
  const short = { rows: 2, cols: 2, data: new Float32Array([2, 2]) }; // row 1 is missing
  const builds: Record<string, Effect.Effect<Knn.NearestNeighbourIndex, unknown>> = {
    exact: Knn.exactIndex(points),
    ivf: Knn.ivfIndex(points, { lists: 1 }),
    hnsw: Knn.hnswIndex(points, { seed: 1 }),
  };
  for (const [kind, build] of Object.entries(builds)) {
    const index = await Effect.runPromise(build);
    try {
      // Before: the missing query row was answered, point 0 at distance 0.
      const error = await Effect.runPromise(Effect.flip(index.search(short, 1)));
      assert.equal(error._tag, "InvalidParameter", `${kind}: ${error}`);
      assert.match(error.message, /query matrix \(2×2\) = 2: expected 4 \(rows × cols\)/);
      // Not vacuous: the one full row is searched, nearest point 2.
      const one = await Effect.runPromise(index.search({ ...short, rows: 1 }, 1));
      assert.deepEqual([...one.indices], [2], kind);
    } finally {
      index.dispose();
    }
  }
  const shortPoints = { rows: 3, cols: 2, data: new Float32Array(4) };
  const refusals: ReadonlyArray<
    Effect.Effect<Knn.NearestNeighbourIndex, { _tag: string } & Error>
  > = [
    Knn.exactIndex(shortPoints),
    Knn.ivfIndex(shortPoints, { lists: 1 }),
    Knn.hnswIndex(shortPoints, { seed: 1 }),
  ];
  for (const build of refusals) {
    const error = await Effect.runPromise(Effect.flip(build));
    assert.equal(error._tag, "InvalidParameter", String(error));
    assert.match(error.message, /point matrix \(3×2\) = 4: expected 6 \(rows × cols\)/);
  }
});

Deno.test("Knn.buildIndex decodes its spec strictly: an unknown kind or option given from untyped code is refused by name", async () => {
  const points = Data.matrix(4, 1, [0, 1, 2, 3]);
  const build = (spec: unknown) =>
    Knn.buildIndex(spec as Knn.IndexSpec, points, { name: "four points", seed: 1 });
  // Before: a TypeError (reading 'build' of undefined), and `M` (for `m`) ignored, M = 16 used.
  const cases = [
    [{ kind: "exactt" }, /unknown kind "exactt".*did you mean exact\?/],
    [{ kind: "hnsw", M: 4 }, /unknown key M in index spec; did you mean m\?/],
    [{ kind: "ivf", nprob: 2 }, /unknown key nprob in index spec; did you mean nprobe\?/],
  ] as const;
  for (const [spec, message] of cases) {
    const error = await Effect.runPromise(Effect.flip(build(spec)));
    assert.equal(error._tag, "InvalidParameter", String(error));
    assert.match(error.message, /Cannot use index spec = /);
    assert.match(error.message, message);
  }
  // Not vacuous: the option spelt right is used.
  const index = await Effect.runPromise(build({ kind: "hnsw", m: 4 }));
  assert.equal(index.settings["M"], 4);
  index.dispose();
});

Deno.test("a NaN or infinite setting is named as such in the error, not as null", async () => {
  // JSON.stringify shows NaN and ±Infinity as null: "threads = null", "temperature = null".
  const points = Data.matrix(2, 1, [0, 1]);
  for (const value of [Number.NaN, Infinity, -Infinity]) {
    const error = await Effect.runPromise(
      Effect.flip(Knn.exactIndex(points, { threads: value })),
    );
    assert.equal(error._tag, "InvalidParameter", String(error));
    assert.match(error.message, new RegExp(`threads = ${value}: expected a whole number ≥ 1`));
  }
  const model = Effect.scoped(Effect.gen(function* () {
    const model = yield* Models.openModel("fixtures/models/mnist");
    const test = yield* Data.loadSplit("mnist", "test");
    const set = { name: "digits", count: 20, pixels: test.pixels.slice(0, 20 * 784) };
    const labelled = { ...set, labels: test.labels.slice(0, 20) };
    return yield* Fitted.fitOn(Detectors.energy({ temperature: Number.NaN }), {
      model,
      train: labelled,
      validation: labelled,
    });
  })).pipe(Effect.provide(services));
  const error = await Effect.runPromise(Effect.flip(model));
  assert.equal(error._tag, "InvalidSetting", String(error));
  assert.match(error.message, /temperature = NaN, expected a positive number/);
  // Other values are shown as JSON still.
  assert.match(
    new Detectors.InvalidSetting({ detector: "d", setting: "s", value: "hot", expected: "x" })
      .message,
    /s = "hot", expected x/,
  );
  // A non-finite number inside a list is shown as itself, not as JSON's null.
  assert.match(
    new Detectors.InvalidSetting({
      detector: "d",
      setting: "epsilonGrid",
      value: [0.1, Number.NaN, -Infinity, { t: Infinity }],
      expected: "x",
    }).message,
    /epsilonGrid = \[0\.1,NaN,-Infinity,\{"t":Infinity\}\], expected x/,
  );
});

Deno.test("cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
