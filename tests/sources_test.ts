import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect, Stream } from "effect";
import sharp from "sharp";
import { encodeIdx } from "../lib/io/idx.ts";
import { loadGeneratedSet, loadOodSet } from "../lib/data/ood/mod.ts";
import { writeNpyAtomic } from "../lib/io/npy.ts";
import { loadWithPipeAt } from "./named_pipe.ts";
import { mulberry32 } from "../lib/random.ts";
import {
  GREY_28,
  type ImageShape,
  openSource,
  readSource,
  type SourceSpec,
} from "../lib/sources/mod.ts";

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect);
const failure = <E>(effect: Effect.Effect<unknown, E>) => Effect.runPromise(Effect.flip(effect));
const read = (spec: SourceSpec, baseDir: string, shape: ImageShape = GREY_28, batchSize = 64) =>
  Effect.flatMap(openSource(spec, { baseDir, shape }), (s) => readSource(s, { batchSize }));

const COUNT = 200;
const RGB_28: ImageShape = { height: 28, width: 28, channels: 3 };

/** The first 200 letters of the generated `letters` set, and a temp folder to write into. */
async function letters(): Promise<{ dir: string; pixels: Uint8Array }> {
  const idx = await run(loadOodSet("letters"));
  const dir = await Deno.makeTempDir({ prefix: "grood-sources-" });
  return { dir, pixels: idx.data.slice(0, COUNT * 784) };
}

const grey = (pixels: Uint8Array, i: number) =>
  sharp(pixels.subarray(i * 784, (i + 1) * 784), { raw: { width: 28, height: 28, channels: 1 } });

