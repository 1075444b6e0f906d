import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect, Exit } from "effect";
import { decodeNpy, encodeNpy, npyHeader, readNpy, writeNpyAtomic } from "../lib/io/npy.ts";
import { MANIFEST_FILE, writeExportManifest } from "../apps/results/exports.ts";
import { sha256Hex } from "../lib/io/files.ts";
import { openSource, readSource } from "../lib/sources/mod.ts";

const failureOf = <A, E>(effect: Effect.Effect<A, E>): E => {
  const exit = Effect.runSyncExit(Effect.flip(effect));
  assert.ok(Exit.isSuccess(exit), "expected a typed failure");
  return exit.value;
};

Deno.test("encodeNpy() matches a .npy built by hand from the NumPy format spec", () => {
  // Spec: "\x93NUMPY", version 1 0, uint16 LE header length, header dict, data.
  // Dict (sorted keys, as numpy writes it) is 59 characters:
  const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  assert.equal(dict.length, 59);
  // numpy >= 1.24 then appends 21 - len("2") = 20 spare spaces (room to grow axis 0 in place).
  // 10 (preamble) + 59 + 20 + 1 ("\n") = 90 -> next multiple of 64 is 128 -> 38 padding spaces.
  // Header text = 59 + 20 + 38 + 1 = 118 = 0x76 bytes.
  const headerText = dict + " ".repeat(20) + " ".repeat(38) + "\n";
  assert.equal(headerText.length, 118);
  const expected = new Uint8Array(128 + 6 * 4);
  expected.set([0x93, ..."NUMPY"].map((c) => typeof c === "number" ? c : c.charCodeAt(0)), 0);
  expected.set([1, 0, 0x76, 0x00], 6);
  for (let i = 0; i < headerText.length; i++) expected[10 + i] = headerText.charCodeAt(i);
  // float32 little-endian: 1.0 = 0x3f800000 -> bytes 00 00 80 3f; 2.0 = 0x40000000; -0.5 = 0xbf000000.
  const values = [0, 1, 2, -0.5, 0, 1];
  const bits = [0x00000000, 0x3f800000, 0x40000000, 0xbf000000, 0x00000000, 0x3f800000];
  const view = new DataView(expected.buffer);
  bits.forEach((b, i) => view.setUint32(128 + 4 * i, b, true));

  const bytes = Effect.runSync(encodeNpy(Float32Array.from(values), [2, 3]));
  assert.deepEqual(bytes, expected);
});

Deno.test("npyHeader() aligns every header to 64 bytes and ends it with a newline", () => {
  for (
    const shape of [[], [0], [3], [2, 3], [60000, 64], [1, 2, 3, 4, 5], [123456789012, 1]]
  ) {
    const header = npyHeader("|u1", shape);
    assert.equal(header.length % 64, 0, `shape ${shape}`);
    assert.equal(header[header.length - 1], 0x0a);
    assert.equal(new DataView(header.buffer).getUint16(8, true), header.length - 10);
  }
  // 1-d and 0-d shapes use Python tuple syntax.
  const text = (shape: number[]) => new TextDecoder().decode(npyHeader("<i4", shape).subarray(10));
  assert.match(text([3]), /'shape': \(3,\), \}/);
  assert.match(text([]), /'shape': \(\), \}/);
});

Deno.test("decodeNpy() round-trips every supported dtype with its shape", () => {
  const cases = [
    { data: Float32Array.from([1.5, -2, 3.4e38, 1e-30]), shape: [2, 2] },
    { data: Float64Array.from([Math.PI, -1e300]), shape: [1, 2] },
    { data: Int32Array.from([-2147483648, 0, 2147483647]), shape: [3] },
    { data: Uint8Array.from({ length: 2 * 28 * 28 }, (_, i) => i % 256), shape: [2, 28, 28] },
    { data: new Float32Array(0), shape: [0, 64] },
    { data: Uint8Array.from([7]), shape: [] },
  ];
  for (const { data, shape } of cases) {
    const bytes = Effect.runSync(encodeNpy(data, shape));
    const back = Effect.runSync(decodeNpy(bytes, "memory"));
    assert.deepEqual(back.shape, shape);
    assert.equal(back.data.constructor, data.constructor);
    assert.deepEqual(back.data, data);
  }
});

Deno.test("decodeNpy() accepts keys in any order and a version 2.0 header", () => {
  const header = "{'shape': (2,), 'fortran_order': False, 'descr': '<i4'}";
  const text = header + " ".repeat(64 - ((12 + header.length + 1) % 64)) + "\n";
  const bytes = new Uint8Array(12 + text.length + 8);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0], 0);
  new DataView(bytes.buffer).setUint32(8, text.length, true);
  for (let i = 0; i < text.length; i++) bytes[12 + i] = text.charCodeAt(i);
  new DataView(bytes.buffer).setInt32(12 + text.length + 4, -9, true);
  const back = Effect.runSync(decodeNpy(bytes, "v2"));
  assert.deepEqual(back.data, Int32Array.from([0, -9]));
});

