/**
 * `deno task fit`, `score` and `evaluate-ood` as a user runs them: from a folder outside the
 * checkout, on the foreign ONNX fixture, `.npy` training data and a folder of PNG images as the
 * OOD set (made here from the generated letters set).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect } from "effect";
import sharp from "sharp";
import { loadSplit } from "../lib/data/datasets.ts";
import { loadOodSet } from "../lib/data/ood/mod.ts";
import { writeNpyAtomic } from "../lib/io/npy.ts";
import { evaluateOod } from "../lib/stages/evaluate.ts";
import { denoTask } from "./deno_task.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const foreign = join(root, "fixtures/models/foreign/foreign.onnx");

const task = denoTask;

/** `count` images of an IDX OOD set as PNG files in `dir`. */
const writePngs = async (dir: string, count: number) => {
  const letters = await Effect.runPromise(loadOodSet("letters"));
  await Deno.mkdir(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const pixels = letters.data.subarray(i * 784, (i + 1) * 784);
    await sharp(pixels, { raw: { width: 28, height: 28, channels: 1 } }).png()
      .toFile(join(dir, `letter-${String(i).padStart(3, "0")}.png`));
  }
};

Deno.test("fit and score from a folder outside the checkout, with a PNG folder as OOD", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-fit-cli-" });
  assert.ok(!dir.startsWith(root));
  const mnist = await Effect.runPromise(loadSplit("mnist", "train"));
  await Effect.runPromise(
    writeNpyAtomic(join(dir, "digits.npy"), mnist.pixels.slice(0, 2000 * 784), [2000, 28, 28]),
  );
  await Effect.runPromise(
    writeNpyAtomic(join(dir, "digits.labels.npy"), mnist.labels.slice(0, 2000), [2000]),
  );
  await writePngs(join(dir, "letters-png"), 40);
  // The user's model: an ONNX file and its spec (input preprocessing, taps) beside it.
  await Deno.copyFile(foreign, join(dir, "foreign.onnx"));
  await Deno.copyFile(foreign.replace(/\.onnx$/, ".spec.json"), join(dir, "foreign.spec.json"));

  const inspect = await task(dir, "inspect", ["--model", "foreign.onnx"]);
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.match(inspect.stdout, /early\s+MaxPool\s+\[-1, 16, 14, 14\]\s+← early/);
  assert.match(inspect.stdout, /proposed taps: \{"early":"early","penultimate":"penultimate"/);

  const fit = await task(dir, "fit", [
    "--model",
    "foreign.onnx",
    "--train",
    "digits.npy",
    "--val-ood",
    "letters-png",
    "--out",
    "my-detector",
  ]);
  assert.equal(fit.code, 0, fit.stderr);
  assert.match(fit.stdout, /GROOD on .*foreign\.onnx → .*my-detector/);
  assert.match(fit.stdout, /letters-png: AUROC \d+\.\d\d/);
  const manifest = JSON.parse(await Deno.readTextFile(join(dir, "my-detector/detector.json")));
  assert.equal(manifest.data.validation.heldOut, true);
  assert.equal(manifest.data.validation.count, 200);
  assert.equal(manifest.data.train.count, 1800);
  assert.equal(manifest.data.validationOod[0].count, 40);

  const json = await task(dir, "score", [
    "--detector",
    "my-detector",
    "letters-png",
    "--out",
    "scores.json",
  ]);
  assert.equal(json.code, 0, json.stderr);
  const scored = JSON.parse(await Deno.readTextFile(join(dir, "scores.json")));
  assert.equal(scored.rows.length, 40);
  assert.equal(scored.rows[0].image, "letter-000.png");
  assert.equal(scored.threshold, manifest.threshold);
  for (const row of scored.rows) assert.equal(row.ood, row.score > manifest.threshold);
  // The validation OOD set scored again: as many flagged as the manifest measured at fit time.
  const flagged = scored.rows.filter((r: { ood: boolean }) => r.ood).length;
  assert.equal(flagged / 40, manifest.validation.metrics[0].flaggedAtThreshold);

  const csv = await task(dir, "score", ["--detector", "my-detector", "digits.npy"]);
  assert.equal(csv.code, 0, csv.stderr);
  const lines = csv.stdout.trim().split("\n");
  assert.equal(lines[0], "source,image,verdict,score,ood,predicted,problem");
  assert.equal(lines.length, 2001);
  assert.match(lines[1]!, /^digits\.npy,0,(in|ood),[0-9.e-]+,(true|false),[0-9],$/);

  // evaluate-ood's metrics are those of the scores `score` wrote for the same sets.
  const evaluated = await task(dir, "evaluate-ood", [
    "--detector",
    "my-detector",
    "--id",
    "digits.npy",
    "--ood",
    "letters-png",
    "--json",
  ]);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const result = JSON.parse(evaluated.stdout);
  const expected = await Effect.runPromise(evaluateOod({
    id: lines.slice(1).map((l) => Number(l.split(",")[3])),
    ood: scored.rows.map((r: { score: number }) => r.score),
  }));
  assert.equal(result.ood[0].ood, "letters-png");
  for (const key of ["auroc", "auprIn", "auprOut", "fpr95IdKept", "fpr95OpenOod"] as const) {
    assert.ok(Math.abs(result.ood[0][key] - expected[key]) < 1e-12, key);
  }
  assert.equal(result.id.count, 2000);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("fit --chunk beyond the training images fits as one chunk: the same folder, no allocation of the chunk", async () => {
  // --chunk has no upper bound (a setting of the fit, recorded as fitChunk): a chunk of 10⁹
  // images used to allocate 10⁹ images' bytes for the first batch, a RangeError and a stack.
  const dir = await Deno.makeTempDir({ prefix: "grood-fit-chunk-" });
  const mnist = await Effect.runPromise(loadSplit("mnist", "train"));
  for (const [name, start, count] of [["train", 0, 300], ["val", 300, 100]] as const) {
    const at = [start * 784, (start + count) * 784] as const;
    await Effect.runPromise(
      writeNpyAtomic(join(dir, `${name}.npy`), mnist.pixels.slice(...at), [count, 28, 28]),
    );
    await Effect.runPromise(
      writeNpyAtomic(
        join(dir, `${name}.labels.npy`),
        mnist.labels.slice(start, start + count),
        [count],
      ),
    );
  }
  const fit = (chunk: string) =>
    task(dir, "fit", [
      ...["--model", foreign, "--train", "train.npy", "--val", "val.npy"],
      ...["--chunk", chunk, "--out", `chunk-${chunk}`],
    ]);
  for (const chunk of ["1000000000", "300"]) {
    const r = await fit(chunk);
    assert.equal(r.code, 0, r.stderr);
  }
  for (const file of ["class-prototypes-penultimate.npy", "ood-prototype.npy"]) {
    assert.deepEqual(
      await Deno.readFile(join(dir, "chunk-1000000000", "state", file)),
      await Deno.readFile(join(dir, "chunk-300", "state", file)),
      file,
    );
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("fit and score refuse bad command lines with the usage (exit 2)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-fit-cli-" });
  const noModel = await task(dir, "fit", ["--train", "x.npy", "--out", "d"]);
  assert.equal(noModel.code, 2);
  assert.match(noModel.stderr, /Missing required flag: --model/);
  const badTaps = await task(dir, "fit", [
    "--model",
    foreign,
    "--train",
    "x.npy",
    "--out",
    "d",
    "--taps",
    "middle=x",
  ]);
  assert.equal(badTaps.code, 2);
  assert.match(badTaps.stderr, /Invalid value for flag --taps: "middle=x"/);
  const noSource = await task(dir, "score", ["--detector", "d"]);
  assert.equal(noSource.code, 2);
  assert.match(noSource.stderr, /Missing required argument: SRC/);
  const noOod = await task(dir, "evaluate-ood", ["--detector", "d", "--id", "x.npy"]);
  assert.equal(noOod.code, 2);
  assert.match(noOod.stderr, /--ood/);
  const notFitted = await task(dir, "score", ["--detector", "nowhere", "x.npy"]);
  assert.equal(notFitted.code, 1);
  assert.match(notFitted.stderr, /detector\.json: missing/);
  await Deno.remove(dir, { recursive: true });
});
