/**
 * Issue 24, classes 1, 2, 5 and 9: every example of the issue as a test. Output folders never
 * destroy what they replace, names never become paths, content keys see through links, and the
 * small ones (relative paths, named pipes, gzip bombs, `.gz` on the command line, `--json`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { Effect } from "effect";
import fc from "fast-check";
import { readBenchmark } from "../lib/benchmarks/load.ts";
import { type Codec, makeStageCache, stageKey } from "../lib/cache/cache.ts";
import { fitDetectorFolder, openFittedDetector, scoreSource } from "../lib/fitted/mod.ts";
import { decodeIdx, encodeIdx, readIdx } from "../lib/io/idx.ts";
import { readNpy } from "../lib/io/npy.ts";
import {
  checkOutputFile,
  checkOutputFolder,
  OUTPUT_MARKER,
  recoverOutputFolder,
  writeOutputFolder,
} from "../lib/io/output_folder.ts";
import { hashModel } from "../lib/models/files.ts";
import { benchmarkFolderRules } from "../apps/results/benchmark_folder.ts";
import { GREY_28, openSource } from "../lib/sources/mod.ts";
import { parseSourceArgument } from "../lib/sources/argument.ts";
import { runScoped } from "./with_compute.ts";
import { mnistTrain, writeDigitSet } from "./digit_sets.ts";
import { denoTask } from "./deno_task.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const foreign = join(root, "fixtures/models/foreign/foreign.onnx");
const mnistModel = join(root, "fixtures/models/mnist");

const task = denoTask;

const flip = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(Effect.flip(effect));
const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);

/** A scratch folder holding a user's folder of files, as in the issue's reproductions. */
const scratch = async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-doors-" });
  await Deno.mkdir(join(dir, "mydocs"));
  await Deno.writeTextFile(join(dir, "mydocs", "thesis.txt"), "thesis");
  return dir;
};

// A small MNIST training set as .npy, and a folder of training images (an input).
const data = await Deno.makeTempDir({ prefix: "grood-doors-data-" });
await writeDigitSet(data, "train", 0, 600);
await writeDigitSet(data, "val", 600, 300);

// ─────────────────────────── class 1: output folders ───────────────────────────

Deno.test("class 1: fit --out a folder of the user's files is refused and the files are kept", async () => {
  const dir = await scratch();
  const r = await task(dir, "fit", [
    "--model",
    foreign,
    "--train",
    join(data, "train.npy"),
    "--detector",
    "msp",
    "--out",
    "mydocs",
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /Refusing to write ".*mydocs": it holds files grood did not write/);
  assert.doesNotMatch(r.stderr, /\n\s+at /); // no stack trace
  assert.equal(await Deno.readTextFile(join(dir, "mydocs", "thesis.txt")), "thesis");
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["mydocs"]);
});

Deno.test("class 1: fit --out . (the current folder) is refused", async () => {
  const dir = await scratch();
  await Deno.copyFile(join(data, "train.npy"), join(dir, "train.npy"));
  await Deno.copyFile(join(data, "train.labels.npy"), join(dir, "train.labels.npy"));
  const r = await task(dir, "fit", [
    "--model",
    foreign,
    "--train",
    "train.npy",
    "--detector",
    "msp",
    "--out",
    ".",
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /it is the current folder/);
  assert.ok(await exists(join(dir, "mydocs", "thesis.txt")));
  assert.ok(await exists(join(dir, "train.npy")));
});

Deno.test("class 1: the training images' folder, an ancestor of them and the model's folder are refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-doors-inputs-" });
  const images = join(dir, "images");
  await Deno.mkdir(join(images, "0"), { recursive: true });
  await Deno.writeFile(join(images, "0", "a.png"), new Uint8Array([1]));
  const model = join(dir, "model");
  await Deno.mkdir(model);
  await Deno.writeFile(join(model, "model.onnx"), new Uint8Array([1]));
  const inputs = [images, join(model, "model.onnx")];
  for (
    const [out, reason] of [
      [images, /it is an input of this run/],
      [dir, /it holds an input of this run/],
      [model, /it holds an input of this run/],
      [join(images, "0"), /it lies inside an input of this run/],
    ] as const
  ) {
    const error = await flip(checkOutputFolder(out, { kind: "fitted detector", inputs }));
    assert.equal(error._tag, "OutputFolderRefused", out);
    assert.match(error.message, reason);
    assert.ok(error.message.includes(out));
  }
  assert.ok(await exists(join(images, "0", "a.png")));
  assert.ok(await exists(join(model, "model.onnx")));
});

