/**
 * Every JSON file grood reads is decoded with a Schema: for each kind, a file that is not JSON,
 * has a key the format does not declare, or a value of the wrong type gives the kind's typed
 * error naming the file and the problem (never a crash, never a silently wrong value).
 */
import assert from "node:assert/strict";
import { Effect } from "effect";
import { join } from "node:path";
import { type Codec, makeStageCache } from "../lib/cache/cache.ts";
import { readManifest } from "../lib/data/ood/manifest.ts";
import { memoDigest, readVerifiedMemo } from "../lib/io/verified.ts";
import { sha256Hex } from "../lib/io/files.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";
import { loadClassifier } from "../lib/model/store.ts";
import { readBenchmark } from "../lib/benchmarks/load.ts";
import { readDescriptorStats } from "../bench/harness/descriptor_stats.ts";
import { decodeChildMeasurement, decodeScaleTableRows } from "../bench/harness/scale_files.ts";
import { runPromise, tf } from "./with_compute.ts";

type Json = Record<string, unknown>;

/** The three damages every kind is checked against, each with what the message must say. */
const damages: ReadonlyArray<{
  readonly name: string;
  readonly damage: (text: string, edit: (json: Json) => void) => string;
  readonly says: RegExp;
}> = [
  { name: "not JSON", damage: (text) => text.slice(0, text.length >> 1), says: /not JSON/ },
  {
    name: "an extra key",
    damage: (text) => JSON.stringify({ ...JSON.parse(text), surplus: 1 }),
    says: /unknown key surplus/,
  },
  {
    name: "a wrong type",
    damage: (text, edit) => {
      const json = JSON.parse(text) as Json;
      edit(json);
      return JSON.stringify(json);
    },
    says: /Expected/,
  },
];

const errorOf = async <A, E>(effect: Effect.Effect<A, E>): Promise<E> => {
  const exit = await Effect.runPromiseExit(effect);
  if (exit._tag === "Success") assert.fail("the damaged file was accepted");
  return await Effect.runPromise(Effect.flip(effect));
};

const vectorCodec: Codec<Float32Array> = {
  encode: (v) => ({ arrays: { v: { data: v, shape: [v.length] } }, meta: { length: v.length } }),
  decode: (arrays) => arrays.get("v")!.data as Float32Array,
};

