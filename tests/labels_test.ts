/**
 * Labels are explicit (issue 24, class 6): a fit's class order comes from the model's spec
 * (`classes`) or the training data's explicit names; class folders are matched by name (numbers
 * as numbers), never by position; `--val` must cover every class with at least
 * `VALIDATION_MIN_PER_CLASS` images; linked images are followed inside the folder or refused by
 * name, never skipped.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect, Stream } from "effect";
import sharp from "sharp";
import { loadSplit } from "../lib/data/datasets.ts";
import { fitDetectorFolder, type FitOptions } from "../lib/fitted/mod.ts";
import { inClassOrder, VALIDATION_MIN_PER_CLASS } from "../lib/fitted/fit_data.ts";
import { inMemorySource } from "../lib/sources/in_memory.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { writeNpyAtomic } from "../lib/io/npy.ts";
import { parseSourceArgument } from "../lib/sources/argument.ts";
import { openSource, readSource } from "../lib/sources/mod.ts";
import { runScoped, scopedFailure } from "./with_compute.ts";

const foreign = join(fixtureDir("foreign"), "foreign.onnx");
const dir = await Deno.makeTempDir({ prefix: "grood-labels-" });
const mnist = await Effect.runPromise(loadSplit("mnist", "train"));
const DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

/** Indices of MNIST training images per digit, from image `from` on. */
const byDigit = (from: number, perDigit: number) =>
  DIGITS.map((_, d) => {
    const out: Array<number> = [];
    for (let i = from; out.length < perDigit; i++) if (mnist.labels[i] === d) out.push(i);
    return out;
  });

/** A labelled PNG folder: digit d's images in the subfolder `name(d)` (none when undefined). */
const writeFolder = async (
  folder: string,
  images: ReadonlyArray<ReadonlyArray<number>>,
  name: (digit: number) => string | undefined,
) => {
  for (const [d, list] of images.entries()) {
    const sub = name(d);
    if (sub === undefined) continue;
    await Deno.mkdir(join(dir, folder, sub), { recursive: true });
    for (const i of list) {
      await sharp(mnist.pixels.subarray(i * 784, (i + 1) * 784), {
        raw: { width: 28, height: 28, channels: 1 },
      }).png().toFile(join(dir, folder, sub, `${i}.png`));
    }
  }
  return join(dir, folder);
};

const trainImages = byDigit(0, 30);
const valImages = byDigit(10_000, 8);
await writeFolder("train-1-10", trainImages, (d) => String(d + 1));
await writeFolder("val-1-10", valImages, (d) => String(d + 1));
await writeFolder("train-words", trainImages, (d) => DIGITS[d]);
await writeFolder("val-words", valImages, (d) => DIGITS[d]);
await writeFolder("val-no-7", valImages, (d) => (d === 7 ? undefined : String(d + 1)));
await writeFolder("val-one-each", valImages.map((l) => l.slice(0, 1)), (d) => String(d + 1));

const source = (argument: string) =>
  Effect.runPromise(parseSourceArgument(argument, dir, { labelled: true }));
const options = async (
  train: string,
  val: string,
  out: string,
  model = foreign,
): Promise<FitOptions> => ({
  model,
  train: await source(train),
  validation: await source(val),
  detector: { kind: "msp" },
  out: join(dir, out),
});

/** The foreign model with `classes` in its spec. */
const modelWithClasses = async (name: string, classes: ReadonlyArray<string>) => {
  const path = join(dir, `${name}.onnx`);
  await Deno.copyFile(foreign, path);
  const spec = JSON.parse(await Deno.readTextFile(foreign.replace(/\.onnx$/, ".spec.json")));
  await Deno.writeTextFile(join(dir, `${name}.spec.json`), JSON.stringify({ ...spec, classes }));
  return path;
};

Deno.test("class folders 1…10 are taken in numeric order, not 1, 10, 2, …", async () => {
  const manifest = await runScoped(fitDetectorFolder(await options("train-1-10", "val-1-10", "a")));
  assert.deepEqual(manifest.model.classNames, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]);
  // The folder of digit d is class d: the model's own accuracy (11.7% in code-point order).
  assert.ok(manifest.validation.accuracy > 0.9, String(manifest.validation.accuracy));
});

