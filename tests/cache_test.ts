import assert from "node:assert/strict";
import { Effect, Exit } from "effect";
import { join } from "node:path";
import { loadSplit } from "../lib/data/datasets.ts";
import { subset } from "../lib/data/images.ts";
import { grood } from "../lib/detectors/grood.ts";
import { matrix } from "../lib/matrix.ts";
import {
  defaultSpec,
  initialWeights,
  INPUT_PREPROCESSING,
  makeClassifier,
} from "../lib/model/classifier.ts";
import {
  CACHE_MARKER,
  cacheSummary,
  canonicalJson,
  type Codec,
  makeStageCache,
  MARKER_TEXT,
  StageCache,
  type StageCacheShape,
  stageKey,
} from "../lib/cache/cache.ts";
import { sha256Hex } from "../lib/io/files.ts";
import { clearStageCache } from "../lib/cache/clear.ts";
import { loadClassifier } from "../lib/model/store.ts";
import { saveUntrainedClassifier } from "../bench/harness/untrained_model.ts";
import { extractCached } from "../lib/pipeline/extract.ts";
import { tfjsExtractor } from "../lib/pipeline/model.ts";
import { groodModel, runPromise, tf } from "./with_compute.ts";
import { loadWithPipeAt } from "./named_pipe.ts";

const vectorCodec: Codec<Float32Array> = {
  encode: (v) => ({ arrays: { v: { data: v, shape: [v.length] } }, meta: { length: v.length } }),
  decode: (arrays) => arrays.get("v")!.data as Float32Array,
};

/** Wrap a cache to record which stages were hits and which were computed. */
function recording(inner: StageCacheShape) {
  const events: Array<string> = [];
  const cache: StageCacheShape = {
    root: inner.root,
    stats: inner.stats,
    cached: (stage, parts, codec, compute, request) =>
      Effect.map(inner.cached(stage, parts, codec, compute, request), (r) => {
        events.push(`${stage}:${r.hit ? "hit" : "computed"}`);
        return r;
      }),
  };
  return { cache, events };
}

Deno.test("cached() computes once, then serves the stored value", async () => {
  const root = await Deno.makeTempDir();
  const cache = makeStageCache(root);
  let computed = 0;
  const compute = Effect.sync(() => {
    computed++;
    return new Float32Array([1, 2, 3]);
  });
  const first = await runPromise(cache.cached("scores", { a: 1 }, vectorCodec, compute));
  const second = await runPromise(cache.cached("scores", { a: 1 }, vectorCodec, compute));
  assert.equal(computed, 1);
  assert.equal(first.hit, false);
  assert.equal(second.hit, true);
  assert.deepEqual(Array.from(second.value), [1, 2, 3]);
  assert.equal(second.key, stageKey("scores", { a: 1 }));
  assert.notEqual(stageKey("scores", { a: 1 }), stageKey("scores", { a: 2 }));
  assert.equal(stageKey("scores", { a: 1, b: 2 }), stageKey("scores", { b: 2, a: 1 }));
});

Deno.test("cached() ignores an interrupted write and a damaged entry", async () => {
  const root = await Deno.makeTempDir();
  const cache = makeStageCache(root);
  const key = stageKey("scores", { run: 1 });
  // A run killed mid-write leaves a temporary folder with a partial file and no entry.json.
  const tmp = join(root, "scores", `${key}.tmp-999-deadbeef`);
  await Deno.mkdir(tmp, { recursive: true });
  await Deno.writeFile(join(tmp, "v.npy"), new Uint8Array([0x93, 0x4e]));
  let computed = 0;
  const compute = Effect.sync(() => {
    computed++;
    return new Float32Array([4, 5]);
  });
  const first = await runPromise(cache.cached("scores", { run: 1 }, vectorCodec, compute));
  assert.equal(first.hit, false, "the partial write is not trusted");
  // Damage the stored array: the checksum in entry.json no longer matches, so it is recomputed.
  const stored = join(root, "scores", key, "v.npy");
  const bytes = await Deno.readFile(stored);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
  await Deno.writeFile(stored, bytes);
  const second = await runPromise(cache.cached("scores", { run: 1 }, vectorCodec, compute));
  assert.equal(second.hit, false, "a damaged entry is recomputed");
  assert.equal(computed, 2);
  assert.deepEqual(Array.from(second.value), [4, 5]);
  const third = await runPromise(cache.cached("scores", { run: 1 }, vectorCodec, compute));
  assert.equal(third.hit, true, "the rewritten entry is served");
});

