import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect } from "effect";
import sharp from "sharp";
import {
  BUILTIN_BENCHMARKS,
  loadBenchmark,
  readBenchmark,
  splitIdTest,
} from "../lib/benchmarks/load.ts";
import { encodeIdx } from "../lib/io/idx.ts";
import type { LabelledSet } from "../lib/data/images.ts";
import { oodSets } from "../lib/data/ood/mod.ts";
import { sha256Hex } from "../lib/io/files.ts";

const failure = <E>(effect: Effect.Effect<unknown, E>) => Effect.runPromise(Effect.flip(effect));

Deno.test("the built-in benchmark files fit only on validation-OOD sets, never on a test set", async () => {
  for (const name of BUILTIN_BENCHMARKS) {
    const benchmark = await Effect.runPromise(readBenchmark(name));
    assert.equal(benchmark.name, name);
    const testNames = new Set(benchmark.oodTest.map((s) => s.name));
    for (const set of benchmark.oodValidation) {
      assert.equal(set.source.kind, "ood-set");
      if (set.source.kind === "ood-set") assert.equal(oodSets[set.source.name].role, "validation");
      assert.ok(!testNames.has(set.name));
    }
    assert.ok(benchmark.oodTest.some((s) => s.group === "near"));
    assert.ok(benchmark.oodTest.some((s) => s.group === "far"));
    // The ID dataset is never its own OOD set.
    const id = benchmark.id.train;
    assert.ok(id.kind === "dataset");
    assert.ok(
      !benchmark.oodTest.some((s) => s.source.kind === "dataset" && s.source.name === id.name),
    );
  }
});

/**
 * sha256 of every array the former code registry (`lib/data/benchmarks.ts`, deleted when the
 * benchmarks became files) loaded, recorded from it: the files must load the same images in
 * the same order with the same splits, so every published number stays valid.
 */
const RECORDED: Record<string, Record<string, string>> = {
  "mnist": {
    "train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train.labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "idTest": "77ffc0e6fa2290f52768cf91815a48227e9b2d8728925ae9b1782ffa230b633f",
    "idTest.labels": "725949c1efeb4e759f2e9cd22223d973266b480abd6ed578d20c6ce272992baf",
    "idValidation": "11fadef499d1126ad009ab2f2854fe7b2e31d841fc542eb57e7e08034986a79f",
    "idValidation.labels": "40a22b265f12732841fc77c0ed4aaf033c6dcc592d2224a80c1e3c2888ba84f8",
    "near fashion-mnist": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
    "near letters": "db7a6df39c8cedc8713259aa6f44534cf66f3b465991d95fe01d23cf7ff4a43a",
    "far textures": "adda1902814f6915d03bab3ebde90c7aff468326c68c6beb77f1f9d2289c8b6b",
    "far objects": "b66d54ebdff56e543fdf3717dfc41af159b545e85e386662dc1efa01debe5b6c",
    "far photos": "225edcb3be43d5e1a046132d03027e84b11661f29105ee80190b26fa73a87a69",
    "letters-val": "bafd808d0e1ac81c759d2ed8ead782c32f84e3333e0e7e4ed286b9f01bdddb24",
    "textures-val": "b44365cc486827e38272b787dbc01e14b2b07e431490e225e873e134768eaebb",
  },
  "fashion-mnist": {
    "train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
    "train.labels": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
    "idTest": "8ec68c1b973a10c406ff54c5240d9475091d83c70461ebee8d0fa743508895a0",
    "idTest.labels": "8f3a028453228e97855a4a10f282ec789b92577c0b42f762eeec181d5aef2167",
    "idValidation": "c90de43aee8ca43e5b724b7ba7a6ea86e5334d773a48365af348e14c85540c49",
    "idValidation.labels": "e843973d96bc8f9f79e2a99becccafd3b414eb096ff5da445647503f9f5b40b7",
    "near mnist": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "near letters": "db7a6df39c8cedc8713259aa6f44534cf66f3b465991d95fe01d23cf7ff4a43a",
    "far textures": "adda1902814f6915d03bab3ebde90c7aff468326c68c6beb77f1f9d2289c8b6b",
    "far objects": "b66d54ebdff56e543fdf3717dfc41af159b545e85e386662dc1efa01debe5b6c",
    "far photos": "225edcb3be43d5e1a046132d03027e84b11661f29105ee80190b26fa73a87a69",
    "letters-val": "bafd808d0e1ac81c759d2ed8ead782c32f84e3333e0e7e4ed286b9f01bdddb24",
    "textures-val": "b44365cc486827e38272b787dbc01e14b2b07e431490e225e873e134768eaebb",
  },
};

