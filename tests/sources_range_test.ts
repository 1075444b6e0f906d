/**
 * Ranged reads (`Sources.readRange`): for every source kind (image folder, `.npy`, IDX, CIFAR,
 * a registered dataset, a generated OOD set), and for the streamed fallback of a source that
 * cannot seek, images [start, end) read directly are the same images and labels, in the same
 * batches, as that range of a full read (fast-check draws the ranges and batch sizes). Also the
 * two users of ranged reads in a fit: a source renumbered into the fit's class order relabels
 * its ranges as its stream, and `trainingChunk` (a cluster runner's chunk of the training
 * stream, the held-out images skipped) equals that chunk of the full stream.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect, Stream } from "effect";
import fc from "fast-check";
import sharp from "sharp";
import { encodeIdx } from "../lib/io/idx.ts";
import { writeNpyAtomic } from "../lib/io/npy.ts";
import { mulberry32 } from "../lib/random.ts";
import { inClassOrder } from "../lib/fitted/fit_data.ts";
import { trainingChunk } from "../apps/cluster/training_chunk.ts";
import {
  GREY_28,
  type ImageShape,
  imageValues,
  type OpenedSource,
  openSource,
  readRange,
  readSource,
  type SourceBatch,
  type SourceSpec,
} from "../lib/sources/mod.ts";

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect);
const RGB_28: ImageShape = { height: 28, width: 28, channels: 3 };
const GREY_14: ImageShape = { height: 14, width: 14, channels: 1 };
const CIFAR: ImageShape = { height: 32, width: 32, channels: 3 };

/** A range of a source of `count` images and a batch size, as fast-check draws them. */
const rangeOf = (count: number) =>
  fc.record({
    a: fc.integer({ min: 0, max: count }),
    b: fc.integer({ min: 0, max: count }),
    batch: fc.integer({ min: 1, max: Math.max(1, Math.ceil(count / 2)) }),
  }).map(({ a, b, batch }) => ({ start: Math.min(a, b), end: Math.max(a, b), batch }));

/**
 * For drawn ranges: `readRange` of `opened` gives batches at start, start + batch, …, holding
 * the full read's pixels and labels of those images.
 */
const rangesMatchFullRead = async (opened: OpenedSource, runs = 25) => {
  const full = await run(readSource(opened, { batchSize: 37 }));
  const per = imageValues(opened.shape);
  await fc.assert(
    fc.asyncProperty(rangeOf(opened.count), async ({ start, end, batch }) => {
      const batches = await run(
        Stream.runCollect(readRange(opened, { start, end }, batch)),
      ) as ReadonlyArray<SourceBatch>;
      let at = start;
      for (const b of batches) {
        assert.equal(b.start, at, "batches start where the last one ended");
        assert.equal(b.size, Math.min(batch, end - at));
        assert.deepEqual(b.pixels, full.pixels.subarray(at * per, (at + b.size) * per));
        if (full.labels === undefined) assert.equal(b.labels, undefined);
        else assert.deepEqual(b.labels, full.labels.subarray(at, at + b.size));
        at += b.size;
      }
      assert.equal(at, end, `[${start}, ${end}) read up to ${at}`);
    }),
    { numRuns: runs },
  );
  return full;
};

/** The same source without its direct ranged read: `readRange` streams it from the start. */
const withoutRange = (opened: OpenedSource): OpenedSource => {
  const { range: _, ...rest } = opened;
  return rest;
};