Deno.test("class 1: two --detector specs of one kind are refused before anything is written", async () => {
  const dir = await scratch();
  const r = await task(dir, "fit", [
    "--model",
    foreign,
    "--train",
    join(data, "train.npy"),
    "--detector",
    "msp",
    "--detector",
    '{"kind":"msp"}',
    "--out",
    "dets",
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /--detector 1 and --detector 2 are both of kind "msp"/);
  assert.ok(!(await exists(join(dir, "dets"))));
  assert.doesNotMatch(r.stdout, /→/); // nothing reported as written
});

Deno.test("class 1: score --out over the images it scores, train --out into a user's folder and export-onnx into the model's folder are refused", async () => {
  const dir = await scratch();
  await Deno.copyFile(join(data, "val.npy"), join(dir, "val.npy"));
  const before = await Deno.readFile(join(dir, "val.npy"));
  const det = await fittedFromLinkedModel();
  const score = await task(dir, "score", ["--detector", det, "val.npy", "--out", "val.npy"]);
  assert.equal(score.code, 1, score.stderr);
  assert.match(score.stderr, /Refusing to write ".*val\.npy": it is an input of this run/);
  assert.deepEqual(await Deno.readFile(join(dir, "val.npy")), before);
  // The source spec file an argument names is an input as the files it names are, even with
  // --overwrite (it used to be replaced by the rows).
  const spec = JSON.stringify({ kind: "npy", images: "val.npy" });
  await Deno.writeTextFile(join(dir, "val.json"), spec);
  const overSpec = await task(dir, "score", [
    "--detector",
    det,
    "val.json",
    "--out",
    "val.json",
    "--overwrite",
  ]);
  assert.equal(overSpec.code, 1, overSpec.stderr);
  assert.match(overSpec.stderr, /Refusing to write ".*val\.json": it is an input of this run/);
  assert.equal(await Deno.readTextFile(join(dir, "val.json")), spec);
  const train = await task(dir, "train", ["--out", "mydocs", "--epochs", "1"]);
  assert.equal(train.code, 1, train.stderr);
  assert.match(train.stderr, /Refusing to write ".*mydocs": it holds files grood did not write/);
  await Deno.mkdir(join(dir, "model"));
  for (const file of ["model.json", "weights.bin", "metadata.json"]) {
    await Deno.copyFile(join(mnistModel, file), join(dir, "model", file));
  }
  const exported = await task(dir, "export-onnx", ["--model", "model", "--out", "model/x.onnx"]);
  assert.equal(exported.code, 1, exported.stderr);
  assert.match(exported.stderr, /x\.onnx": it lies inside an input of this run/);
  assert.equal(await Deno.readTextFile(join(dir, "mydocs", "thesis.txt")), "thesis");
  assert.deepEqual([...Deno.readDirSync(join(dir, "model"))].map((e) => e.name).sort(), [
    "metadata.json",
    "model.json",
    "weights.bin",
  ]);
});

Deno.test("class 1: train --out a committed fixture model (or a folder in one) is refused: that takes --overwrite-fixture", async () => {
  // The fixture holds exactly the files a saved model does, so the output-folder rules let
  // `train --out fixtures/models/fashion-mnist` save over it (an mnist model, by default).
  const dir = await scratch();
  const fashion = join(root, "fixtures/models/fashion-mnist");
  const weights = await Deno.readFile(join(fashion, "weights.bin"));
  for (const out of [fashion, join(mnistModel, "sub")]) {
    const r = await task(dir, "train", ["--out", out, "--epochs", "1"]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(
      r.stderr.includes(`Refusing to write "${out}": it is, or lies in, the committed fixture`),
      r.stderr,
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /); // no stack trace
  }
  assert.deepEqual(await Deno.readFile(join(fashion, "weights.bin")), weights);
  assert.equal(await exists(join(mnistModel, "sub")), false);
});

Deno.test("class 1: a folder grood wrote is replaced whole; nothing else of the user's is touched", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-doors-replace-" });
  const out = join(dir, "out");
  const rules = { kind: "test" };
  await Effect.runPromise(
    writeOutputFolder(
      out,
      rules,
      (tmp) => Effect.promise(() => Deno.writeTextFile(join(tmp, "a.txt"), "1")),
    ),
  );
  assert.ok(await exists(join(out, OUTPUT_MARKER)));
  await Deno.writeTextFile(join(dir, "sibling.txt"), "mine");
  await Effect.runPromise(
    writeOutputFolder(
      out,
      rules,
      (tmp) => Effect.promise(() => Deno.writeTextFile(join(tmp, "b.txt"), "2")),
    ),
  );
  assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name).sort(), [OUTPUT_MARKER, "b.txt"]);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["out", "sibling.txt"]);
  // A link to a folder is refused, never replaced by a folder.
  await Deno.symlink(out, join(dir, "link"));
  const error = await flip(writeOutputFolder(join(dir, "link"), rules, () => Effect.void));
  assert.match(error.message, /symbolic link/);
});

