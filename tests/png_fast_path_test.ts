/**
 * The PNG fast path of `decodeImage` (`plain_png.ts` for plain 8-bit PNGs already at the model's
 * shape) must give exactly the pixels sharp's pipeline gives, must be taken only where it can, and
 * must not inflate more than the header's size.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import sharp from "sharp";
import { encode } from "fast-png";
import { Effect } from "effect";
import { deflateSync } from "node:zlib";
import { decodeImage, pngAlreadyAtShape, toShape } from "../lib/sources/conform.ts";
import { plainPngPixels } from "../lib/sources/plain_png.ts";
import type { ImageShape } from "../lib/sources/source.ts";

const viaSharp = async (
  bytes: Uint8Array,
  shape: ImageShape,
) => new Uint8Array((await toShape(sharp(bytes), shape).toUint8Array()).data);

const png = (
  width: number,
  height: number,
  channels: number,
  data: Uint8Array | Uint16Array,
  depth: 8 | 16 = 8,
) => encode({ width, height, channels, depth, data });

Deno.test("plain 8-bit grey and RGB PNGs at the shape: the fast path is taken and equals sharp", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom<1 | 3>(1, 3),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      async (channels, width, height, seed) => {
        const data = new Uint8Array(width * height * channels);
        let x = seed;
        for (let i = 0; i < data.length; i++) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          data[i] = x >>> 24;
        }
        const bytes = png(width, height, channels, data);
        const shape = { height, width, channels };
        assert.ok(pngAlreadyAtShape(bytes, shape) !== undefined, "fast path taken");
        const fast = await Effect.runPromise(decodeImage(bytes, "x.png", shape));
        assert.deepEqual(fast, await viaSharp(bytes, shape));
        assert.deepEqual(fast, data);
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("a grey picture saved as RGB (R = G = B), for a grey shape: fast path, equal to sharp", async () => {
  // Every grey value, and the PNG sharp writes for one-channel input (it writes RGB).
  const rgb = new Uint8Array(16 * 16 * 3).map((_, i) => Math.floor(i / 3));
  const grey = { height: 16, width: 16, channels: 1 } as const;
  const bytes = png(16, 16, 3, rgb);
  assert.ok(pngAlreadyAtShape(bytes, grey) !== undefined, "fast path taken");
  const fast = await Effect.runPromise(decodeImage(bytes, "x.png", grey));
  assert.deepEqual(fast, await viaSharp(bytes, grey));
  assert.deepEqual(fast, new Uint8Array(256).map((_, v) => v));
  const digit = new Uint8Array(28 * 28).map((_, i) => (i * 37) % 256);
  const fromSharp = new Uint8Array(
    await sharp(digit, { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer(),
  );
  assert.equal(fromSharp[25], 2, "sharp wrote an RGB PNG (colour type 2)");
  const shape = { height: 28, width: 28, channels: 1 } as const;
  assert.ok(pngAlreadyAtShape(fromSharp, shape) !== undefined, "fast path taken");
  assert.deepEqual(await Effect.runPromise(decodeImage(fromSharp, "d.png", shape)), digit);
});

Deno.test("PNGs written by sharp (every row filter, several IDAT chunks): fast path equals sharp", async () => {
  for (const channels of [1, 3] as const) {
    for (
      const [name, value] of [
        ["noise", (i: number) => (Math.imul(i + 1, 2654435761) >>> 24) & 0xff],
        ["gradient", (i: number) => (i * 7 + (i >> 5) * 3) & 0xff],
        ["steps", (i: number) => ((i >> 3) % 5) * 60],
      ] as const
    ) {
      const [width, height] = [37, 29];
      const data = new Uint8Array(width * height * channels).map((_, i) => value(i));
      for (const options of [{ adaptiveFiltering: true }, { adaptiveFiltering: false }]) {
        const bytes = new Uint8Array(
          await sharp(data, { raw: { width, height, channels } })
            .toColourspace(channels === 1 ? "b-w" : "srgb").png(options).toBuffer(),
        );
        const shape = { height, width, channels };
        const what = `${name}, ${channels} channel(s), ${JSON.stringify(options)}`;
        assert.ok(pngAlreadyAtShape(bytes, shape) !== undefined, `${what}: fast path taken`);
        assert.deepEqual(pngAlreadyAtShape(bytes, shape), await viaSharp(bytes, shape), what);
      }
    }
  }
  // The compressed data split over several IDAT chunks (as large PNGs are).
  const data = new Uint8Array(40 * 40).map((_, i) => (i * 13) & 0xff);
  const split = png(40, 40, 1, data);
  const shape = { height: 40, width: 40, channels: 1 } as const;
  const chunks = splitIdat(split, 7);
  assert.deepEqual(pngAlreadyAtShape(chunks, shape), data);
});

Deno.test("a damaged or interlaced PNG takes no fast path; sharp decides", async () => {
  const data = new Uint8Array(28 * 28).map((_, i) => (i * 37) % 256);
  const good = png(28, 28, 1, data);
  const shape = { height: 28, width: 28, channels: 1 } as const;
  const badCrc = good.slice();
  badCrc[good.length - 20]! ^= 0x01; // inside the IDAT data: its CRC no longer matches
  assert.equal(pngAlreadyAtShape(badCrc, shape), undefined, "bad CRC");
  const interlaced = new Uint8Array(
    await sharp(data, { raw: { width: 28, height: 28, channels: 1 } }).toColourspace("b-w")
      .png({ progressive: true }).toBuffer(),
  );
  assert.equal(interlaced[28], 1, "sharp wrote an interlaced PNG");
  assert.equal(pngAlreadyAtShape(interlaced, shape), undefined, "interlaced");
  assert.deepEqual(
    new Uint8Array(await Effect.runPromise(decodeImage(interlaced, "i.png", shape))),
    data,
  );
});

/** `bytes` (a PNG with one IDAT chunk) with its IDAT data cut into chunks of `size` bytes. */
function splitIdat(bytes: Uint8Array, size: number): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Array<number> = [...bytes.subarray(0, 8)];
  for (let at = 8; at < bytes.length;) {
    const length = view.getUint32(at);
    const type = bytes.subarray(at + 4, at + 8);
    const body = bytes.subarray(at + 8, at + 8 + length);
    const pieces = String.fromCharCode(...type) === "IDAT"
      ? Array.from(
        { length: Math.ceil(length / size) },
        (_, k) => body.subarray(k * size, (k + 1) * size),
      )
      : [body];
    for (const piece of pieces) {
      const chunk = new Uint8Array(12 + piece.length);
      const cv = new DataView(chunk.buffer);
      cv.setUint32(0, piece.length);
      chunk.set(type, 4);
      chunk.set(piece, 8);
      cv.setUint32(8 + piece.length, crc32(chunk.subarray(4, 8 + piece.length)));
      out.push(...chunk);
    }
    at += 12 + length;
  }
  return new Uint8Array(out);
}