Deno.test("class folders whose order is not given are refused, naming the folder; the model's classes map them by name", async () => {
  const refused = await scopedFailure(
    fitDetectorFolder(await options("train-words", "val-words", "b")),
  );
  assert.equal(refused._tag, "FitDataInvalid");
  assert.match(refused.message, /"train-words": the order of its class folders \(eight, five,/);
  await assert.rejects(Deno.stat(join(dir, "b")));

  const named = await modelWithClasses("named", DIGITS);
  const manifest = await runScoped(
    fitDetectorFolder(await options("train-words", "val-words", "c", named)),
  );
  assert.deepEqual(manifest.model.classNames, DIGITS);
  assert.ok(manifest.validation.accuracy > 0.9, String(manifest.validation.accuracy));

  // A source spec's `classes` list gives the order too.
  await Deno.writeTextFile(
    join(dir, "train-words.json"),
    JSON.stringify({ kind: "folder", path: "train-words", labelled: true, classes: DIGITS }),
  );
  const listed = await runScoped(
    fitDetectorFolder(await options("train-words.json", "val-words", "d")),
  );
  assert.ok(listed.validation.accuracy > 0.9, String(listed.validation.accuracy));

  // A folder that is not one of the model's classes is refused, naming it.
  const numbers = await modelWithClasses("numbers", DIGITS.map((_, d) => String(d)));
  const unknown = await scopedFailure(
    fitDetectorFolder(await options("train-1-10", "val-1-10", "e", numbers)),
  );
  assert.equal(unknown._tag, "CorruptDataset");
  assert.match(unknown.message, /train-1-10\/10.*class folder "10" is not among the classes/);
});

Deno.test(".npy labels are output indices: they keep their numbers under the model's class names", async () => {
  const write = async (name: string, start: number, count: number) => {
    const images = mnist.pixels.slice(start * 784, (start + count) * 784);
    await Effect.runPromise(writeNpyAtomic(join(dir, `${name}.npy`), images, [count, 28, 28]));
    const labels = mnist.labels.slice(start, start + count);
    await Effect.runPromise(writeNpyAtomic(join(dir, `${name}.labels.npy`), labels, [count]));
  };
  await write("train", 0, 300);
  await write("val", 300, 200);
  const named = await modelWithClasses("named-npy", DIGITS);
  const manifest = await runScoped(
    fitDetectorFolder(await options("train.npy", "val.npy", "n", named)),
  );
  assert.deepEqual(manifest.model.classNames, DIGITS);
  assert.ok(manifest.validation.accuracy > 0.9, String(manifest.validation.accuracy));
});

Deno.test("a --val folder missing a class is refused, naming the class", async () => {
  const error = await scopedFailure(
    fitDetectorFolder(await options("train-1-10", "val-no-7", "f")),
  );
  assert.equal(error._tag, "FitDataInvalid");
  assert.match(error.message, /"val-no-7".*too few of class "8" \(0\)/);
  await assert.rejects(Deno.stat(join(dir, "f")));
});

Deno.test(`a --val with fewer than ${VALIDATION_MIN_PER_CLASS} images of a class cannot set the threshold`, async () => {
  const error = await scopedFailure(
    fitDetectorFolder(await options("train-1-10", "val-one-each", "g")),
  );
  assert.equal(error._tag, "FitDataInvalid");
  assert.match(error.message, /at least 5 images of every class.*"1" \(1\), "2" \(1\)/);
});

Deno.test("linked images are followed inside the folder; a link leading outside is refused by name", async () => {
  const shape = { height: 28, width: 28, channels: 1 } as const;
  const read = (path: string) =>
    Effect.runPromise(
      Effect.flatMap(
        openSource({ kind: "folder", path, labelled: true }, { baseDir: dir, shape }),
        readSource,
      ),
    );
  const base = await read("val-1-10");
  const first = join(dir, "val-1-10/1", [...Deno.readDirSync(join(dir, "val-1-10/1"))][0]!.name);
  await Deno.symlink(first, join(dir, "val-1-10/2/linked.png"));
  const linked = await read("val-1-10");
  assert.equal(linked.count, base.count + 1);
  assert.equal(Array.from(linked.labels!).filter((l) => l === 1).length, 9);
  await Deno.remove(join(dir, "val-1-10/2/linked.png"));

  const outside = join(dir, "outside.png");
  await Deno.copyFile(first, outside);
  await Deno.symlink(outside, join(dir, "val-1-10/3/outside.png"));
  const error = await Effect.runPromise(Effect.flip(
    openSource({ kind: "folder", path: "val-1-10", labelled: true }, { baseDir: dir, shape }),
  ));
  assert.equal(error._tag, "CorruptDataset");
  assert.match(error.message, /val-1-10\/3\/outside\.png.*outside the folder/);
  await Deno.remove(join(dir, "val-1-10/3/outside.png"));
});

Deno.test("cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a source held in memory is renumbered into the fit's class order when read whole too", async () => {
  // Classes named "b", "a" in the source; the fit's order is "a", "b".
  const opened = inMemorySource({
    description: "two images",
    count: 2,
    shape: { height: 1, width: 1, channels: 1 },
    pixels: Uint8Array.from([10, 20]),
    labels: Uint8Array.from([0, 1]),
    classNames: ["b", "a"],
  }, { baseDir: "/", shape: { height: 1, width: 1, channels: 1 } });
  const argument = { argument: "x", spec: { kind: "folder", path: "x" }, baseDir: "/" } as const;
  const ordered = await Effect.runPromise(
    inClassOrder(argument as unknown as Parameters<typeof inClassOrder>[0], opened, ["a", "b"]),
  );
  const read = await Effect.runPromise(readSource(ordered));
  assert.deepEqual([...read.labels!], [1, 0]);
  const streamed: Array<number> = [];
  await Effect.runPromise(
    Stream.runForEach(ordered.batches(1), (b) => Effect.sync(() => streamed.push(b.labels![0]!))),
  );
  assert.deepEqual(streamed, [1, 0]);
});