Deno.test("class 1: result folders written before the marker existed are still grood's; others are not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-doors-legacy-" });
  const old = join(dir, "mnist");
  await Deno.mkdir(old);
  for (const file of ["results.json", "results.md"]) {
    await Deno.writeTextFile(join(old, file), "{}");
  }
  await Effect.runPromise(checkOutputFolder(old, benchmarkFolderRules()));
  await Deno.remove(join(old, "results.md"));
  const error = await flip(checkOutputFolder(old, benchmarkFolderRules()));
  assert.match(error.message, /no \.grood-output marker/);
});

Deno.test("class 9: leftover temporary folders and files of a killed run are removed at the next write", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-doors-leftover-" });
  const out = join(dir, "det");
  // pid 2^22 + 1 is above Linux's pid_max: no process runs with it.
  const dead = 4194305;
  await Deno.mkdir(join(dir, `.det.tmp-${dead}-0123abcd`));
  await Deno.writeTextFile(join(dir, `.det.tmp-${dead}-0123abcd`, "half.npy"), "x");
  await Deno.mkdir(join(dir, `.other.tmp-${dead}-0123abcd`)); // another folder's: kept
  await Effect.runPromise(writeOutputFolder(out, { kind: "test" }, () => Effect.void));
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
    `.other.tmp-${dead}-0123abcd`,
    "det",
  ]);
  // And a killed atomic write of an output file (`score --out s.csv`).
  await Deno.writeTextFile(join(dir, `s.csv.${dead}.0123abcd.tmp`), "half");
  await Deno.writeTextFile(join(dir, `s.csv.${Deno.pid}.0123abcd.tmp`), "a live writer's");
  await Effect.runPromise(checkOutputFile(join(dir, "s.csv"), { inputs: [] }));
  assert.ok(!(await exists(join(dir, `s.csv.${dead}.0123abcd.tmp`))));
  assert.ok(await exists(join(dir, `s.csv.${Deno.pid}.0123abcd.tmp`)));
});

Deno.test("class 1/9: kill -9 of fit replacing a fitted folder, at random moments: the folder still loads", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-doors-killfit-" });
  const args = [
    "run",
    "-A",
    join(root, "tasks/fit.ts"),
    "--model",
    foreign,
    "--train",
    join(data, "train.npy"),
    "--val",
    join(data, "val.npy"),
    "--detector",
    "msp",
    "--out",
    "det",
  ];
  const fit = () =>
    new Deno.Command(Deno.execPath(), {
      args,
      cwd: dir,
      env: { NO_COLOR: "1", INIT_CWD: dir },
      stdout: "null",
      stderr: "null",
    });
  const started = performance.now();
  assert.equal((await fit().output()).code, 0);
  // Kill points spread over the later part of a run (where it writes), as a share of its time.
  const duration = performance.now() - started;
  const seen: Array<string> = [];
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 50, max: 105 }), async (percent) => {
      const delay = Math.round((duration * percent) / 100);
      const child = fit().spawn();
      const ended = await Promise.race([
        child.status.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), delay)),
      ]);
      if (!ended) child.kill("SIGKILL");
      await child.status;
      const leftovers = await Effect.runPromise(recoverOutputFolder(join(dir, "det")));
      const manifest = await runScoped(
        Effect.map(openFittedDetector(join(dir, "det")), (d) => d.manifest),
      );
      assert.equal(manifest.detector.kind, "msp");
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["det"]);
      seen.push(`+${delay} ms: ${ended ? "finished" : "killed"}, ${leftovers.length} tidied`);
    }),
    { seed: 24, numRuns: 8 },
  );
  console.log(seen.join("\n"));
});

