/**
 * Finite or refused (issue 24, class 4): every model output is checked where it enters
 * (`lib/models/finite.ts`). At fit a NaN or infinite feature or logit is a typed error naming
 * the model and the image; at scoring an image whose outputs are not finite gets the verdict
 * `invalid` (never in-distribution), has no score in `score`'s CSV or JSON, and leaves the
 * other images of its batch exactly as they score alone.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect } from "effect";
import { fitDetectorFolder, type FitOptions, openFittedDetector } from "../lib/fitted/mod.ts";
import { parseSourceArgument } from "../lib/sources/argument.ts";
import { collectTaps, openModel, predictClasses } from "../lib/models/mod.ts";
import {
  hugeLogitsModel,
  nanHeadGroodModel,
  nanHeadModel,
  nanOnBlackModel,
} from "./broken_models.ts";
import { runScoped, scopedFailure } from "./with_compute.ts";
import { mnistTrain, writeDigitSet, writeImageSet } from "./digit_sets.ts";
import { denoTask } from "./deno_task.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const dir = await Deno.makeTempDir({ prefix: "grood-finite-" });

const writeSet = (name: string, pixels: Uint8Array, labels?: Uint8Array) =>
  writeImageSet(dir, name, pixels, labels);
await writeDigitSet(dir, "train", 0, 600);
await writeDigitSet(dir, "val", 600, 200);
// Three digits with an all-black image between them.
const mixed = new Uint8Array(4 * 784);
mixed.set(mnistTrain.pixels.subarray(800 * 784, 801 * 784), 0);
mixed.set(mnistTrain.pixels.subarray(801 * 784, 803 * 784), 2 * 784);
await writeSet("mixed", mixed);

const source = (argument: string, labelled = false) =>
  Effect.runPromise(parseSourceArgument(argument, dir, { labelled }));
const options = async (model: string, detector: unknown, out: string): Promise<FitOptions> => ({
  model,
  train: await source("train.npy", true),
  validation: await source("val.npy", true),
  detector,
  out: join(dir, out),
});

Deno.test("a model whose classifier head is NaN is refused at fit, naming the model and the image", async () => {
  const model = await nanHeadModel(dir);
  // GROOD fits streaming, MSP in memory: both paths go through the one check.
  for (const detector of [{ kind: "grood" }, { kind: "msp" }]) {
    const error = await scopedFailure(
      fitDetectorFolder(await options(model, detector, `nan-head-${detector.kind}`)),
    );
    assert.equal(error._tag, "NonFiniteOutput", detector.kind);
    assert.match(error.message, /nan-head\.onnx.*logits for image 0 of/, detector.kind);
    await assert.rejects(Deno.stat(join(dir, `nan-head-${detector.kind}`)));
  }
});

Deno.test("grood's own CNN with a NaN head is refused at fit as NonFiniteOutput, not as an export mismatch", async () => {
  // Its ONNX export is checked against tfjs first: both give NaN logits, which is agreement
  // (it used to be an OnnxExportMismatch "differ by up to Infinity (allowed NaN); run it with
  // the tfjs engine", blaming the export); the features' finite check then names the model.
  const model = await nanHeadGroodModel(dir);
  const error = await scopedFailure(
    fitDetectorFolder(await options(model, { kind: "msp" }, "nan-head-grood-msp")),
  );
  assert.equal(error._tag, "NonFiniteOutput", error.message);
  assert.match(error.message, /nan-head-grood.*logits for image 0 of/);
  await assert.rejects(Deno.stat(join(dir, "nan-head-grood-msp")));
});

Deno.test("a fit whose validation scores are all the same is refused, not reported with a threshold", async () => {
  const model = await hugeLogitsModel(dir);
  const error = await scopedFailure(
    fitDetectorFolder(await options(model, { kind: "msp" }, "huge-logits-msp")),
  );
  assert.equal(error._tag, "DegenerateScores");
  assert.match(error.message, /MSP gives all 200 validation images .* the same score \(-1\)/);
  await assert.rejects(Deno.stat(join(dir, "huge-logits-msp")));
  // The same data on the fixture itself fits.
  const foreign = join(root, "fixtures/models/foreign/foreign.onnx");
  await runScoped(fitDetectorFolder(await options(foreign, { kind: "msp" }, "fixture-msp")));
});

Deno.test("predictClasses is the argmax of the logits, and refuses a NaN logit naming the image", async () => {
  const digits = { name: "digits", count: 40, pixels: mnistTrain.pixels.slice(0, 40 * 784) };
  const foreign = join(root, "fixtures/models/foreign/foreign.onnx");
  const [predicted, [logits]] = await runScoped(Effect.gen(function* () {
    const model = yield* openModel(foreign);
    // A batch of 16 so that the argmax crosses batch boundaries.
    return [
      yield* predictClasses(model, digits, { batchSize: 16 }),
      yield* collectTaps(model, digits, ["logits"]),
    ] as const;
  }));
  const classes = logits!.shape[1]!;
  for (let i = 0; i < digits.count; i++) {
    const row = Array.from(logits!.data.subarray(i * classes, (i + 1) * classes));
    assert.equal(predicted[i], row.indexOf(Math.max(...row)), `image ${i}`);
  }
  const withBlack = { name: "with-black", count: 4, pixels: mixed };
  const model = await nanOnBlackModel(dir);
  const error = await scopedFailure(
    Effect.flatMap(openModel(model), (m) => predictClasses(m, withBlack)),
  );
  assert.equal(error._tag, "NonFiniteOutput");
  assert.match(error.message, /logits for image 1 of "with-black"/);
});

Deno.test("an image whose model output is NaN is invalid, never in-distribution, and leaves the rest of the batch unchanged", async () => {
  const model = await nanOnBlackModel(dir);
  for (const kind of ["msp", "energy", "maxlogit", "grood"]) {
    const out = `nan-on-black-${kind}`;
    await runScoped(fitDetectorFolder(await options(model, { kind }, out)));
    await runScoped(Effect.gen(function* () {
      const detector = yield* openFittedDetector(join(dir, out));
      const shape = detector.inputSpec.shape;
      const all = yield* detector.scoreImages({ count: 4, shape, pixels: mixed });
      const digits = new Uint8Array(3 * 784);
      digits.set(mixed.subarray(0, 784), 0);
      digits.set(mixed.subarray(2 * 784), 784);
      const alone = yield* detector.scoreImages({ count: 3, shape, pixels: digits });
      assert.deepEqual(all.verdicts[1], "invalid", kind);
      assert.equal(all.isOod[1], true, kind);
      assert.equal(all.predicted[1], -1, kind);
      assert.deepEqual(all.invalid.map((i) => i.index), [1], kind);
      assert.match(all.invalid[0]!.problem, /NaN or infinite value in its logits/);
      // The others score exactly as without the broken image.
      assert.deepEqual([all.scores[0], all.scores[2], all.scores[3]], Array.from(alone.scores));
      assert.deepEqual(
        [all.verdicts[0], all.verdicts[2], all.verdicts[3]],
        alone.verdicts,
        kind,
      );
      assert.ok(alone.verdicts.every((v) => v !== "invalid"), kind);
    }));
  }
});

Deno.test("score writes an invalid image as invalid, with no score, in CSV and JSON", async () => {
  const run = async (args: ReadonlyArray<string>) => {
    const output = await denoTask(dir, "score", args);
    assert.equal(output.code, 0, output.stderr);
    return output;
  };
  const folder = "nan-on-black-msp";
  const csv = (await run(["--detector", folder, "mixed.npy"])).stdout.trim().split("\n");
  assert.equal(csv[0], "source,image,verdict,score,ood,predicted,problem");
  assert.match(csv[2]!, /^mixed\.npy,1,invalid,,,,the model gave a NaN or infinite value/);
  for (const i of [1, 3, 4]) {
    assert.match(csv[i]!, /^mixed\.npy,\d,(in|ood),-?[0-9.e-]+,(true|false),\d,$/);
  }
  assert.ok(!csv.join("\n").includes("NaN,"));
  const json = await run(["--detector", folder, "mixed.npy", "--out", "scores.json"]);
  assert.match(json.stderr, /4 images scored, \d flagged OOD, 1 invalid/);
  const rows = JSON.parse(await Deno.readTextFile(join(dir, "scores.json"))).rows;
  assert.deepEqual(
    { verdict: rows[1].verdict, score: rows[1].score, ood: rows[1].ood },
    { verdict: "invalid", score: null, ood: null },
  );
  assert.ok(
    rows.filter((_: unknown, i: number) => i !== 1).every((r: { score: unknown }) =>
      typeof r.score === "number"
    ),
  );
});

Deno.test("evaluate-ood refuses a source with an invalid image, naming it, instead of a metric", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "task",
      "--config",
      join(root, "deno.json"),
      "evaluate-ood",
      "--detector",
      "nan-on-black-msp",
      "--id",
      "val.npy",
      "--ood",
      "mixed.npy",
    ],
    cwd: dir,
    env: { NO_COLOR: "1", INIT_CWD: dir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 1, stderr);
  assert.match(stderr, /1 image of "mixed\.npy" could not be scored \(first: 1: the model gave/);
  assert.doesNotMatch(stderr, /\n\s+at /);
});

Deno.test("cleanup", async () => {
  await Deno.remove(dir, { recursive: true });
});