Deno.test("changing λ recomputes the mix-up and what follows it, not the features", async () => {
  const root = await Deno.makeTempDir();
  const { cache, events } = recording(makeStageCache(root));
  const spec = defaultSpec(10);
  const net = makeClassifier(tf, spec, initialWeights(spec, 0));
  const test = await runPromise(loadSplit("mnist", "test"));
  const train = subset(test, Array.from({ length: 300 }, (_, i) => i), "mnist/tiny");
  const validation = subset(test, Array.from({ length: 50 }, (_, i) => 300 + i), "val");
  const fitOnce = async (lambda: number) => {
    events.length = 0;
    const { extraction, key } = await runPromise(
      Effect.flatMap(
        tfjsExtractor(net, "random-init"),
        (model) => extractCached(model, train, { classSumsAt: ["block1"] }),
      ).pipe(Effect.provideService(StageCache, cache)),
    );
    const detector = grood({ oodPrototype: { kind: "mixup", lambda, samples: 100, seed: 0 } });
    const extracted = { images: validation, features: extraction.features };
    const fitted = await runPromise(
      detector.fit({
        model: await groodModel(net),
        train: {
          images: train,
          features: extraction.features,
          classSums: extraction.classSums,
          key,
        },
        validation: { id: extracted, ood: [] },
      }).pipe(Effect.provideService(StageCache, cache)),
    );
    const scores = await runPromise(
      fitted.score({ images: train, features: extraction.features }),
    );
    fitted.dispose();
    return { events: [...events], scores };
  };
  const first = await fitOnce(0.5);
  assert.deepEqual(first.events, [
    "features:computed",
    "prototypes:computed",
    "ood-prototype:computed",
    "descriptors:computed",
  ]);
  const again = await fitOnce(0.5);
  assert.deepEqual(again.events, [
    "features:hit",
    "prototypes:hit",
    "ood-prototype:hit",
    "descriptors:hit",
  ]);
  assert.deepEqual(again.scores, first.scores, "a cache hit gives the same numbers");
  const other = await fitOnce(0.3);
  assert.deepEqual(other.events, [
    "features:hit",
    "prototypes:hit",
    "ood-prototype:computed",
    "descriptors:computed",
  ]);
  net.dispose();
});

Deno.test("a cache without a root computes every time", async () => {
  const cache = makeStageCache(undefined);
  let computed = 0;
  const compute = Effect.sync(() => {
    computed++;
    return matrix(1, 1, [computed]);
  });
  const codec: Codec<ReturnType<typeof matrix>> = {
    encode: (m) => ({ arrays: { m: { data: m.data, shape: [1, 1] } }, meta: null }),
    decode: (a) => matrix(1, 1, a.get("m")!.data as Float32Array),
  };
  await runPromise(cache.cached("x", {}, codec, compute));
  await runPromise(cache.cached("x", {}, codec, compute));
  assert.equal(computed, 2);
});

// ---------------------------------------------------------------------------------------------
// Trust (issue 10): keys cover everything, entries are checked, faults never stop a run.

const CHECKOUT = new URL("../", import.meta.url);

/** Run a task of this checkout as a real process. */
async function runTaskProcess(args: ReadonlyArray<string>) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    cwd: CHECKOUT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}

Deno.test("editing model.json (stem stride 1 → 2) gives a new model key: no stale features", async () => {
  const dir = await Deno.makeTempDir();
  const root = await Deno.makeTempDir();
  await runPromise(saveUntrainedClassifier(tf, dir, 0));
  const test = await runPromise(loadSplit("mnist", "test"));
  const images = subset(test, Array.from({ length: 40 }, (_, i) => i), "mnist/40");
  const { cache, events } = recording(makeStageCache(root));
  const extractWith = async () => {
    const model = await runPromise(loadClassifier(tf, dir));
    const { extraction } = await runPromise(
      Effect.flatMap(
        tfjsExtractor(model.net, model.key),
        (extractor) => extractCached(extractor, images),
      ).pipe(Effect.provideService(StageCache, cache)),
    );
    model.net.dispose();
    return { key: model.key, weights: model.metadata.weightsSha256, extraction };
  };
  const before = await extractWith();
  const modelJson = JSON.parse(await Deno.readTextFile(join(dir, "model.json")));
  assert.equal(modelJson.spec.blocks[0].stride, 1);
  modelJson.spec.blocks[0].stride = 2; // same weight shapes, different network
  await Deno.writeTextFile(join(dir, "model.json"), JSON.stringify(modelJson));
  const after = await extractWith();
  assert.equal(after.weights, before.weights, "the weights did not change");
  assert.notEqual(after.key, before.key, "the architecture is part of the model key");
  assert.deepEqual(events, ["features:computed", "features:computed"]);
  assert.notDeepEqual(
    after.extraction.features.penultimate.data,
    before.extraction.features.penultimate.data,
  );
  // The key is the hash of the canonical spec, the weights' hash and the preprocessing.
  assert.equal(
    after.key,
    sha256Hex(new TextEncoder().encode(canonicalJson({
      spec: modelJson.spec,
      weights: after.weights,
      preprocessing: INPUT_PREPROCESSING,
    }))),
  );
});