Deno.test("a damaged cache entry.json is reported naming the file, counted and recomputed", async () => {
  for (const { name, damage, says } of damages) {
    const root = await Deno.makeTempDir();
    const warnings: Array<string> = [];
    const cache = makeStageCache(root, { warn: (line) => warnings.push(line) });
    let computed = 0;
    const compute = Effect.sync(() => (computed++, new Float32Array([1, 2])));
    const first = await Effect.runPromise(cache.cached("scores", { n: 1 }, vectorCodec, compute));
    const path = join(root, "scores", first.key, "entry.json");
    const text = await Deno.readTextFile(path);
    await Deno.writeTextFile(path, damage(text, (json) => (json.rows = "two")));
    const again = await Effect.runPromise(cache.cached("scores", { n: 1 }, vectorCodec, compute));
    assert.equal(again.hit, false, `${name}: not served`);
    assert.equal(computed, 2, `${name}: recomputed`);
    assert.equal(cache.stats().rejected, 1, `${name}: counted`);
    assert.equal(warnings.length, 1, `${name}: ${warnings}`);
    assert.ok(warnings[0]!.includes(path), `${name}: names ${path}: ${warnings[0]}`);
    assert.match(warnings[0]!, says, name);
    // The rewritten entry decodes and is served.
    const third = await Effect.runPromise(cache.cached("scores", { n: 1 }, vectorCodec, compute));
    assert.equal(third.hit, true, `${name}: the rewritten entry is served`);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a damaged OOD manifest gives OodManifestInvalid naming the file", async () => {
  const good = await Deno.readTextFile(new URL("../fixtures/ood/letters.json", import.meta.url));
  const dir = await Deno.makeTempDir();
  const path = join(dir, "letters.json");
  await Deno.writeTextFile(path, good);
  const manifest = await Effect.runPromise(readManifest(path));
  assert.equal(manifest?.name, "letters");
  for (const { name, damage, says } of damages) {
    await Deno.writeTextFile(path, damage(good, (json) => (json.sources = "a.png")));
    const error = await errorOf(readManifest(path));
    assert.equal(error._tag, "OodManifestInvalid", name);
    assert.ok(error.message.includes(path), `${name}: ${error.message}`);
    assert.match(error.message, says, name);
  }
  await Deno.writeTextFile(path, edited(good, (json) => (json.role = "training")));
  assert.match((await errorOf(readManifest(path))).message, /role/);
  assert.equal(await Effect.runPromise(readManifest(join(dir, "none.json"))), undefined);
  await Deno.remove(dir, { recursive: true });
});

/** `text` as JSON with `edit` applied. */
function edited(text: string, edit: (json: Json) => void): string {
  const json = JSON.parse(text) as Json;
  edit(json);
  return JSON.stringify(json);
}

Deno.test("a damaged model.json or metadata.json gives ModelLoadError naming the folder and file", async () => {
  const cases: ReadonlyArray<readonly [string, (json: Json) => void]> = [
    ["metadata.json", (json) => (json.epochs = "3")],
    ["model.json", (json) => ((json.spec as Json).inputShape = "28x28x1")],
  ];
  for (const [file, edit] of cases) {
    for (const { name, damage, says } of damages) {
      const dir = await Deno.makeTempDir();
      for (const f of ["model.json", "metadata.json", "weights.bin"]) {
        await Deno.copyFile(join(fixtureDir("mnist"), f), join(dir, f));
      }
      const good = await Deno.readTextFile(join(dir, file));
      await Deno.writeTextFile(join(dir, file), damage(good, edit));
      const exit = await Effect.runPromiseExit(loadClassifier(tf, dir));
      assert.equal(exit._tag, "Failure", `${file}, ${name}: accepted`);
      const error = await runPromise(Effect.flip(loadClassifier(tf, dir)));
      assert.equal(error._tag, "ModelLoadError", `${file}, ${name}`);
      assert.ok(error.message.includes(dir), `${file}, ${name}: ${error.message}`);
      assert.ok(error.message.includes(file), `${file}, ${name}: ${error.message}`);
      assert.match(error.message, says, `${file}, ${name}`);
      await Deno.remove(dir, { recursive: true });
    }
  }
  // A block kind the architecture does not have is refused by name, not built.
  const dir = await Deno.makeTempDir();
  for (const f of ["model.json", "metadata.json", "weights.bin"]) {
    await Deno.copyFile(join(fixtureDir("mnist"), f), join(dir, f));
  }
  const model = JSON.parse(await Deno.readTextFile(join(dir, "model.json")));
  model.spec.blocks[0].kind = "convolution";
  await Deno.writeTextFile(join(dir, "model.json"), JSON.stringify(model));
  const error = await runPromise(Effect.flip(loadClassifier(tf, dir)));
  assert.match(error.message, /model\.json/);
  assert.match(error.message, /kind/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a damaged checksum memo gives VerifiedMemoInvalid, and memoDigest never trusts it", async () => {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "data.bin");
  await Deno.writeFile(file, new Uint8Array([1, 2, 3]));
  const bytes = await Deno.readFile(file);
  const memo = join(dir, "verified.json");
  let hashed = 0;
  const digest = (b: Uint8Array) => (hashed++, sha256Hex(b));
  const truth = await Effect.runPromise(memoDigest(file, bytes, "raw", digest, memo));
  const good = await Deno.readTextFile(memo);
  assert.ok(Object.keys(await Effect.runPromise(readVerifiedMemo(memo))).length === 1);
  // The memo maps any name to a line: its extra key goes inside the line.
  const line = (edit: (line: Json) => void) =>
    edited(good, (json) => edit(json[`raw:${file}`] as Json));
  const memoDamages = [
    { name: "not JSON", text: good.slice(0, good.length >> 1), says: /not JSON/ },
    { name: "an extra key", text: line((l) => (l.surplus = 1)), says: /unknown key surplus/ },
    // The digest a number: a memo trusting it would return a non-digest.
    { name: "a wrong type", text: line((l) => (l.digest = 42)), says: /Expected string/ },
  ];
  for (const { name, text, says } of memoDamages) {
    await Deno.writeTextFile(memo, text);
    const error = await errorOf(readVerifiedMemo(memo));
    assert.equal(error._tag, "VerifiedMemoInvalid", name);
    assert.ok(error.message.includes(memo), `${name}: ${error.message}`);
    assert.match(error.message, says, name);
    const before = hashed;
    assert.equal(await Effect.runPromise(memoDigest(file, bytes, "raw", digest, memo)), truth);
    assert.equal(hashed, before + 1, `${name}: hashed again`);
    // ... and the memo is rewritten in its format.
    assert.equal(Object.keys(await Effect.runPromise(readVerifiedMemo(memo))).length, 1);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a benchmark file that is not JSON, or mistyped, gives BenchmarkFileInvalid naming it", async () => {
  const good = await Deno.readTextFile(new URL("../benchmarks/mnist.json", import.meta.url));
  const dir = await Deno.makeTempDir();
  const path = join(dir, "mine.json");
  for (const { name, damage, says } of damages) {
    await Deno.writeTextFile(path, damage(good, (json) => (json.name = 7)));
    const error = await errorOf(readBenchmark(path));
    assert.equal(error._tag, "BenchmarkFileInvalid", name);
    assert.ok(error.message.includes(path), `${name}: ${error.message}`);
    assert.match(error.message, name === "not JSON" ? /not JSON/ : says, name);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the scale bench's stats file, child measurement and earlier table are decoded strictly", async () => {
  const dir = await Deno.makeTempDir();
  const statsFile = join(dir, "stats.json");
  const stats = {
    rows: 10,
    dim: 4,
    logNormQuantiles: [0, 1],
    classShares: [0.5, 0.5],
    medianCosineToClass: 0.9,
    medianCosineBetweenClasses: 0.1,
    spectrum: [2, 1],
    spectrumExponent: 1,
  };
  const good = JSON.stringify(stats);
  await Deno.writeTextFile(statsFile, good);
  assert.deepEqual(await Effect.runPromise(readDescriptorStats(statsFile)), stats);
  for (const { name, damage, says } of damages) {
    await Deno.writeTextFile(statsFile, damage(good, (json) => (json.spectrum = "2,1")));
    const error = await errorOf(readDescriptorStats(statsFile));
    assert.equal(error._tag, "InvalidInput", name);
    assert.ok(error.message.includes(statsFile), `${name}: ${error.message}`);
    assert.match(error.message, says, name);
  }
  const table = await Deno.readTextFile(new URL("../bench/scale.json", import.meta.url));
  const rows = await Effect.runPromise(decodeScaleTableRows(table, "scale.json"));
  assert.equal(rows.length, JSON.parse(table).rows.length);
  const rowEdit = (edit: (row: Json) => void) =>
    edited(table, (json) => edit((json.rows as Array<Json>)[0]!));
  for (
    const [text, says] of [
      [table.slice(0, 100), /not JSON/],
      [rowEdit((row) => (row.surplus = 1)), /unknown key surplus in scale\.json at \[0\]/],
      [rowEdit((row) => (row.rows = "many")), /Expected .* at \[0\]\.rows/],
      [edited(table, (json) => (json.version = 2)), /at version/],
    ] as const
  ) {
    const error = await errorOf(decodeScaleTableRows(text, "scale.json"));
    assert.match(error.message, says);
  }
  const done = rows.map((r) => r.outcome).find((o) => o.status === "done");
  assert.ok(done?.status === "done", "the table has a finished row");
  const line = JSON.stringify({ ...done.measurement, surplus: 1 });
  assert.equal(
    (await Effect.runPromise(decodeChildMeasurement(JSON.stringify(done.measurement), "c")))
      .points,
    done.measurement.points,
  );
  assert.match(
    (await errorOf(decodeChildMeasurement(line, "ivf child"))).message,
    /unknown key surplus in ivf child/,
  );
  await Deno.remove(dir, { recursive: true });
});
