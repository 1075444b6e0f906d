/**
 * What a cluster job's chunk reads cost (`Sources.readRange`), read directly against streamed
 * from the source's first image (the fallback of a source without a ranged read, and what every
 * fit chunk did before sources had one: chunk c read the images of chunks 0…c too). One source
 * of MNIST training images as uint8 `.npy`, as float32 `.npy` (NCHW: converted on the way), and
 * as a folder of PNG files, each cut into chunks and every chunk read once, as a job's runners
 * read them; a full read of the source is the floor.
 *
 *   deno run -A bench/chunk_reads.ts [npyImages npyChunk pngImages pngChunk]
 *
 * Merged into `bench/cluster.json` under `chunkReads` (its other keys are kept), with the load
 * average before and after and the commit.
 *
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect, Stream } from "effect";
import sharp from "sharp";
import { Data, Io, Sources } from "../mod.ts";
import { loadAverage, runRecord, text } from "../apps/cluster/bench.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, "bench/cluster.json");
const arg = (i: number, fallback: number): number => Number(Deno.args[i] ?? fallback);
const npyImages = arg(0, 30_000);
const npyChunk = arg(1, 1000);
const pngImages = arg(2, 2000);
const pngChunk = arg(3, 100);
const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect);

/** Seconds to read every chunk of `opened` once, and the images the reads went through. */
const readChunks = async (opened: Sources.OpenedSource, chunk: number) => {
  let images = 0;
  const began = performance.now();
  for (let start = 0; start < opened.count; start += chunk) {
    const range = { start, end: Math.min(opened.count, start + chunk) };
    await run(
      Stream.runForEach(Sources.readRange(opened, range, 500), (batch) =>
        Effect.sync(() => {
          images += batch.size;
        })),
    );
  }
  return { seconds: (performance.now() - began) / 1000, imagesInChunks: images };
};

/** Full read, then every chunk read directly, then streamed from the first image. */
const measure = async (
  name: string,
  spec: Sources.SourceSpec,
  baseDir: string,
  chunk: number,
) => {
  const opened = await run(Sources.openSource(spec, { baseDir, shape: Sources.GREY_28 }));
  const began = performance.now();
  await run(Sources.readSource(opened, { batchSize: 500 }));
  const fullReadSeconds = (performance.now() - began) / 1000;
  const direct = await readChunks(opened, chunk);
  const { range: _, ...streamedOnly } = opened;
  const streamed = await readChunks(streamedOnly, chunk);
  const chunks = Math.ceil(opened.count / chunk);
  // Streamed, chunk c goes through every image before its end.
  const imagesGoneThrough = Array.from(
    { length: chunks },
    (_, c) => Math.min(opened.count, (c + 1) * chunk),
  ).reduce((a, b) => a + b, 0);
  console.error(
    `${name}: ${opened.count} images, ${chunks} chunks: full ${fullReadSeconds.toFixed(2)} s, ` +
      `direct ${direct.seconds.toFixed(2)} s, streamed ${streamed.seconds.toFixed(2)} s`,
  );
  return {
    images: opened.count,
    chunk,
    chunks,
    fullReadSeconds,
    directSeconds: direct.seconds,
    streamedSeconds: streamed.seconds,
    imagesGoneThroughDirect: direct.imagesInChunks,
    imagesGoneThroughStreamed: imagesGoneThrough,
  };
};

const loadBefore = loadAverage();
const dir = await Deno.makeTempDir({ prefix: "grood-chunk-reads-" });
try {
  const train = await run(Data.loadSplit("mnist", "train"));
  const pixels = train.pixels.slice(0, npyImages * 784);
  await run(Io.writeNpyAtomic(join(dir, "u8.npy"), pixels, [npyImages, 28, 28]));
  await run(
    Io.writeNpyAtomic(join(dir, "f32.npy"), Float32Array.from(pixels, (v) => v / 255), [
      npyImages,
      1,
      28,
      28,
    ]),
  );
  await Deno.mkdir(join(dir, "pngs"));
  for (let i = 0; i < pngImages; i++) {
    await sharp(train.pixels.subarray(i * 784, (i + 1) * 784), {
      raw: { width: 28, height: 28, channels: 1 },
    }).png().toFile(join(dir, "pngs", `digit-${String(i).padStart(5, "0")}.png`));
  }
  const results = {
    npyUint8: await measure("npyUint8", { kind: "npy", images: "u8.npy" }, dir, npyChunk),
    npyFloat32Nchw: await measure(
      "npyFloat32Nchw",
      { kind: "npy", images: "f32.npy" },
      dir,
      npyChunk,
    ),
    pngFolder: await measure("pngFolder", { kind: "folder", path: "pngs" }, dir, pngChunk),
  };
  const chunkReads = {
    ...runRecord(
      loadBefore,
      "one process; files in the page cache after the full read; shared machine",
    ),
    batchSize: 500,
    ...results,
  };
  const existing = text(out);
  const merged = existing === "" ? {} : JSON.parse(existing) as Record<string, unknown>;
  await Io.writeJsonAtomic(out, { ...merged, chunkReads });
  console.log(JSON.stringify(chunkReads, null, 2));
} finally {
  await Deno.remove(dir, { recursive: true });
}