Deno.test("an entry copied under another key (objects' features as photos') is rejected, logged, counted and recomputed", async () => {
  const root = await Deno.makeTempDir();
  const warnings: Array<string> = [];
  const cache = makeStageCache(root, { warn: (line) => warnings.push(line) });
  const spec = defaultSpec(10);
  const net = makeClassifier(tf, spec, initialWeights(spec, 0));
  const test = await runPromise(loadSplit("mnist", "test"));
  const objects = subset(test, Array.from({ length: 20 }, (_, i) => i), "objects");
  const photos = subset(test, Array.from({ length: 30 }, (_, i) => 100 + i), "photos");
  const extract = (set: typeof objects) =>
    runPromise(
      Effect.flatMap(tfjsExtractor(net, "model"), (model) => extractCached(model, set)).pipe(
        Effect.provideService(StageCache, cache),
      ),
    );
  const objectsFirst = await extract(objects);
  const photosFirst = await extract(photos);
  // The careless user's copy: objects' entry folder over photos' entry folder.
  const photosDir = join(root, "features", photosFirst.key);
  await Deno.remove(photosDir, { recursive: true });
  await copyDir(join(root, "features", objectsFirst.key), photosDir);
  const again = await extract(photos);
  assert.deepEqual(
    again.extraction.features.penultimate,
    photosFirst.extraction.features.penultimate,
  );
  assert.equal(cache.stats().rejected, 1);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /features entry .* rejected \(it records key .*\); recomputing/);
  // A forged entry.json (key rewritten to photos') is still caught by its row count.
  await Deno.remove(photosDir, { recursive: true });
  await copyDir(join(root, "features", objectsFirst.key), photosDir);
  const entryPath = join(photosDir, "entry.json");
  const entry = JSON.parse(await Deno.readTextFile(entryPath));
  await Deno.writeTextFile(entryPath, JSON.stringify({ ...entry, key: photosFirst.key }));
  const third = await extract(photos);
  assert.equal(third.extraction.features.count, 30);
  assert.equal(cache.stats().rejected, 2);
  assert.match(warnings[1]!, /records 20 rows, 30 were asked for/);
  assert.match(cacheSummary(cache.stats()), /2 damaged or mismatched entries recomputed/);
  net.dispose();
});

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    await Deno.copyFile(join(from, entry.name), join(to, entry.name));
  }
}

Deno.test("8 concurrent writer processes of the same entries all succeed (80 of 80)", async () => {
  const root = await Deno.makeTempDir();
  const go = join(root, "go");
  // Inside the checkout, so that the script resolves "effect" from its node_modules.
  const scratch = new URL(
    `../.scratch/writers-${crypto.randomUUID().slice(0, 8)}/`,
    import.meta.url,
  );
  await Deno.mkdir(scratch, { recursive: true });
  const script = join(scratch.pathname, "writer.ts");
  await Deno.writeTextFile(
    script,
    `import { Effect } from "effect";
import { makeStageCache } from "${new URL("../lib/cache/cache.ts", import.meta.url).href}";
const codec = {
  encode: (v: Float32Array) => ({ arrays: { v: { data: v, shape: [v.length] } }, meta: null }),
  decode: (a: ReadonlyMap<string, { data: unknown }>) => a.get("v")!.data as Float32Array,
};
const cache = makeStageCache(${
      JSON.stringify(join(root, "cache"))
    }, { warn: (l) => console.log("WARN " + l) });
while (true) { try { Deno.statSync(${
      JSON.stringify(go)
    }); break; } catch { await new Promise((r) => setTimeout(r, 5)); } }
let ok = 0;
for (let round = 0; round < 10; round++) {
  const value = new Float32Array(50000).fill(round);
  const got = await Effect.runPromise(cache.cached("descriptors", { round }, codec, Effect.succeed(value)));
  if (got.value[0] === round && got.value.length === 50000) ok++;
}
console.log("OK " + ok + " unwritten " + cache.stats().unwritten);
`,
  );
  const writers = Array.from({ length: 8 }, () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script],
      cwd: CHECKOUT,
      stdout: "piped",
      stderr: "piped",
    }).output());
  await new Promise((r) => setTimeout(r, 1500));
  await Deno.writeFile(go, new Uint8Array());
  const outputs = await Promise.all(writers);
  let succeeded = 0;
  for (const output of outputs) {
    const stdout = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.doesNotMatch(stdout, /WARN/);
    const match = /OK (\d+) unwritten 0/.exec(stdout);
    assert.ok(match, stdout);
    succeeded += Number(match[1]);
  }
  await Deno.remove(scratch, { recursive: true });
  assert.equal(succeeded, 80);
  const entries = [...Deno.readDirSync(join(root, "cache", "descriptors"))].map((e) => e.name);
  assert.equal(entries.length, 10, `only complete entries remain: ${entries}`);
});