Deno.test("the built-in benchmark files load byte-identical arrays to the former registry", async () => {
  for (const name of BUILTIN_BENCHMARKS) {
    const data = await Effect.runPromise(loadBenchmark(name));
    const got: Record<string, string> = {};
    for (const split of ["train", "idTest", "idValidation"] as const) {
      got[split] = sha256Hex(data[split].pixels);
      got[`${split}.labels`] = sha256Hex(data[split].labels);
    }
    for (const set of data.oodTest) {
      got[`${set.group} ${set.images.name}`] = sha256Hex(set.images.pixels);
    }
    for (const set of data.oodValidation) got[set.name] = sha256Hex(set.pixels);
    assert.deepEqual(got, RECORDED[name], name);
    assert.deepEqual(
      [data.train.name, data.idTest.name, data.idValidation.name],
      [`${name}/train`, `${name}/test`, `${name}/test/validation`],
    );
    assert.equal(data.idTest.count + data.idValidation.count, 10000);
    // The streamed checksum covers every set, and differs between sets.
    assert.equal(new Set(Object.values(data.checksums)).size, Object.keys(data.checksums).length);
  }
});

Deno.test("splitIdTest() divides the ID test split into disjoint validation and test parts", () => {
  const count = 50;
  const test: LabelledSet = {
    name: "toy/test",
    count,
    pixels: Uint8Array.from({ length: count * 784 }, (_, i) => Math.floor(i / 784)),
    labels: Uint8Array.from({ length: count }, (_, i) => i % 10),
    classNames: ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
  };
  const { idValidation, idTest } = splitIdTest(test, { count: 10, seed: 0 });
  assert.equal(idValidation.count, 10);
  assert.equal(idTest.count, 40);
  const ids = (set: LabelledSet) =>
    Array.from({ length: set.count }, (_, i) => set.pixels[i * 784]!);
  const all = [...ids(idValidation), ...ids(idTest)].sort((a, b) => a - b);
  assert.deepEqual(all, Array.from({ length: count }, (_, i) => i));
  assert.deepEqual(ids(splitIdTest(test, { count: 10, seed: 0 }).idValidation), ids(idValidation));
  assert.equal(idTest.labels[0], ids(idTest)[0]! % 10, "labels follow their images");
});

/** A user's own benchmark in a temporary folder: labelled PNG folders, an IDX OOD set. */
async function userBenchmark(overrides: Record<string, unknown> = {}): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "grood-bench-" });
  const grey = (v: number) =>
    sharp(new Uint8Array(28 * 28).fill(v), { raw: { width: 28, height: 28, channels: 1 } })
      .png().toBuffer();
  for (const split of ["train", "test"]) {
    for (const cls of ["b-dark", "a-light"]) {
      await Deno.mkdir(join(dir, split, cls), { recursive: true });
      for (let i = 0; i < 3; i++) {
        const value = cls === "a-light" ? 200 + i : 10 + i;
        await Deno.writeFile(join(dir, split, cls, `${i}.png`), await grey(value));
      }
    }
  }
  await Deno.writeFile(
    join(dir, "noise.idx"),
    encodeIdx([4, 28, 28], Uint8Array.from({ length: 4 * 784 }, (_, i) => (i * 7) % 256)),
  );
  const spec = {
    name: "toy",
    model: { kind: "onnx", path: "model.onnx", taps: { penultimate: "features" } },
    id: {
      train: { kind: "folder", path: "train", labelled: true },
      test: { kind: "folder", path: "test", labelled: true },
      validation: { kind: "held-out-of-test", count: 2, seed: 1 },
    },
    oodTest: [{ name: "noise", group: "far", source: { kind: "idx", images: "noise.idx" } }],
    oodValidation: [],
    ...overrides,
  };
  await Deno.writeTextFile(join(dir, "toy.json"), JSON.stringify(spec));
  return join(dir, "toy.json");
}

