import assert from "node:assert/strict";
import { join } from "node:path";
import { Effect } from "effect";
import sharp from "sharp";
import { loadSplit } from "../lib/data/datasets.ts";
import { loadOodSet } from "../lib/data/ood/mod.ts";
import { fixtureDir } from "../lib/model/fixture.ts";
import { GroodLive, runPipeline } from "../lib/pipeline/pipeline.ts";
import { writeNpyAtomic } from "../lib/io/npy.ts";

const failure = <E>(effect: Effect.Effect<unknown, E>) => Effect.runPromise(Effect.flip(effect));

/**
 * A user's benchmark in a temporary folder: MNIST images as `.npy` arrays (ID), 150 letters as
 * PNG files (near-OOD), and the generated textures (far-OOD), run with the MNIST fixture model.
 */
async function smallBenchmark(model: Record<string, unknown>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "grood-pipeline-" });
  const train = await Effect.runPromise(loadSplit("mnist", "train"));
  const test = await Effect.runPromise(loadSplit("mnist", "test"));
  const npy = async (name: string, pixels: Uint8Array, labels: Uint8Array, n: number) => {
    await Effect.runPromise(
      writeNpyAtomic(join(dir, `${name}.npy`), pixels.slice(0, n * 784), [n, 28, 28]),
    );
    await Effect.runPromise(
      writeNpyAtomic(join(dir, `${name}-labels.npy`), labels.slice(0, n), [n]),
    );
  };
  await npy("train", train.pixels, train.labels, 1000);
  await npy("test", test.pixels, test.labels, 400);
  const letters = await Effect.runPromise(loadOodSet("letters"));
  await Deno.mkdir(join(dir, "letters"));
  for (let i = 0; i < 150; i++) {
    await sharp(letters.data.subarray(i * 784, (i + 1) * 784), {
      raw: { width: 28, height: 28, channels: 1 },
    })
      .png().toFile(join(dir, "letters", `${String(i).padStart(3, "0")}.png`));
  }
  const spec = {
    name: "small",
    model,
    id: {
      train: { kind: "npy", images: "train.npy", labels: "train-labels.npy" },
      test: { kind: "npy", images: "test.npy", labels: "test-labels.npy" },
      validation: { kind: "held-out-of-test", count: 100, seed: 0 },
    },
    oodTest: [
      { name: "my-letters", group: "near", source: { kind: "folder", path: "letters" } },
      { name: "textures", group: "far", source: { kind: "ood-set", name: "textures" } },
    ],
    oodValidation: [{ name: "letters-val", source: { kind: "ood-set", name: "letters-val" } }],
  };
  await Deno.writeTextFile(join(dir, "small.json"), JSON.stringify(spec));
  return join(dir, "small.json");
}

Deno.test("runPipeline() runs GROOD and MSP on a user's benchmark file of .npy arrays and PNGs", async () => {
  const path = await smallBenchmark({ kind: "grood", path: fixtureDir("mnist") });
  const { prepared, runs } = await Effect.runPromise(
    runPipeline({
      benchmark: path,
      detectors: [
        { kind: "grood", oodPrototype: { kind: "mixup", lambda: 0.5, samples: 300, seed: 0 } },
        { kind: "msp" },
      ],
    }).pipe(Effect.provide(GroodLive({ backend: "wasm", cacheDir: null }))),
  );
  assert.equal(prepared.data.spec.name, "small");
  assert.equal(prepared.train.images.count, 1000);
  assert.equal(prepared.idTest.images.count, 300);
  assert.deepEqual(prepared.oodTest.map((s) => [s.images.name, s.group, s.images.count]), [
    ["my-letters", "near", 150],
    ["textures", "far", 1908],
  ]);
  // The fixture classifies the MNIST images it was trained on (test accuracy 99.38%).
  assert.ok(prepared.idAccuracy > 0.95, `accuracy ${prepared.idAccuracy}`);
  for (const run of runs) {
    assert.equal(run.benchmark, "small");
    assert.deepEqual(run.rows.map((r) => r.set), ["my-letters", "textures"]);
    for (const row of run.rows) {
      assert.ok(row.auroc >= 0 && row.auroc <= 1 && Number.isFinite(row.fpr95IdKept), run.detector);
    }
  }
  // On the full benchmark GROOD reaches 94.0% AUROC on letters (README); on 1,000 training
  // images it must still separate the user's PNG letters from the digits.
  const grood = runs.find((r) => r.detector === "GROOD")!;
  const letters = grood.rows.find((r) => r.set === "my-letters")!;
  assert.ok(letters.auroc > 0.75, `GROOD on my-letters: AUROC ${letters.auroc}`);
  await Deno.remove(join(path, ".."), { recursive: true });
});

Deno.test("runPipeline() names a model kind the runner cannot load yet", async () => {
  const path = await smallBenchmark({ kind: "onnx", path: "model.onnx" });
  const error = await failure(
    runPipeline({ benchmark: path, detectors: [{ kind: "msp" }] })
      .pipe(Effect.provide(GroodLive({ backend: "wasm", cacheDir: null }))),
  );
  assert.equal((error as { _tag?: string })._tag, "UnsupportedModelKind");
  assert.match(String((error as Error).message), /model\.onnx.*onnx/);
  await Deno.remove(join(path, ".."), { recursive: true });
});