Deno.test("a cache that cannot be written warns once and the run goes on without caching", async () => {
  const file = await Deno.makeTempFile(); // a regular file where a folder is expected: fails even for root
  const warnings: Array<string> = [];
  const cache = makeStageCache(join(file, "cache"), { warn: (line) => warnings.push(line) });
  let computed = 0;
  const compute = Effect.sync(() => new Float32Array([++computed]));
  const a = await runPromise(cache.cached("scores", { a: 1 }, vectorCodec, compute));
  const b = await runPromise(cache.cached("scores", { a: 2 }, vectorCodec, compute));
  assert.deepEqual([a.value[0], b.value[0]], [1, 2]);
  assert.equal(warnings.length, 1, warnings.join("\n"));
  assert.match(
    warnings[0]!,
    new RegExp(`Cannot write cache entry "${file}/cache/.*": .*ENOTDIR|Not a directory`),
  );
  assert.match(warnings[0]!, /the run goes on without caching/);
  assert.equal(cache.stats().unwritten, 2);
});

Deno.test("--no-cache (StageCache.layer(undefined)) writes nothing anywhere", async () => {
  const cwd = Deno.cwd();
  const scratch = await Deno.makeTempDir();
  Deno.chdir(scratch);
  try {
    let computed = 0;
    const program = Effect.gen(function* () {
      const cache = yield* StageCache;
      assert.equal(cache.root, undefined);
      for (let i = 0; i < 2; i++) {
        yield* cache.cached(
          "scores",
          { a: 1 },
          vectorCodec,
          Effect.sync(() => new Float32Array([++computed])),
        );
      }
    });
    await runPromise(Effect.provide(program, StageCache.layer(undefined)));
    assert.equal(computed, 2);
    assert.deepEqual([...Deno.readDirSync(scratch)], [], "no cache folder was created");
  } finally {
    Deno.chdir(cwd);
  }
});

Deno.test("cache:clear refuses a folder another program tagged with CACHEDIR.TAG", async () => {
  // CACHEDIR.TAG is a shared convention (Cargo's target/, pip's cache): its presence alone does
  // not make a folder grood's. Shaped like a grood cache (a `*.tmp-*` folder, an `entry.json`),
  // the other program's files stay, and so do its marker and the folder.
  const other = await Deno.makeTempDir();
  await Deno.writeTextFile(
    join(other, CACHE_MARKER),
    "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag.\n",
  );
  await Deno.mkdir(join(other, "jobs", "run.tmp-1"), { recursive: true });
  await Deno.writeTextFile(join(other, "jobs", "run.tmp-1", "log.txt"), "precious");
  await Deno.mkdir(join(other, "jobs", "k"), { recursive: true });
  await Deno.writeTextFile(join(other, "jobs", "k", "entry.json"), "{}");
  await Deno.mkdir(join(other, "empty"));
  const refused = await runTaskProcess(["tasks/cache_clear.ts", "--dir", other]);
  assert.equal(refused.code, 1, refused.stdout);
  assert.match(
    refused.stderr,
    new RegExp(
      `Refusing to clear "${other}": it is not a grood stage cache \\(its ${CACHE_MARKER}`,
    ),
  );
  assert.equal(await Deno.readTextFile(join(other, "jobs", "run.tmp-1", "log.txt")), "precious");
  assert.ok((await Deno.stat(join(other, "jobs", "k", "entry.json"))).isFile);
  assert.ok((await Deno.stat(join(other, "empty"))).isDirectory);
  assert.ok((await Deno.stat(join(other, CACHE_MARKER))).isFile);
});

