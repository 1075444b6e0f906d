/**
 * Command-line doors probes found: each refusal comes before any computation and names its
 * input and the problem. `cluster score` counts a source spec file named on its command
 * line as an input (as `score` and `fit` do).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect, Schema } from "effect";
import { DEFAULT_FAILOVER } from "../apps/cluster/failover.ts";
import { runDriver } from "../apps/cluster/driver.ts";
import { resultsFile } from "../apps/cli/run_task.ts";
import { checkOutputFolder } from "../lib/io/output_folder.ts";
import { writeJsonAtomic } from "../lib/io/files.ts";
import { decodeDetector } from "../lib/detectors/registry.ts";
import { fitDetectorFolder } from "../lib/fitted/mod.ts";
import { matrix } from "../lib/matrix.ts";
import { decodeAblation } from "../lib/pipeline/spec.ts";
import { groodDescriptors } from "../lib/stages/gradient.ts";
import { parseSourceArgument } from "../lib/sources/argument.ts";
import { readOptionalJson } from "../lib/io/json_file.ts";
import { loadWithPipeAt } from "./named_pipe.ts";
import { runScoped } from "./with_compute.ts";
import { writeDigitSet } from "./digit_sets.ts";
import { denoTask } from "./deno_task.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const mnistModel = join(root, "fixtures/models/mnist");
const dir = await Deno.makeTempDir({ prefix: "grood-cli-doors-" });
await writeDigitSet(dir, "train", 0, 300);
await writeDigitSet(dir, "val", 300, 200);

const source = (argument: string, labelled = true) =>
  Effect.runPromise(parseSourceArgument(argument, dir, { labelled }));
/** `grood fit` of mnist's model on train.npy (validation val.npy) into `out`, one flag a detector. */
const fitArgs = (out: string, ...detectors: Array<string>) => [
  "--model",
  mnistModel,
  "--train",
  "train.npy",
  "--val",
  "val.npy",
  ...detectors.flatMap((d) => ["--detector", d]),
  "--out",
  out,
];

Deno.test("cluster score: a source spec file named on the command line is an input, even with --overwrite", async () => {
  const detector = join(dir, "msp");
  await runScoped(fitDetectorFolder({
    model: mnistModel,
    train: await source("train.npy"),
    validation: await source("val.npy"),
    detector: { kind: "msp" },
    out: detector,
  }));
  const spec = JSON.stringify({ kind: "npy", images: "val.npy" });
  await Deno.writeTextFile(join(dir, "val.json"), spec);
  const error = await Effect.runPromise(Effect.flip(runDriver({
    detector,
    sources: ["val.json"],
    cwd: dir,
    jobDir: join(dir, "job"),
    out: join(dir, "val.json"),
    overwrite: true,
    // Never reached: the refusal comes while planning.
    pg: "postgres://127.0.0.1:1/none",
    chunkSize: 512,
    inFlight: 1,
    progressEvery: 60,
    chunkTimeout: 60,
    failover: DEFAULT_FAILOVER,
  }, () => {})));
  assert.equal(error._tag, "ClusterJobRefused", error.message);
  assert.match(error.message, /\(--out\): .*val\.json: it is an input of this run/);
  assert.equal(await Deno.readTextFile(join(dir, "val.json")), spec);
  // Nothing was created: the job folder is checked after the plan.
  assert.equal(await Deno.lstat(join(dir, "job")).then(() => true, () => false), false);
});