Deno.test("an image folder of 200 letters (PNG and lossless WebP) gives the pixels of their IDX file", async () => {
  const { dir, pixels } = await letters();
  await Deno.mkdir(join(dir, "pngs", "nested"), { recursive: true });
  for (let i = 0; i < COUNT; i++) {
    // Zero-padded names keep the sorted order equal to the IDX order; a few in a subfolder
    // whose name sorts after the files ("nested" > "0…"), so they are the last ones.
    const name = String(i).padStart(4, "0");
    const image = grey(pixels, i);
    if (i >= COUNT - 5) await image.png().toFile(join(dir, "pngs", "nested", `${name}.png`));
    else if (i % 10 === 0) {
      await image.webp({ lossless: true }).toFile(join(dir, "pngs", `${name}.webp`));
    } else await image.png().toFile(join(dir, "pngs", `${name}.png`));
  }
  await Deno.writeTextFile(join(dir, "pngs", "README.txt"), "not an image: skipped");
  await Deno.writeFile(join(dir, "letters.idx"), encodeIdx([COUNT, 28, 28], pixels));

  const folder = await run(read({ kind: "folder", path: "pngs" }, dir, GREY_28, 64));
  const idx = await run(read({ kind: "idx", images: "letters.idx" }, dir, GREY_28, 200));
  assert.equal(folder.count, COUNT);
  assert.equal(folder.labels, undefined);
  assert.deepEqual(folder.pixels, pixels);
  assert.deepEqual(idx.pixels, pixels);
  // The checksum is of the content, so it does not depend on the batch size or the file kind.
  assert.equal(folder.checksum, idx.checksum);

  // At another input shape, every kind goes through the same resize and colour conversion.
  const shape: ImageShape = { height: 32, width: 32, channels: 3 };
  const folderRgb = await run(read({ kind: "folder", path: "pngs" }, dir, shape));
  const idxRgb = await run(read({ kind: "idx", images: "letters.idx" }, dir, shape));
  assert.equal(folderRgb.pixels.length, COUNT * 32 * 32 * 3);
  assert.deepEqual(folderRgb.pixels, idxRgb.pixels);
  assert.notEqual(folderRgb.checksum, folder.checksum);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a labelled folder takes its classes from sorted subfolder names", async () => {
  const { dir, pixels } = await letters();
  const classes = ["zeta", "Alpha", "beta"]; // code-point order: Alpha, beta, zeta
  for (const [c, name] of classes.entries()) {
    await Deno.mkdir(join(dir, "train", name), { recursive: true });
    for (let i = 0; i < 4; i++) {
      await grey(pixels, 4 * c + i).png().toFile(join(dir, "train", name, `${i}.png`));
    }
  }
  const set = await run(read({ kind: "folder", path: "train", labelled: true }, dir));
  assert.deepEqual(set.classNames, ["Alpha", "beta", "zeta"]);
  assert.deepEqual(Array.from(set.labels!), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
  // "Alpha" holds the images of class index 1 in `classes`: letters 4…7.
  assert.deepEqual(set.pixels.subarray(0, 4 * 784), pixels.subarray(4 * 784, 8 * 784));

  await grey(pixels, 0).png().toFile(join(dir, "train", "stray.png"));
  const stray = await failure(read({ kind: "folder", path: "train", labelled: true }, dir));
  assert.equal(stray._tag, "CorruptDataset");
  assert.match(stray.message, /stray\.png/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test(".npy float32 NCHW gives the same images as .npy uint8 NHWC, grey and colour", async () => {
  const { dir, pixels } = await letters();
  await run(writeNpyAtomic(join(dir, "u8.npy"), pixels, [COUNT, 28, 28, 1]));
  await run(writeNpyAtomic(join(dir, "nhw.npy"), pixels, [COUNT, 28, 28]));
  await run(
    writeNpyAtomic(join(dir, "f32.npy"), Float32Array.from(pixels, (v) => v / 255), [
      COUNT,
      1,
      28,
      28,
    ]),
  );
  const labels = Int32Array.from({ length: COUNT }, (_, i) => i % 10);
  await run(writeNpyAtomic(join(dir, "labels.npy"), labels, [COUNT]));
  const u8 = await run(read({ kind: "npy", images: "u8.npy", labels: "labels.npy" }, dir));
  const nhw = await run(read({ kind: "npy", images: "nhw.npy" }, dir));
  const f32 = await run(read({ kind: "npy", images: "f32.npy", labels: "labels.npy" }, dir));
  assert.deepEqual(u8.pixels, pixels);
  assert.deepEqual(nhw.pixels, pixels);
  assert.deepEqual(f32.pixels, pixels);
  assert.deepEqual(f32.labels, Uint8Array.from(labels));
  assert.deepEqual(f32.classNames, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
  assert.equal(f32.checksum, u8.checksum);

  // Colour: build NHWC bytes, write them as NCHW floats in [0, 255] by an explicit transpose.
  const n = 7;
  const random = mulberry32(3);
  const nhwc = Uint8Array.from({ length: n * 28 * 28 * 3 }, () => Math.floor(random() * 256));
  const nchw = new Float32Array(nhwc.length);
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        for (let c = 0; c < 3; c++) {
          nchw[((i * 3 + c) * 28 + y) * 28 + x] = nhwc[((i * 28 + y) * 28 + x) * 3 + c]!;
        }
      }
    }
  }
  await run(writeNpyAtomic(join(dir, "rgb.npy"), nhwc, [n, 28, 28, 3]));
  await run(writeNpyAtomic(join(dir, "rgb-f.npy"), nchw, [n, 3, 28, 28]));
  const a = await run(read({ kind: "npy", images: "rgb.npy" }, dir, RGB_28, 3));
  const b = await run(read({ kind: "npy", images: "rgb-f.npy", range: "byte" }, dir, RGB_28, 2));
  assert.deepEqual(a.pixels, nhwc);
  assert.deepEqual(b.pixels, nhwc);

  // A float array in [0, 255] read as [0, 1] is refused, naming the file and the value.
  const wrongRange = await failure(read({ kind: "npy", images: "rgb-f.npy" }, dir, RGB_28));
  assert.equal(wrongRange._tag, "CorruptDataset");
  assert.match(wrongRange.message, /rgb-f\.npy.*outside the unit range/);
  await Deno.remove(dir, { recursive: true });
});

/** Encode HWC images as CIFAR records: label byte(s), then the R, G and B planes. */
function cifarRecords(
  images: Uint8Array,
  labels: ReadonlyArray<ReadonlyArray<number>>,
): Uint8Array {
  const size = labels[0]!.length + 3072;
  const out = new Uint8Array(labels.length * size);
  labels.forEach((ls, n) => {
    out.set(ls, n * size);
    for (let p = 0; p < 1024; p++) {
      for (let c = 0; c < 3; c++) {
        out[n * size + ls.length + c * 1024 + p] = images[(n * 1024 + p) * 3 + c]!;
      }
    }
  });
  return out;
}

Deno.test("CIFAR-10 and CIFAR-100 binary batches decode to HWC images with their labels", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-cifar-" });
  const random = mulberry32(11);
  const n = 5;
  const images = Uint8Array.from({ length: n * 32 * 32 * 3 }, () => Math.floor(random() * 256));
  const shape: ImageShape = { height: 32, width: 32, channels: 3 };
  const per = 3072;
  // CIFAR-10: two files (2 + 3 records), read in batches of 3 so one batch spans both files.
  const labels10 = [[3], [9], [0], [1], [7]];
  await Deno.writeFile(
    join(dir, "data_batch_1.bin"),
    cifarRecords(images.subarray(0, 2 * per), labels10.slice(0, 2)),
  );
  await Deno.writeFile(
    join(dir, "data_batch_2.bin"),
    cifarRecords(images.subarray(2 * per), labels10.slice(2)),
  );
  const names = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
  ];
  await Deno.writeTextFile(join(dir, "batches.meta.txt"), names.join("\n") + "\n\n");
  const spec: SourceSpec = {
    kind: "cifar",
    variant: "cifar10",
    files: ["data_batch_1.bin", "data_batch_2.bin"],
  };
  const opened = await run(openSource(spec, { baseDir: dir, shape }));
  const sizes = await run(Stream.runCollect(Stream.map(opened.batches(3), (b) => b.size)));
  assert.deepEqual(sizes, [3, 2]);
  const c10 = await run(readSource(opened, { batchSize: 3 }));
  assert.equal(c10.count, 5);
  assert.deepEqual(c10.pixels, images);
  assert.deepEqual(Array.from(c10.labels!), [3, 9, 0, 1, 7]);
  assert.deepEqual(c10.classNames, names);
  // A meta file naming another number of classes, or a named pipe there, is refused by name:
  // the names label every score (the pipe was waited on, then read as numbered classes).
  await Deno.writeTextFile(join(dir, "batches.meta.txt"), names.slice(1).join("\n"));
  const short = await Effect.runPromise(Effect.flip(openSource(spec, { baseDir: dir, shape })));
  assert.match(String(short), /batches\.meta\.txt.*names 9 classes, not the 10 of cifar10/s);
  await Deno.writeTextFile(join(dir, "batches.meta.txt"), names.join("\n"));
  const piped = await loadWithPipeAt(
    join(dir, "batches.meta.txt"),
    () => Effect.runPromise(Effect.exit(openSource(spec, { baseDir: dir, shape }))),
  );
  assert.equal(piped.opened, false);
  assert.match(String(piped.result), /batches\.meta\.txt.*not a regular file/s);
  await Deno.remove(join(dir, "batches.meta.txt"));
  await Deno.writeTextFile(join(dir, "batches.meta.txt"), names.join("\n"));

  // CIFAR-100: coarse then fine label byte.
  const labels100 = [[4, 30], [19, 99], [0, 1], [2, 55], [11, 8]];
  await Deno.writeFile(join(dir, "train.bin"), cifarRecords(images, labels100));
  const fine = await run(
    read({ kind: "cifar", variant: "cifar100", files: ["train.bin"] }, dir, shape),
  );
  const coarse = await run(
    read({ kind: "cifar", variant: "cifar100", files: ["train.bin"], label: "coarse" }, dir, shape),
  );
  assert.deepEqual(fine.pixels, images);
  assert.deepEqual(Array.from(fine.labels!), [30, 99, 1, 55, 8]);
  assert.deepEqual(Array.from(coarse.labels!), [4, 19, 0, 2, 11]);
  assert.equal(fine.classNames!.length, 100);
  assert.equal(coarse.classNames!.length, 20);

  // The same images brought to a 28×28 grey model input, through sharp as for folders.
  const small = await run(read(spec, dir, GREY_28));
  assert.equal(small.pixels.length, 5 * 784);
  const viaSharp = await sharp(images.subarray(0, per), {
    raw: { width: 32, height: 32, channels: 3 },
  })
    .resize(28, 28, { fit: "fill" }).toColourspace("b-w").raw().toBuffer();
  assert.deepEqual(small.pixels.subarray(0, 784), new Uint8Array(viaSharp));
  await Deno.remove(dir, { recursive: true });
});