Deno.test("cache:clear refuses a folder whose CACHEDIR.TAG is a named pipe, without opening it", async () => {
  // Reading the tag to compare it would wait for a writer forever (here, the harness's writer
  // hands a reader grood's own tag: a clear that opened the pipe would go on and clear).
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(join(dir, CACHE_MARKER), MARKER_TEXT);
  const { result: exit, opened } = await loadWithPipeAt(
    join(dir, CACHE_MARKER),
    () => Effect.runPromiseExit(clearStageCache(dir)),
  );
  assert.equal(opened, false, "the pipe was opened");
  assert.ok(Exit.isFailure(exit));
  assert.match(String(exit.cause), /CACHEDIR\.TAG: it is a named pipe, not a regular file/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("cache:clear removes only cache entries and refuses any other folder", async () => {
  // A user's folder (no marker): refused, untouched.
  const user = await Deno.makeTempDir();
  await Deno.writeTextFile(join(user, "thesis.tex"), "precious");
  await Deno.mkdir(join(user, "features", "abc"), { recursive: true });
  const refused = await runTaskProcess(["tasks/cache_clear.ts", "--dir", user]);
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    new RegExp(`Refusing to clear "${user}": it is not a grood stage cache`),
  );
  assert.equal(await Deno.readTextFile(join(user, "thesis.tex")), "precious");
  assert.ok((await Deno.stat(join(user, "features", "abc"))).isDirectory);
  // A real cache with a stray file of the user's: entries go, the file stays.
  const root = join(await Deno.makeTempDir(), "cache");
  const cache = makeStageCache(root);
  await runPromise(
    cache.cached("scores", { a: 1 }, vectorCodec, Effect.succeed(new Float32Array([1]))),
  );
  await runPromise(
    cache.cached("scores", { a: 2 }, vectorCodec, Effect.succeed(new Float32Array([2]))),
  );
  await Deno.mkdir(join(root, "scores", "x.tmp-1-dead"), { recursive: true }); // an interrupted write
  await Deno.writeTextFile(join(root, "notes.txt"), "mine");
  const cleared = await runTaskProcess(["tasks/cache_clear.ts", "--dir", root]);
  assert.equal(cleared.code, 0, cleared.stderr);
  assert.match(cleared.stdout, /removed 3 entries/);
  assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name).sort(), [
    CACHE_MARKER,
    "notes.txt",
  ]);
  // Unknown flags are refused by name with the nearest one and the help, exit code 2.
  const bad = await runTaskProcess(["tasks/cache_clear.ts", "--dri", root]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Unrecognized flag: --dri in command grood cache clear/);
  assert.match(bad.stderr, /Did you mean this\?\s+--dir/);
  assert.match(bad.stderr, /USAGE\s+grood cache clear/);
});

Deno.test("cache:clear keeps a folder whose name only looks like a temporary one", async () => {
  // Any folder with ".tmp-" in its name was removed with its files (a user's notes.tmp-old);
  // only grood's own temporaries (KEY.tmp-PID-ID, KEY.tmp-rejected-ID) are.
  const root = join(await Deno.makeTempDir(), "cache");
  const cache = makeStageCache(root);
  await runPromise(
    cache.cached("scores", { a: 1 }, vectorCodec, Effect.succeed(new Float32Array([1]))),
  );
  const stage = join(root, "scores");
  await Deno.mkdir(join(stage, "x.tmp-1-dead"));
  await Deno.mkdir(join(stage, "x.tmp-rejected-0a1b2c3d"));
  await Deno.mkdir(join(stage, "notes.tmp-old"));
  await Deno.writeTextFile(join(stage, "notes.tmp-old", "thesis.txt"), "mine");
  const report = await Effect.runPromise(clearStageCache(root));
  assert.equal(report.removed, 3);
  assert.deepEqual(report.kept, [join(stage, "notes.tmp-old")]);
  assert.equal(await Deno.readTextFile(join(stage, "notes.tmp-old", "thesis.txt")), "mine");
  assert.deepEqual([...Deno.readDirSync(stage)].map((e) => e.name), ["notes.tmp-old"]);
});