/** CRC-32 (PNG's), written out here so the test does not reuse the decoder's. */
function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

Deno.test("PNGs sharp must still convert go through sharp, with sharp's pixels", async () => {
  const grey = new Uint8Array(28 * 28).map((_, i) => (i * 37) % 256);
  const palettePng = new Uint8Array(
    await sharp(new Uint8Array(28 * 28 * 3).map((_, i) => (i % 3) * 100), {
      raw: { width: 28, height: 28, channels: 3 },
    }).png({ palette: true }).toBuffer(),
  );
  const cases: Array<[string, Uint8Array, ImageShape]> = [
    ["another size", png(28, 28, 1, grey), { height: 14, width: 14, channels: 1 }],
    ["grey to RGB", png(28, 28, 1, grey), { height: 28, width: 28, channels: 3 }],
    ["colour RGB to grey", png(28, 28, 3, new Uint8Array(28 * 28 * 3).map((_, i) => i % 253)), {
      height: 28,
      width: 28,
      channels: 1,
    }],
    ["grey with alpha", png(28, 28, 2, new Uint8Array(28 * 28 * 2).map((_, i) => i % 251)), {
      height: 28,
      width: 28,
      channels: 1,
    }],
    ["palette", palettePng, { height: 28, width: 28, channels: 3 }],
  ];
  for (const [name, bytes, shape] of cases) {
    assert.equal(pngAlreadyAtShape(bytes, shape), undefined, `${name}: no fast path`);
    const decoded = new Uint8Array(await Effect.runPromise(decodeImage(bytes, "x.png", shape)));
    assert.deepEqual(decoded, await viaSharp(bytes, shape), name);
  }
});

Deno.test("a broken PNG still gets sharp's typed CorruptDataset naming the file", async () => {
  const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4, 5]);
  const error = await Effect.runPromise(
    Effect.flip(decodeImage(bytes, "broken.png", { height: 28, width: 28, channels: 1 })),
  );
  assert.equal(error._tag, "CorruptDataset");
  assert.match(error.message, /broken\.png/);
});

/** A PNG chunk: length, type, data, CRC-32 of type and data. */
const pngChunk = (type: string, data: Uint8Array): Uint8Array => {
  const body = new Uint8Array(4 + data.length);
  body.set(new TextEncoder().encode(type), 0);
  body.set(data, 4);
  let crc = ~0;
  for (const byte of body) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(body, 4);
  view.setUint32(8 + data.length, ~crc >>> 0);
  return out;
};

