import assert from "node:assert/strict";
import { Effect } from "effect";
import {
  datasets,
  type DatasetSpec,
  loadSplit,
  loadSplitOf,
  readDataFile,
} from "../lib/data/datasets.ts";
import { CorruptDataset, DatasetFileMissing, decodeIdx, encodeIdx } from "../lib/io/idx.ts";
import { batches, IMAGE_SIZE } from "../lib/data/images.ts";
import { sha256Hex } from "../lib/io/files.ts";

const fixture = (name: string) => new URL(`../fixtures/idx/${name}`, import.meta.url).pathname;
const goodImagesSha = sha256Hex(await Deno.readFile(fixture("good-images.idx")));

/** A three-image dataset over the fixture files. */
function tinyDataset(images: string, labels: string, sha = goodImagesSha): DatasetSpec {
  const split = {
    images: { path: fixture(images), sha256: sha, count: 3 },
    labels: { path: fixture(labels), sha256: "", count: 3 },
  };
  return {
    name: "tiny",
    classNames: ["a", "b", "c"],
    source: "fixtures/idx",
    installHint: "they are committed",
    splits: { train: split, test: split },
  };
}

const failure = <E>(effect: Effect.Effect<unknown, E>) => Effect.runPromise(Effect.flip(effect));

Deno.test("decodeIdx() reads gzip and raw files of any rank", async () => {
  const labels = await Effect.runPromise(
    decodeIdx(await Deno.readFile(fixture("good-labels.idx.gz")), "labels"),
  );
  assert.deepEqual(labels.dims, [3]);
  assert.deepEqual(Array.from(labels.data), [0, 1, 2]);
  const cube = await Effect.runPromise(
    decodeIdx(encodeIdx([2, 1, 2, 2], new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), "cube"),
  );
  assert.deepEqual(cube.dims, [2, 1, 2, 2]);
});

Deno.test("readDataFile() names a missing file and how to get it", async () => {
  const error = await failure(
    readDataFile({ path: "/nonexistent/x.idx", sha256: "", count: 1 }, "images", "run setup"),
  );
  assert.ok(error instanceof DatasetFileMissing);
  assert.match(error.message, /"\/nonexistent\/x.idx".*run setup/);
});

for (
  const [file, problem] of [
    ["truncated-images.idx", /truncated/],
    ["wrong-magic-images.idx", /wrong magic/],
    ["wrong-type-images.idx", /not uint8/],
    ["damaged-images.idx.gz", /gzip stream is damaged/],
  ] as const
) {
  Deno.test(`readDataFile() rejects ${file} with CorruptDataset naming the file`, async () => {
    const error = await failure(
      readDataFile({ path: fixture(file), sha256: "", count: 3 }, "images", "", false),
    );
    assert.ok(error instanceof CorruptDataset, String(error));
    assert.ok(error.message.includes(file));
    assert.match(error.message, problem);
  });
}

Deno.test("readDataFile() rejects a file holding the wrong number of images", async () => {
  const error = await failure(
    readDataFile({ path: fixture("good-images.idx"), sha256: "", count: 5 }, "images", "", false),
  );
  assert.ok(error instanceof CorruptDataset);
  assert.match(error.message, /holds 3 images, expected 5/);
});

Deno.test("loadSplitOf() rejects a file whose sha256 differs from the record", async () => {
  const error = await failure(
    loadSplitOf(tinyDataset("good-images.idx", "good-labels.idx.gz", "0".repeat(64)), "test"),
  );
  assert.ok(error instanceof CorruptDataset);
  assert.match(error.message, /good-images.idx.*differs from the recorded 0000/);
});

Deno.test("loadSplitOf() rejects a label outside the classes", async () => {
  const spec = tinyDataset("good-images.idx", "bad-label-labels.idx");
  const error = await failure(
    loadSplitOf({
      ...spec,
      splits: {
        ...spec.splits,
        test: {
          ...spec.splits.test,
          labels: {
            ...spec.splits.test.labels,
            sha256: sha256Hex(await Deno.readFile(fixture("bad-label-labels.idx"))),
          },
        },
      },
    }, "test"),
  );
  assert.ok(error instanceof CorruptDataset);
  assert.match(error.message, /label 12 at index 1 is not below 3/);
});

Deno.test("loadSplit() loads MNIST and Fashion-MNIST with their recorded checksums", async () => {
  for (const name of ["mnist", "fashion-mnist"] as const) {
    const test = await Effect.runPromise(loadSplit(name, "test"));
    assert.equal(test.count, 10000);
    assert.equal(test.pixels.length, 10000 * IMAGE_SIZE);
    assert.equal(test.classNames, datasets[name].classNames);
    const perClass = new Array(10).fill(0);
    for (const label of test.labels) perClass[label]++;
    assert.ok(perClass.every((n) => n >= 800), `every class present: ${perClass}`);
    const sizes = [...batches(test, 4096)].map((b) => b.size);
    assert.deepEqual(sizes, [4096, 4096, 1808]);
  }
});

Deno.test("loadSplit() names the known datasets when given an unknown one", async () => {
  const error = await failure(loadSplit("cifar10", "test"));
  assert.match(error.message, /"cifar10".*mnist, fashion-mnist/);
});