Deno.test("a user's benchmark file loads folders and IDX with paths relative to the file", async () => {
  const path = await userBenchmark();
  const data = await Effect.runPromise(loadBenchmark(path));
  assert.equal(data.spec.model.kind, "onnx");
  assert.deepEqual(data.train.classNames, ["a-light", "b-dark"], "sorted folder names");
  assert.equal(data.train.count, 6);
  assert.deepEqual(Array.from(data.train.labels), [0, 0, 0, 1, 1, 1]);
  assert.equal(data.train.pixels[0], 200);
  assert.equal(data.train.pixels[3 * 784], 10);
  assert.equal(data.idValidation.count, 2);
  assert.equal(data.idTest.count, 4);
  assert.equal(data.oodTest[0]!.images.name, "noise");
  assert.equal(data.oodTest[0]!.images.pixels[1], 7);
  await Deno.remove(join(path, ".."), { recursive: true });
});

Deno.test("benchmark files are decoded strictly: an unknown key is an error naming the file", async () => {
  const path = await userBenchmark({ oodTests: [] });
  const error = await failure(readBenchmark(path));
  assert.equal(error._tag, "BenchmarkFileInvalid");
  assert.match(error.message, /toy\.json/);
  assert.match(error.message, /oodTests/);
  const nested = await userBenchmark({
    oodTest: [{ name: "n", group: "far", source: { kind: "idx", images: "noise.idx", x: 1 } }],
  });
  assert.equal((await failure(readBenchmark(nested)))._tag, "BenchmarkFileInvalid");
  const badGroup = await userBenchmark({
    oodTest: [{ name: "n", group: "middle", source: { kind: "idx", images: "noise.idx" } }],
  });
  assert.match((await failure(readBenchmark(badGroup))).message, /group/);
});

Deno.test("a test OOD set listed for validation is refused before anything is read", async () => {
  const source = { kind: "idx", images: "noise.idx" };
  const path = await userBenchmark({
    oodTest: [{ name: "noise", group: "far", source }],
    oodValidation: [{ name: "noise-val", source: { ...source, images: "./noise.idx" } }],
  });
  const error = await failure(loadBenchmark(path));
  assert.equal(error._tag, "TestSetInValidation");
  assert.match(error.message, /noise-val/);
  const generated = await userBenchmark({
    oodValidation: [{ name: "l", source: { kind: "ood-set", name: "letters" } }],
  });
  assert.equal((await failure(loadBenchmark(generated)))._tag, "TestSetInValidation");
});

Deno.test("an unknown benchmark names the built-in ones; an unlabelled ID set is refused", async () => {
  const error = await failure(readBenchmark("cifar10"));
  assert.equal(error._tag, "BenchmarkNotFound");
  assert.match(error.message, /mnist, fashion-mnist/);
  const path = await userBenchmark({
    id: {
      train: { kind: "idx", images: "noise.idx" },
      test: { kind: "idx", images: "noise.idx" },
      validation: { kind: "held-out-of-test", count: 1, seed: 0 },
    },
  });
  const unlabelled = await failure(loadBenchmark(path));
  assert.equal(unlabelled._tag, "SourceUnlabelled");
  assert.match(unlabelled.message, /noise\.idx/);
});