Deno.test("decodeNpy() rejects bad files with CorruptNpy naming the file", () => {
  const good = Effect.runSync(encodeNpy(Float32Array.from([1, 2, 3]), [3]));
  const patch = (at: number, text: string) => {
    const copy = good.slice();
    for (let i = 0; i < text.length; i++) copy[at + i] = text.charCodeAt(i);
    return copy;
  };
  const bad: Array<[Uint8Array, RegExp]> = [
    [good.subarray(0, 5), /magic/],
    [good.subarray(0, good.length - 1), /needs 12 data bytes, file has 11/],
    [patch(10 + "{'descr': '".length, ">f4"), /dtype '>f4'/], // big-endian
    [patch(10 + "{'descr': '<f4', 'fortran_order': ".length, "True, "), /fortran_order True/],
    [patch(10, "["), /not a dict/],
  ];
  for (const [bytes, pattern] of bad) {
    const error = failureOf(decodeNpy(bytes, "bad.npy"));
    assert.equal(error._tag, "CorruptNpy");
    assert.match(error.message, /"bad\.npy"/);
    assert.match(error.message, pattern);
  }
});

Deno.test("encodeNpy() rejects a shape that does not hold the data", () => {
  const error = failureOf(encodeNpy(new Float32Array(6), [4, 2], "x.npy"));
  assert.equal(error._tag, "NpyShapeMismatch");
  assert.match(error.message, /"x\.npy".*\(4, 2\).*6 values/);
  assert.equal(failureOf(encodeNpy(new Float32Array(6), [-2, -3]))._tag, "NpyShapeMismatch");
});

Deno.test("writeNpyAtomic() and writeExportManifest() write files that describe themselves", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const scores = Float32Array.from([0.25, 4]);
    const labels = Int32Array.from([1, 0, 1]);
    await Effect.runPromise(writeNpyAtomic(join(dir, "scores.npy"), scores, [2]));
    await Effect.runPromise(writeNpyAtomic(join(dir, "labels.npy"), labels, [3, 1]));
    assert.deepEqual((await Effect.runPromise(readNpy(join(dir, "scores.npy")))).data, scores);
    // No temp files left behind.
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["labels.npy", "scores.npy"]);

    const entries = await Effect.runPromise(writeExportManifest(dir, [
      { file: "scores.npy", description: "kNN scores" },
      { file: "labels.npy", description: "labels" },
    ]));
    const manifest = JSON.parse(await Deno.readTextFile(join(dir, MANIFEST_FILE)));
    assert.deepEqual(manifest.files, entries);
    assert.deepEqual(entries[1], {
      file: "labels.npy",
      shape: [3, 1],
      dtype: "<i4",
      sha256: sha256Hex(await Deno.readFile(join(dir, "labels.npy"))),
      description: "labels",
    });

    const missing = await Effect.runPromise(
      Effect.flip(writeExportManifest(dir, [{ file: "nope.npy", description: "" }])),
    );
    assert.equal(missing._tag, "NpyIoError");
    assert.match(missing.message, /nope\.npy/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A 1-D int64 `.npy` as NumPy writes it (`np.save(path, np.array(values))`). */
const int64Npy = (values: ReadonlyArray<bigint>): Uint8Array => {
  const header = npyHeader("<i8", [values.length]);
  const bytes = new Uint8Array(header.length + 8 * values.length);
  bytes.set(header);
  bytes.set(new Uint8Array(BigInt64Array.from(values).buffer), header.length);
  return bytes;
};

Deno.test("int64 labels (NumPy's default integer dtype) are read into 32-bit integers", async () => {
  const decoded = await Effect.runPromise(decodeNpy(int64Npy([0n, 9n, 3n]), "labels.npy"));
  assert.equal(decoded.dtype, "<i8");
  assert.deepEqual(Array.from(decoded.data), [0, 9, 3]);
  assert.ok(decoded.data instanceof Int32Array);
  const tooWide = failureOf(decodeNpy(int64Npy([1n, 2n ** 40n]), "big.npy"));
  assert.equal(tooWide._tag, "CorruptNpy");
  assert.match(tooWide.message, /big\.npy/);
  assert.match(tooWide.message, /1099511627776 at index 1 does not fit in 32 bits/);

  // Through the npy source: images with int64 labels next to them.
  const dir = await Deno.makeTempDir();
  await Effect.runPromise(
    writeNpyAtomic(join(dir, "x.npy"), new Uint8Array(3 * 4), [3, 2, 2]),
  );
  await Deno.writeFile(join(dir, "y.npy"), int64Npy([2n, 0n, 1n]));
  const read = await Effect.runPromise(Effect.flatMap(
    openSource({ kind: "npy", images: "x.npy", labels: "y.npy" }, {
      baseDir: dir,
      shape: { height: 2, width: 2, channels: 1 },
    }),
    readSource,
  ));
  assert.deepEqual(Array.from(read.labels!), [2, 0, 1]);
  assert.deepEqual(read.classNames, ["0", "1", "2"]);
  await Deno.remove(dir, { recursive: true });
});