Deno.test("a deflate bomb under a valid 28×28 header is not inflated past the header's size", () => {
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, 28);
  view.setUint32(4, 28);
  header.set([8, 0, 0, 0, 0], 8); // 8-bit grey, no interlace
  // 200 MB of zero rows, deflated to about 200 kB: valid zlib, CRCs right, far too long.
  const bomb = deflateSync(new Uint8Array(200_000_000));
  const png = Uint8Array.from([
    ...[137, 80, 78, 71, 13, 10, 26, 10],
    ...pngChunk("IHDR", header),
    ...pngChunk("IDAT", bomb),
    ...pngChunk("IEND", new Uint8Array(0)),
  ]);
  const before = Deno.memoryUsage().rss;
  assert.equal(plainPngPixels(png, 28, 28, 1), undefined);
  // Inflating it whole would add 200 MB at once; the bounded inflate stops at 812 bytes.
  assert.ok(Deno.memoryUsage().rss - before < 100_000_000);
  // A well-formed PNG with the same chunks is read, so the refusal above is the bound's.
  const plain = Uint8Array.from([
    ...[137, 80, 78, 71, 13, 10, 26, 10],
    ...pngChunk("IHDR", header),
    ...pngChunk("IDAT", deflateSync(new Uint8Array(28 * 29))),
    ...pngChunk("IEND", new Uint8Array(0)),
  ]);
  assert.deepEqual(plainPngPixels(plain, 28, 28, 1), new Uint8Array(28 * 28));
});

/** The PNG of `data` with every row filtered by `filter` (0 None … 4 Paeth), as the spec says. */
function pngFilteredBy(
  width: number,
  height: number,
  channels: 1 | 3,
  data: Uint8Array,
  filter: number,
): Uint8Array {
  const stride = width * channels;
  const at = (y: number, x: number) => (y < 0 || x < 0 ? 0 : data[y * stride + x]!);
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = filter;
    for (let x = 0; x < stride; x++) {
      const [a, b, c] = [at(y, x - channels), at(y - 1, x), at(y - 1, x - channels)];
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      const predicted = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][
        filter
      ]!;
      raw[y * (stride + 1) + 1 + x] = (at(y, x) - predicted) & 0xff;
    }
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, channels === 1 ? 0 : 2, 0, 0, 0], 8);
  return Uint8Array.from([
    ...[137, 80, 78, 71, 13, 10, 26, 10],
    ...pngChunk("IHDR", header),
    ...pngChunk("IDAT", deflateSync(raw)),
    ...pngChunk("IEND", new Uint8Array(0)),
  ]);
}

Deno.test("every row filter on every row, random pixels, any width: the same pixels as sharp's", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom<1 | 3>(1, 3),
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 0, max: 4 }),
      fc.uint8Array({ minLength: 243, maxLength: 243 }),
      async (channels, width, height, filter, noise) => {
        const data = noise.subarray(0, width * height * channels);
        const bytes = pngFilteredBy(width, height, channels, data, filter);
        const pixels = plainPngPixels(bytes, width, height, channels);
        assert.deepEqual(pixels, data, `filter ${filter}, ${width}×${height}×${channels}`);
        if (channels === 3) {
          assert.deepEqual(pixels, await viaSharp(bytes, { height, width, channels }));
        }
      },
    ),
    { numRuns: 150 },
  );
  // An unknown filter type (5) is not a plain PNG.
  const five = pngFilteredBy(2, 2, 1, new Uint8Array(4), 0);
  const raw = Uint8Array.from([5, 0, 0, 0, 0, 0]);
  const bad = Uint8Array.from([
    ...five.subarray(0, 33),
    ...pngChunk("IDAT", deflateSync(raw)),
    ...pngChunk("IEND", new Uint8Array(0)),
  ]);
  assert.equal(plainPngPixels(bad, 2, 2, 1), undefined);
});

Deno.test("one inflate stream for every image: a damaged, short, long or truncated one between good ones harms none", () => {
  const data = (k: number) => Uint8Array.from({ length: 28 * 28 }, (_, i) => (i * k + k) & 0xff);
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, 28);
  view.setUint32(4, 28);
  header.set([8, 0, 0, 0, 0], 8);
  const withIdat = (idat: Uint8Array) =>
    Uint8Array.from([
      ...[137, 80, 78, 71, 13, 10, 26, 10],
      ...pngChunk("IHDR", header),
      ...pngChunk("IDAT", idat),
      ...pngChunk("IEND", new Uint8Array(0)),
    ]);
  const rows = (pixels: Uint8Array) => {
    const raw = new Uint8Array(28 * 29);
    for (let y = 0; y < 28; y++) raw.set(pixels.subarray(y * 28, y * 28 + 28), y * 29 + 1);
    return raw;
  };
  const good = deflateSync(rows(data(3)));
  const damaged = Uint8Array.from(good);
  damaged[7]! ^= 0xff;
  const bad = [
    damaged, // a broken stream
    good.subarray(0, good.length - 2), // its checksum cut
    deflateSync(new Uint8Array(28 * 29 - 1)), // a byte short
    deflateSync(new Uint8Array(28 * 29 + 1)), // a byte long
    Uint8Array.of(1, 2, 3), // not zlib
  ];
  for (let k = 1; k <= 20; k++) {
    assert.equal(plainPngPixels(withIdat(bad[k % bad.length]!), 28, 28, 1), undefined, `bad ${k}`);
    const pixels = data(k);
    assert.deepEqual(plainPngPixels(withIdat(deflateSync(rows(pixels))), 28, 28, 1), pixels);
  }
});
