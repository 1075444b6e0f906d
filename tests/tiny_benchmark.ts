/**
 * A tiny benchmark on the MNIST fixture model whose metrics follow from the ID scores alone
 * (400 training digits, 120 test digits; OOD sets `copy`, the ID test file itself, and
 * `blank`, 30 black images): shared by the pipeline tests.
 *
 * @module
 */
import { join } from "node:path";
import { Effect } from "effect";
import { loadSplit } from "../lib/data/datasets.ts";
import { writeNpyAtomic } from "../lib/io/npy.ts";
import { fixtureDir } from "../lib/benchmarks/fixtures.ts";

/** Its sizes: training digits, ID test digits, blank images. */
export const TINY = { TRAIN: 400, TEST: 120, BLANK: 30 } as const;
const { TRAIN, TEST, BLANK } = TINY;

/** The tiny benchmark's folder and file (see the module doc). */
export async function tinyBenchmark(): Promise<{ dir: string; path: string }> {
  const dir = await Deno.makeTempDir({ prefix: "grood-pipeline-" });
  const train = await Effect.runPromise(loadSplit("mnist", "train"));
  const test = await Effect.runPromise(loadSplit("mnist", "test"));
  const write = (name: string, data: Uint8Array, shape: ReadonlyArray<number>) =>
    Effect.runPromise(writeNpyAtomic(join(dir, `${name}.npy`), data, shape));
  await write("train", train.pixels.slice(0, TRAIN * 784), [TRAIN, 28, 28]);
  await write("train-labels", train.labels.slice(0, TRAIN), [TRAIN]);
  await write("test", test.pixels.slice(0, TEST * 784), [TEST, 28, 28]);
  await write("test-labels", test.labels.slice(0, TEST), [TEST]);
  // Validation: the next 60 test digits (never scored), and 60 other training digits as OOD
  // validation (only GROOD-τ style tuning would use them; none of these detectors does).
  await write("val", test.pixels.slice(TEST * 784, (TEST + 60) * 784), [60, 28, 28]);
  await write("val-labels", test.labels.slice(TEST, TEST + 60), [60]);
  await write("blank", new Uint8Array(BLANK * 784), [BLANK, 28, 28]);
  const spec = {
    name: "tiny",
    model: { kind: "grood", path: fixtureDir("mnist") },
    id: {
      train: { kind: "npy", images: "train.npy", labels: "train-labels.npy" },
      test: { kind: "npy", images: "test.npy", labels: "test-labels.npy" },
      validation: { kind: "npy", images: "val.npy", labels: "val-labels.npy" },
    },
    oodTest: [
      { name: "copy", group: "near", source: { kind: "npy", images: "test.npy" } },
      { name: "blank", group: "far", source: { kind: "npy", images: "blank.npy" } },
    ],
    oodValidation: [{ name: "letters-val", source: { kind: "ood-set", name: "letters-val" } }],
  };
  const path = join(dir, "tiny.json");
  await Deno.writeTextFile(path, JSON.stringify(spec));
  return { dir, path };
}