// ─────────────────────────── class 2: names become paths ───────────────────────────

Deno.test('class 2: a benchmark file\'s "name": "../victim" is refused naming the key', async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-doors-bench-" });
  const file = join(dir, "bench.json");
  const source = { kind: "dataset", name: "mnist", split: "test" };
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      name: "../victim",
      model: { kind: "onnx", path: foreign },
      id: { train: source, test: source, validation: source },
      oodTest: [{ name: "letters", group: "near", source: { kind: "ood-set", name: "letters" } }],
      oodValidation: [],
    }),
  );
  const error = await flip(readBenchmark(file));
  assert.match(
    error.message,
    /bench\.json": name: .*not "\.\.\/victim": it contains a path separator/,
  );
});

Deno.test('class 2: ablate with "name": "../../victim" is refused and the victim folder kept', async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-doors-ablate-" });
  await Deno.mkdir(join(dir, "victim"));
  await Deno.writeTextFile(join(dir, "victim", "data.txt"), "precious");
  await Deno.writeTextFile(
    join(dir, "abl.json"),
    JSON.stringify({ name: "../../victim", benchmark: "mnist", grids: [{ samples: [100] }] }),
  );
  const r = await task(dir, "ablate", [
    "abl.json",
    "--no-cache",
    "--out",
    join(dir, "results", "ablations"),
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /not "\.\.\/\.\.\/victim": it contains a path separator in .*abl\.json at name/,
  );
  assert.equal(await Deno.readTextFile(join(dir, "victim", "data.txt")), "precious");
  assert.ok(!(await exists(join(dir, "results"))));
});

Deno.test("class 2: a tfjs weight path ../../x/weights.bin is refused; the file outside is untouched", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-doors-tfjs-" });
  await Deno.mkdir(join(dir, "x"));
  await Deno.writeTextFile(join(dir, "x", "weights.bin"), "outside");
  const model = join(dir, "a", "b", "model.json");
  await Deno.mkdir(join(dir, "a", "b"), { recursive: true });
  await Deno.writeTextFile(
    model,
    JSON.stringify({
      modelTopology: {},
      weightsManifest: [{ paths: ["../../x/weights.bin"], weights: [] }],
    }),
  );
  const error = await flip(hashModel(model));
  assert.equal(error._tag, "PathOutsideBase");
  assert.match(
    error.message,
    /"\.\.\/\.\.\/x\/weights\.bin" in .*weightsManifest\[0\]\.paths\[0\]/,
  );
  assert.equal(await Deno.readTextFile(join(dir, "x", "weights.bin")), "outside");
});

// ─────────────────────────── class 5: content keys over links ───────────────────────────

/** grood's MNIST model with its weights behind a link to a file inside the folder. */
const linkedModel = async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-doors-linked-" });
  const model = join(dir, "model");
  await Deno.mkdir(join(model, "store"), { recursive: true });
  for (const file of ["model.json", "metadata.json"]) {
    await Deno.copyFile(join(mnistModel, file), join(model, file));
  }
  await Deno.copyFile(join(mnistModel, "weights.bin"), join(model, "store", "w1.bin"));
  await Deno.symlink("store/w1.bin", join(model, "weights.bin"));
  return { dir, model };
};