Deno.test("fit: numbered labels short of a wide logits tap name the model's outputs first, before any computation", async () => {
  // The pooled features (64) as logits: the labels (0–9) reach 10 of the 64 outputs.
  const taps = { penultimate: "head", logits: "pool" };
  for (const validation of [undefined, await source("val.npy")]) {
    const out = join(dir, `wide-${validation === undefined ? "held" : "val"}`);
    const error = await runScoped(Effect.flip(fitDetectorFolder({
      model: mnistModel,
      taps,
      train: await source("train.npy"),
      ...(validation === undefined ? {} : { validation }),
      out,
    })));
    assert.equal(error._tag, "FitDataInvalid", error.message);
    assert.match(error.message, /train\.npy": it has 10 classes \(0–9\)/);
    assert.match(error.message, /but the model has 64 outputs: no image of classes 10–63/);
    if (validation !== undefined) assert.match(error.message, /val\.npy" labels up to class 9/);
    assert.equal(await Deno.lstat(out).then(() => true, () => false), false);
  }
});

Deno.test("fit: one detector into the folder of a multi-detector fit is refused before computing, naming its detectors", async () => {
  const both = await denoTask(dir, "fit", fitArgs("both", "msp", "energy"));
  assert.equal(both.code, 0, both.stderr);
  const before = await Deno.readTextFile(join(dir, "both", "msp", "detector.json"));
  const one = await denoTask(dir, "fit", fitArgs("both", "msp"));
  assert.equal(one.code, 1, one.stderr);
  assert.match(
    one.stderr,
    /Refusing to write ".*both": it collects folders grood wrote, each a fitted detector \("energy", "msp"\)/,
  );
  // Refused before the features of any set were computed.
  assert.doesNotMatch(one.stderr, /features of/);
  assert.equal(await Deno.readTextFile(join(dir, "both", "msp", "detector.json")), before);
  // The multi-detector fit may still replace its own folder.
  const again = await denoTask(dir, "fit", fitArgs("both", "msp", "energy"));
  assert.equal(again.code, 0, again.stderr);
});

Deno.test("GROOD: a temperature its float32 descriptors cannot hold is refused by name, before computing", async () => {
  for (const value of [1e-300, 1e300]) {
    const error = await Effect.runPromise(
      Effect.flip(decodeDetector({ kind: "grood", temperature: value })),
    );
    assert.equal(error._tag, "InvalidInput");
    assert.match(error.message, /Expected a number in \[2\^-62, 2\^62\].*at temperature/);
  }
  const grid = await Effect.runPromise(
    Effect.flip(decodeDetector({ kind: "grood", temperatureGrid: [1, 1e-300] })),
  );
  assert.match(grid.message, /got 1e-300 .*at temperatureGrid\[1\]/);
  const ablation = await Effect.runPromise(Effect.flip(decodeAblation(
    { name: "t", benchmark: "mnist", grids: [{ temperature: [1e300] }] },
    "t.json",
  )));
  assert.match(ablation.message, /got 1e\+300 .*temperature/);
  // The library's stage names it too.
  const h = matrix(1, 2, [1, 0]);
  const prototypes = { classes: matrix(1, 2, [3, 0]), ood: new Float32Array([0, 0]) };
  const stage = await Effect.runPromise(Effect.flip(groodDescriptors(h, prototypes, 1e-300)));
  assert.match(stage.message, /Cannot use temperature = 1e-300: expected a number in \[2\^-62/);
  // The ends of the range hold: the descriptor (OOD prototype nearest, π_ood ≈ 1 or 1/2) is
  // finite and not zero, of length π_ood/τ.
  for (const t of [2 ** -62, 2 ** 62]) {
    const [x, y] = (await Effect.runPromise(groodDescriptors(h, prototypes, t))).data;
    const expected = 1 / (1 + Math.exp(-1 / t)) / t;
    assert.ok(Number.isFinite(x!) && x! > 0 && y === 0, `τ = ${t}: ${x}`);
    assert.ok(Math.abs(x! - expected) <= expected * 1e-6, `τ = ${t}: ${x} vs ${expected}`);
  }
  // The command line: refused before any features, naming the temperature.
  const r = await denoTask(dir, "fit", fitArgs("cold", '{"kind":"grood","temperature":1e-300}'));
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /got 1e-300 in the detector spec at temperature/);
  assert.doesNotMatch(r.stderr, /features of/);
});

Deno.test("a source spec .json or an optional JSON file (memo, manifest) that is a named pipe is refused, not waited on", async () => {
  const spec = join(dir, "pipe-spec.json");
  await Deno.writeTextFile(spec, JSON.stringify({ kind: "folder", path: "val" }));
  const asSpec = await loadWithPipeAt(
    spec,
    () => Effect.runPromise(Effect.exit(parseSourceArgument(spec, dir, { labelled: true }))),
  );
  assert.equal(asSpec.opened, false);
  assert.match(String(asSpec.result), /pipe-spec\.json.*not a JSON source spec.*named pipe/s);
  const memo = join(dir, "pipe-memo.json");
  await Deno.writeTextFile(memo, "{}");
  const asMemo = await loadWithPipeAt(
    memo,
    () => Effect.runPromise(Effect.exit(readOptionalJson(Schema.Struct({}), memo, (p) => p))),
  );
  assert.equal(asMemo.opened, false);
  assert.match(String(asMemo.result), /cannot read it.*named pipe/s);
});

Deno.test("engines, bench, bench serve, bench cluster: --out over a user's file or inside a fitted folder is refused before running", async () => {
  // Each wrote its results file with no check at all, after minutes of measuring: over a file of
  // the user's, inside a fitted detector folder, over a symbolic link (found by a probe).
  const scratch = await Deno.makeTempDir({ prefix: "grood-results-file-" });
  await Deno.writeTextFile(join(scratch, "mine.json"), "mine");
  await Deno.symlink("mine.json", join(scratch, "link.json"));
  const fitted = join(scratch, "fitted");
  await runScoped(fitDetectorFolder({
    model: mnistModel,
    train: await source("train.npy"),
    validation: await source("val.npy"),
    detector: { kind: "msp" },
    out: fitted,
  }));
  const entries = async () => (await Array.fromAsync(Deno.readDir(fitted))).map((e) => e.name);
  const fittedBefore = (await entries()).sort();
  const cheap: ReadonlyArray<[string, ReadonlyArray<string>]> = [
    ["engines", ["--runs", "1", "--skip-grood"]],
    ["bench", ["--quick", "--only", "knn"]],
    ["bench:serve", ["--seconds", "1", "--requests", "1000"]],
    ["bench:cluster", ["--images", "2560"]],
  ];
  for (const [name, flags] of cheap) {
    // `bench serve` logs as JSON lines: the quotes of its message are escaped.
    const cases: ReadonlyArray<[ReadonlyArray<string>, RegExp]> = [
      [
        ["--out", "mine.json"],
        /Refusing to write \\?".*mine\.json\\?": it exists; give --overwrite/,
      ],
      [
        ["--out", "link.json"],
        /Refusing to write \\?".*link\.json\\?": it exists; give --overwrite/,
      ],
      [
        ["--out", "fitted/x.json", "--overwrite"],
        /Refusing to write \\?".*fitted\/x\.json\\?": it lies inside \\?".*fitted\\?", a fitted detector/,
      ],
    ];
    for (const [out, refusal] of cases) {
      const r = await denoTask(scratch, name, [...flags, ...out]);
      assert.equal(r.code, 1, `${name} ${out.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, refusal, name);
      assert.doesNotMatch(r.stderr, /\n\s+at /, name); // no stack trace
      assert.equal(await Deno.readTextFile(join(scratch, "mine.json")), "mine", name);
      assert.equal(await Deno.readLink(join(scratch, "link.json")), "mine.json", name);
      assert.deepEqual((await entries()).sort(), fittedBefore, name);
    }
  }
});

Deno.test("a results file written into a new results/ leaves it a folder any task may collect its outputs in", async () => {
  // `grood engines` wrote results/engines.json into a results/ it made unmarked: `grood reproduce`
  // then refused results/ as holding files grood did not write (found by a probe).
  const scratch = await Deno.makeTempDir({ prefix: "grood-results-holder-" });
  const results = join(scratch, "results");
  const file = await Effect.runPromise(
    resultsFile(join(results, "engines.json"), "unused", { overwrite: false }),
  );
  await writeJsonAtomic(file, { engines: "measured" });
  await Effect.runPromise(checkOutputFolder(results, { kind: "results" }));
  // A user's folder on the way is still the user's: only the folders made are marked.
  await Deno.mkdir(join(scratch, "mydocs"));
  await Deno.writeTextFile(join(scratch, "mydocs", "thesis.txt"), "thesis");
  await Effect.runPromise(
    resultsFile(join(scratch, "mydocs", "engines.json"), "unused", { overwrite: false }),
  );
  assert.deepEqual([...Deno.readDirSync(join(scratch, "mydocs"))].map((e) => e.name), [
    "thesis.txt",
  ]);
});