const withDir = async (body: (dir: string) => Promise<void>) => {
  const dir = await Deno.makeTempDir({ prefix: "grood-range-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
};

/** `count` random 28×28 grey images. */
const greyImages = (count: number, seed: number) => {
  const random = mulberry32(seed);
  return Uint8Array.from({ length: count * 784 }, () => Math.floor(random() * 256));
};

Deno.test(".npy: a ranged read equals those rows of a full read (uint8 labelled, float32 NCHW to RGB, and streamed)", async () => {
  await withDir(async (dir) => {
    const count = 150;
    const pixels = greyImages(count, 1);
    await run(writeNpyAtomic(join(dir, "u8.npy"), pixels, [count, 28, 28]));
    await run(
      writeNpyAtomic(join(dir, "f32.npy"), Float32Array.from(pixels, (v) => v / 255), [
        count,
        1,
        28,
        28,
      ]),
    );
    await run(
      writeNpyAtomic(join(dir, "labels.npy"), Int32Array.from({ length: count }, (_, i) => i % 7), [
        count,
      ]),
    );
    const labelled = await run(
      openSource({ kind: "npy", images: "u8.npy", labels: "labels.npy" }, {
        baseDir: dir,
        shape: GREY_28,
      }),
    );
    assert.ok(labelled.range !== undefined, "an .npy source reads ranges at their offset");
    const full = await rangesMatchFullRead(labelled);
    assert.deepEqual(full.pixels, pixels);
    await rangesMatchFullRead(withoutRange(labelled));
    await rangesMatchFullRead(
      await run(openSource({ kind: "npy", images: "f32.npy" }, { baseDir: dir, shape: RGB_28 })),
    );
  });
});

Deno.test("streamed: a labelled source whose later batch comes without labels is refused by name, never given class 0", async () => {
  const count = 40;
  const pixels = greyImages(count, 3);
  const labels = Uint8Array.from({ length: count }, (_, i) => 1 + (i % 3));
  const broken: OpenedSource = {
    description: "broken-labels",
    count,
    shape: GREY_28,
    classNames: ["a", "b", "c", "d"],
    batches: (size) =>
      Stream.fromIterable([...Array(Math.ceil(count / size)).keys()].map((b) => {
        const start = b * size;
        const n = Math.min(size, count - start);
        return {
          start,
          size: n,
          pixels: pixels.subarray(start * 784, (start + n) * 784),
          // The second batch breaks the contract: no labels.
          ...(b === 1 ? {} : { labels: labels.subarray(start, start + n) }),
        };
      })),
  } as OpenedSource;
  const exit = await Effect.runPromiseExit(
    Stream.runCollect(readRange(broken, { start: 5, end: 35 }, 8)),
  );
  assert.ok(exit._tag === "Failure", "the read fails");
  const text = String(exit.cause);
  assert.match(text, /SourceUnlabelled/);
  assert.match(text, /broken-labels/);
  assert.match(text, /image 8 came without labels/);
});

Deno.test("IDX, a registered dataset and a generated OOD set: a ranged read equals those rows of a full read", async () => {
  await withDir(async (dir) => {
    const count = 120;
    const pixels = greyImages(count, 2);
    await Deno.writeFile(join(dir, "images.idx"), encodeIdx([count, 28, 28], pixels));
    await Deno.writeFile(
      join(dir, "labels.idx"),
      encodeIdx([count], Uint8Array.from({ length: count }, (_, i) => i % 10)),
    );
    const spec: SourceSpec = { kind: "idx", images: "images.idx", labels: "labels.idx" };
    await rangesMatchFullRead(await run(openSource(spec, { baseDir: dir, shape: GREY_28 })));
    // Resized on the way (sharp), batch by batch.
    await rangesMatchFullRead(
      await run(openSource(spec, { baseDir: dir, shape: GREY_14 })),
      10,
    );
  });
  await rangesMatchFullRead(
    await run(
      openSource({ kind: "dataset", name: "mnist", split: "test" }, {
        baseDir: ".",
        shape: GREY_28,
      }),
    ),
  );
  const letters = await run(
    openSource({ kind: "ood-set", name: "letters" }, { baseDir: ".", shape: GREY_28 }),
  );
  assert.ok(letters.range !== undefined);
  await rangesMatchFullRead(letters);
});

/** Encode HWC images as CIFAR-10 records: the label byte, then the R, G and B planes. */
const cifarRecords = (images: Uint8Array, labels: ReadonlyArray<number>): Uint8Array => {
  const size = 1 + 3072;
  const out = new Uint8Array(labels.length * size);
  labels.forEach((label, n) => {
    out[n * size] = label;
    for (let p = 0; p < 1024; p++) {
      for (let c = 0; c < 3; c++) {
        out[n * size + 1 + c * 1024 + p] = images[(n * 1024 + p) * 3 + c]!;
      }
    }
  });
  return out;
};

Deno.test("CIFAR: a ranged read (across its files) equals those rows of a full read", async () => {
  await withDir(async (dir) => {
    const random = mulberry32(3);
    const counts = [17, 9, 14];
    const files = counts.map((_, k) => `data_batch_${k + 1}.bin`) as [string, ...string[]];
    for (const [k, n] of counts.entries()) {
      const images = Uint8Array.from({ length: n * 3072 }, () => Math.floor(random() * 256));
      const labels = Array.from({ length: n }, () => Math.floor(random() * 10));
      await Deno.writeFile(join(dir, files[k]!), cifarRecords(images, labels));
    }
    const spec: SourceSpec = { kind: "cifar", variant: "cifar10", files };
    await rangesMatchFullRead(await run(openSource(spec, { baseDir: dir, shape: CIFAR })));
    await rangesMatchFullRead(await run(openSource(spec, { baseDir: dir, shape: GREY_28 })), 10);
  });
});

Deno.test("an image folder: a ranged read decodes the slice of its sorted file list, equal to those rows of a full read", async () => {
  await withDir(async (dir) => {
    const pixels = greyImages(30, 4);
    const classes = ["b", "a", "c"];
    for (let i = 0; i < 30; i++) {
      const folder = join(dir, "set", classes[i % 3]!);
      await Deno.mkdir(folder, { recursive: true });
      await sharp(pixels.subarray(i * 784, (i + 1) * 784), {
        raw: { width: 28, height: 28, channels: 1 },
      }).png().toFile(join(folder, `img-${String(i).padStart(3, "0")}.png`));
    }
    const spec: SourceSpec = { kind: "folder", path: "set", labelled: true };
    const opened = await run(openSource(spec, { baseDir: dir, shape: GREY_28 }));
    assert.ok(opened.range !== undefined, "a folder reads ranges from its file list");
    await rangesMatchFullRead(opened, 15);
    await rangesMatchFullRead(withoutRange(opened), 10);

    // Renumbered into a fit's class order: a range is relabelled as the stream is.
    const ordered = await run(
      inClassOrder({ argument: "set", spec, baseDir: dir }, opened, ["c", "a", "b"]),
    );
    const renumbered = await rangesMatchFullRead(ordered, 10);
    const original = await run(readSource(opened));
    assert.deepEqual(
      Array.from(renumbered.labels!),
      Array.from(original.labels!, (l) => ["c", "a", "b"].indexOf(original.classNames![l]!)),
    );
  });
});

Deno.test("a range outside the source fails with SourceRangeInvalid naming it, before anything is read", async () => {
  const letters = await run(
    openSource({ kind: "ood-set", name: "letters" }, { baseDir: ".", shape: GREY_28 }),
  );
  for (
    const [start, end] of [[-1, 2], [5, 3], [0, letters.count + 1], [0.5, 2]] as const
  ) {
    const error = await run(Effect.flip(Stream.runDrain(readRange(letters, { start, end }, 8))));
    assert.equal(error._tag, "SourceRangeInvalid");
    assert.match(error.message, new RegExp(`\\[${start}, ${end}\\).*holds ${letters.count}`));
  }
});

Deno.test("trainingChunk: a chunk of the training stream (held-out images skipped) equals that chunk of the full stream", async () => {
  await withDir(async (dir) => {
    const count = 90;
    const pixels = greyImages(count, 5);
    await run(writeNpyAtomic(join(dir, "train.npy"), pixels, [count, 28, 28]));
    await run(
      writeNpyAtomic(
        join(dir, "train.labels.npy"),
        Uint8Array.from({ length: count }, (_, i) => i % 4),
        [count],
      ),
    );
    const opened = await run(
      openSource({ kind: "npy", images: "train.npy", labels: "train.labels.npy" }, {
        baseDir: dir,
        shape: GREY_28,
      }),
    );
    const full = await run(readSource(opened));
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: count - 1 }), { maxLength: 30 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 1000 }),
        async (held, a, b) => {
          const kept = Array.from({ length: count }, (_, i) => i).filter((i) => !held.includes(i));
          const start = a % (kept.length + 1);
          const end = start + b % (kept.length - start + 1);
          const chunk = await run(trainingChunk(opened, held, { start, end }));
          assert.equal(chunk.start, start);
          assert.equal(chunk.size, end - start);
          const want = kept.slice(start, end);
          assert.deepEqual(
            chunk.pixels,
            Uint8Array.from(want.flatMap((i) => [...full.pixels.subarray(i * 784, (i + 1) * 784)])),
          );
          assert.deepEqual(chunk.labels, Uint8Array.from(want, (i) => full.labels![i]!));
        },
      ),
      { numRuns: 40 },
    );
  });
});