Deno.test("class 5: re-pointing a symlinked weight file changes the model's content key", async () => {
  const { model } = await linkedModel();
  const before = await Effect.runPromise(hashModel(model));
  assert.ok(before.files.some((f) => f.path === "weights.bin"), "the link is in the key");
  const weights = await Deno.readFile(join(model, "store", "w1.bin"));
  weights[100] = weights[100]! ^ 0xff;
  await Deno.writeFile(join(model, "store", "w2.bin"), weights);
  await Deno.remove(join(model, "weights.bin"));
  await Deno.symlink("store/w2.bin", join(model, "weights.bin"));
  const after = await Effect.runPromise(hashModel(model));
  assert.notEqual(after.sha256, before.sha256);
});

Deno.test("class 5: a link leaving the model's folder is refused, saying so", async () => {
  const { dir, model } = await linkedModel();
  await Deno.writeFile(join(dir, "outside.bin"), new Uint8Array([1, 2]));
  await Deno.symlink(join(dir, "outside.bin"), join(model, "extra.bin"));
  const error = await flip(hashModel(model));
  assert.equal(error._tag, "LinkLeavesRoot");
  assert.match(error.message, /extra\.bin" points to .*outside\.bin", outside/);
});

/** An MSP folder fitted on grood's MNIST model whose weights are behind a link (made once). */
let fittedOnce: Promise<string> | undefined;
const fittedFromLinkedModel = () =>
  fittedOnce ??= (async () => {
    const { dir, model } = await linkedModel();
    const out = join(dir, "det");
    await runScoped(fitDetectorFolder({
      model,
      train: await source("train.npy", true),
      validation: await source("val.npy", true),
      validationOod: [await source("ood-set:letters-val")],
      detector: { kind: "msp" },
      out,
    }));
    return out;
  })();
const source = (argument: string, labelled = false) =>
  Effect.runPromise(parseSourceArgument(argument, data, { labelled }));

Deno.test("class 5: a fitted folder made from a model with a symlinked weight file loads and scores", async () => {
  const out = await fittedFromLinkedModel();
  assert.ok((await Deno.lstat(join(out, "model", "weights.bin"))).isFile, "copied as a file");
  const validation = await source("val.npy", true);
  const scored = await runScoped(Effect.gen(function* () {
    const detector = yield* openFittedDetector(out);
    return yield* scoreSource(detector, validation);
  }));
  assert.equal(scored.scores.length, 300);
  assert.ok(scored.scores.every(Number.isFinite));
});

Deno.test("class 2/9: a cache entry whose entry.json points outside it, or at a named pipe, is recomputed", async () => {
  const root = await Deno.makeTempDir({ prefix: "grood-doors-cache-" });
  const cache = makeStageCache(root);
  const codec: Codec<Float32Array> = {
    encode: (v) => ({ arrays: { v: { data: v, shape: [v.length] } }, meta: {} }),
    decode: (arrays) => arrays.get("v")!.data as Float32Array,
  };
  let computed = 0;
  const compute = Effect.sync(() => (computed++, new Float32Array([4, 5])));
  const get = () => Effect.runPromise(cache.cached("scores", { run: 1 }, codec, compute));
  await get();
  const dir = join(root, "scores", stageKey("scores", { run: 1 }));
  // The same bytes outside the entry, and entry.json re-pointed at them: never read.
  await Deno.copyFile(join(dir, "v.npy"), join(root, "outside.npy"));
  const entryPath = join(dir, "entry.json");
  const entry = JSON.parse(await Deno.readTextFile(entryPath));
  entry.arrays.v.file = "../../outside.npy";
  await Deno.writeTextFile(entryPath, JSON.stringify(entry));
  assert.equal((await get()).hit, false, "a path leaving the entry is not followed");
  // A named pipe in place of the array: refused at once, not waited on.
  await Deno.remove(join(dir, "v.npy"));
  assert.equal((await new Deno.Command("mkfifo", { args: [join(dir, "v.npy")] }).output()).code, 0);
  assert.equal((await get()).hit, false, "a pipe is not read");
  assert.equal(computed, 3);
  assert.equal((await get()).hit, true);
});