Deno.test("truncated or corrupt files give typed errors naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-corrupt-" });
  const cases: Array<[string, SourceSpec, string, RegExp]> = [];

  await Deno.writeFile(join(dir, "cut.bin"), new Uint8Array(3073 * 2 - 100));
  cases.push([
    "CIFAR",
    { kind: "cifar", variant: "cifar10", files: ["cut.bin"] },
    "cut.bin",
    /truncated/,
  ]);

  const png = await sharp(new Uint8Array(784), { raw: { width: 28, height: 28, channels: 1 } })
    .png().toBuffer();
  await Deno.mkdir(join(dir, "imgs"));
  await Deno.writeFile(join(dir, "imgs", "a.png"), png);
  await Deno.writeFile(join(dir, "imgs", "b.png"), png.subarray(0, 40));
  cases.push(["PNG", { kind: "folder", path: "imgs" }, join("imgs", "b.png"), /not a decodable/]);

  await run(writeNpyAtomic(join(dir, "full.npy"), new Uint8Array(3 * 784), [3, 28, 28]));
  const full = await Deno.readFile(join(dir, "full.npy"));
  await Deno.writeFile(join(dir, "cut.npy"), full.subarray(0, full.length - 10));
  cases.push(["npy", { kind: "npy", images: "cut.npy" }, "cut.npy", /truncated/]);
  await Deno.writeFile(join(dir, "garbage.npy"), new TextEncoder().encode("hello, not numpy"));
  cases.push(["npy magic", { kind: "npy", images: "garbage.npy" }, "garbage.npy", /magic/]);

  const idx = encodeIdx([3, 28, 28], new Uint8Array(3 * 784));
  await Deno.writeFile(join(dir, "cut.idx"), idx.subarray(0, idx.length - 1));
  cases.push(["IDX", { kind: "idx", images: "cut.idx" }, "cut.idx", /truncated/]);

  cases.push(["missing folder", { kind: "folder", path: "nowhere" }, "nowhere", /does not exist/]);

  // No image at all: refused for every kind, not read as an empty set (score gave no row, exit 0).
  await run(writeNpyAtomic(join(dir, "empty.npy"), new Uint8Array(0), [0, 28, 28]));
  cases.push(["empty npy", { kind: "npy", images: "empty.npy" }, "empty.npy", /holds no image/]);
  await Deno.writeFile(join(dir, "empty.idx"), encodeIdx([0, 28, 28], new Uint8Array(0)));
  cases.push(["empty IDX", { kind: "idx", images: "empty.idx" }, "empty.idx", /holds no image/]);

  for (const [what, spec, file, problem] of cases) {
    const error = await failure(read(spec, dir));
    assert.ok(
      ["CorruptDataset", "CorruptNpy", "DatasetFileMissing"].includes(error._tag),
      `${what}: ${error._tag}`,
    );
    assert.ok(error.message.includes(join(dir, file)), `${what}: ${error.message}`);
    assert.match(error.message, problem, what);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the ood-set source holds the images loadGeneratedSet() gives, named after the set", async () => {
  const direct = await run(loadGeneratedSet("textures-val"));
  const source = await run(read({ kind: "ood-set", name: "textures-val" }, "."));
  assert.equal(direct.name, "textures-val");
  assert.equal(direct.count, source.count);
  assert.deepEqual(direct.pixels, source.pixels);
});