Deno.test("class 1: reproduce refuses a benchmark named as a file of its results folder, before computing", async () => {
  // `report.html` and `reproduce.json` are identifiers, and the files reproduce writes beside
  // the benchmarks' folders: such a benchmark's folder would take the page's place. Refused
  // before anything is computed or written (it used to run, write the folder, then fail on
  // the page with EISDIR, the results folder left without its page).
  const dir = await scratch();
  await writeDigitSet(dir, "ood", 900, 100);
  for (const name of ["report.html", "reproduce.json"]) {
    await Deno.writeTextFile(
      join(dir, `${name}.bench.json`),
      JSON.stringify({
        name,
        model: { kind: "grood", path: mnistModel },
        id: {
          train: {
            kind: "npy",
            images: join(data, "train.npy"),
            labels: join(data, "train.labels.npy"),
          },
          test: {
            kind: "npy",
            images: join(data, "val.npy"),
            labels: join(data, "val.labels.npy"),
          },
          validation: { kind: "held-out-of-test", count: 50, seed: 0 },
        },
        oodTest: [{ name: "digits", group: "near", source: { kind: "npy", images: "ood.npy" } }],
        oodValidation: [],
      }),
    );
    const r = await task(dir, "reproduce", [
      "--benchmark",
      `${name}.bench.json`,
      "--detector",
      "msp",
      "--no-cache",
      "--no-export",
      "--out",
      "res",
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(
      r.stderr.includes(`Refusing to write "${join(dir, "res", name)}": benchmark`) &&
        r.stderr.includes(`is named "${name}"`),
      r.stderr,
    );
    assert.equal(await exists(join(dir, "res")), false, "nothing written");
  }
});

// ─────────────────────────── class 9: small ones ───────────────────────────

Deno.test("class 9: relative --out of reproduce and ablate and evaluate --model resolve where typed", async () => {
  const dir = await scratch();
  await Deno.writeTextFile(
    join(dir, "abl.json"),
    JSON.stringify({ name: "x", benchmark: "mnist", grids: [{ samples: [100] }] }),
  );
  const ablate = await task(dir, "ablate", ["abl.json", "--no-cache", "--out", "mydocs"]);
  assert.equal(ablate.code, 1, ablate.stderr);
  assert.ok(ablate.stderr.includes(`Refusing to write "${join(dir, "mydocs")}"`), ablate.stderr);
  const reproduce = await task(dir, "reproduce", [
    "--benchmark",
    "mnist",
    "--no-cache",
    "--out",
    "mydocs",
  ]);
  assert.equal(reproduce.code, 1, reproduce.stderr);
  assert.ok(
    reproduce.stderr.includes(`Refusing to write "${join(dir, "mydocs")}"`),
    reproduce.stderr,
  );
  const evaluate = await task(dir, "evaluate", ["--model", "no-such-model"]);
  assert.equal(evaluate.code, 1, evaluate.stderr);
  assert.ok(evaluate.stderr.includes(join(dir, "no-such-model")), evaluate.stderr);
  assert.equal(await Deno.readTextFile(join(dir, "mydocs", "thesis.txt")), "thesis");
});

Deno.test("class 9: notebooks --out and --dir resolve where typed, not in the checkout", async () => {
  // They were taken from the checkout: `--out mydocs` typed beside mydocs executed every notebook
  // into the checkout's mydocs, and `--out .` refused the checkout, not the folder typed in.
  const dir = await scratch();
  await Deno.mkdir(join(dir, "mynotebooks"));
  const here = await task(dir, "notebooks", ["--out", ".", "--timeout", "5"]);
  assert.equal(here.code, 1, here.stderr);
  assert.ok(
    here.stderr.includes(`Refusing to write "${dir}": it is the current folder`),
    here.stderr,
  );
  const mine = await task(dir, "notebooks", ["--out", "mydocs", "--timeout", "5"]);
  assert.equal(mine.code, 1, mine.stderr);
  assert.ok(
    mine.stderr.includes(`Refusing to write "${join(dir, "mydocs")}": it holds files grood`),
    mine.stderr,
  );
  assert.doesNotMatch(mine.stderr, /\n\s+at /); // no stack trace
  const notebooks = await task(dir, "notebooks", ["--dir", "mynotebooks", "--out", "executed"]);
  assert.equal(notebooks.code, 1, notebooks.stderr);
  assert.ok(
    notebooks.stderr.includes(`no notebooks in "${join(dir, "mynotebooks")}"`),
    notebooks.stderr,
  );
  assert.equal(await Deno.readTextFile(join(dir, "mydocs", "thesis.txt")), "thesis");
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["mydocs", "mynotebooks"]);
  assert.equal(await exists(join(root, "mydocs")), false);
});

Deno.test("class 9: a named pipe called *.npy is refused at once, not waited on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-doors-fifo-" });
  const fifo = join(dir, "x.npy");
  const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert.equal(made.code, 0);
  const started = performance.now();
  const error = await flip(readNpy(fifo));
  assert.match(error.message, /named pipe, not a regular file/);
  const spec = await Effect.runPromise(parseSourceArgument(fifo, dir));
  const opened = await Effect.runPromise(
    Effect.flip(openSource(spec.spec, { baseDir: dir, shape: GREY_28 })),
  );
  assert.match(String(opened.message), /named pipe, not a regular file/);
  assert.ok(performance.now() - started < 5000);
});

Deno.test("class 9: a gzip IDX inflating past its header's size is refused without inflating it all", async () => {
  // Header: 10 images of 2×2 (40 bytes of values), then 64 MiB of zeros (compresses to ~64 KiB).
  const header = encodeIdx([10, 2, 2], new Uint8Array(40));
  const bomb = new Uint8Array(header.length + 64 * 1024 * 1024);
  bomb.set(header);
  const gz = gzipSync(bomb);
  const started = performance.now();
  const error = await flip(decodeIdx(new Uint8Array(gz), "bomb-idx3-ubyte.gz"));
  const ms = performance.now() - started;
  assert.equal(error._tag, "CorruptDataset");
  assert.match(error.message, /inflates to more than the 56 bytes its header declares/);
  // Stopped after the first chunk or so, not after 64 MiB.
  const stoppedAt = Number(/stopped after (\d+) bytes/.exec(error.message)?.[1]);
  assert.ok(stoppedAt < 1024 * 1024, `stopped after ${stoppedAt} bytes`);
  console.log(
    `gzip bomb (64 MiB) refused after ${stoppedAt} inflated bytes in ${ms.toFixed(0)} ms`,
  );
  // A well-formed gzip IDX still decodes.
  const good = await Effect.runPromise(decodeIdx(new Uint8Array(gzipSync(header)), "good.gz"));
  assert.deepEqual(good.dims, [10, 2, 2]);
});

Deno.test("class 9: a raw IDX file larger than its header declares (8 GiB, sparse) is refused before it is read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-doors-sparse-" });
  const path = join(dir, "big-idx3-ubyte");
  const file = await Deno.open(path, { write: true, create: true });
  await file.write(encodeIdx([10, 28, 28], new Uint8Array(7840)));
  await file.truncate(8 * 1024 ** 3);
  file.close();
  const started = performance.now();
  const error = await flip(readIdx(path));
  assert.match(
    error.message,
    /declares 7856 bytes but the file holds 8589934592 \(trailing bytes\)/,
  );
  assert.ok(performance.now() - started < 2000);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("class 9: .gz IDX files are accepted on the command line, with their labels", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-doors-gz-" });
  const images = encodeIdx([3, 28, 28], mnistTrain.pixels.slice(0, 3 * 784));
  const labels = encodeIdx([3], mnistTrain.labels.slice(0, 3));
  await Deno.writeFile(join(dir, "t-images-idx3-ubyte.gz"), gzipSync(images));
  await Deno.writeFile(join(dir, "t-images-idx1-ubyte.gz"), gzipSync(labels));
  const parsed = await Effect.runPromise(
    parseSourceArgument("t-images-idx3-ubyte.gz", dir, { labelled: true }),
  );
  assert.deepEqual(parsed.spec, {
    kind: "idx",
    images: join(dir, "t-images-idx3-ubyte.gz"),
    labels: join(dir, "t-images-idx1-ubyte.gz"),
  });
  const source = await Effect.runPromise(openSource(parsed.spec, { baseDir: dir, shape: GREY_28 }));
  assert.equal(source.count, 3);
});

Deno.test("class 9: inspect --json prints only the JSON on stdout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-doors-inspect-" });
  const r = await task(dir, "inspect", ["--model", foreign, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const parsed = JSON.parse(r.stdout) as { model: string };
  assert.equal(parsed.model, foreign);
});
