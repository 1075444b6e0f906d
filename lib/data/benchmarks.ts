/**
 * Benchmarks, as data: which ID dataset, which near- and far-OOD test sets, and which
 * validation-OOD sets (for fitting choices and hyper-parameters). Mirrors OpenOOD's MNIST
 * benchmark with sets that can be built offline (see docs/benchmarks.md).
 *
 * The ID test split is divided once, by a fixed seed: 1,000 images form the ID validation
 * set (for hyper-parameter choices, never scored in the report) and the other 9,000 the ID
 * test set. Training images cannot serve as ID validation: they sit in GROOD's and KNN's
 * indexes at distance zero.
 *
 * @module
 */
import { Data, Effect } from "effect";
import type { ImageSet, LabelledSet } from "./images.ts";
import { subset } from "./images.ts";
import { type DatasetName, loadSplit } from "./datasets.ts";
import { loadOodSet, type OodSetName, oodSets } from "./ood/mod.ts";
import { permutation } from "../random.ts";

/** Where an OOD set comes from: another ID dataset's test split, or a generated set. */
export type OodSource =
  | { readonly kind: "dataset"; readonly dataset: DatasetName }
  | { readonly kind: "generated"; readonly set: OodSetName };

/** An OOD set of a benchmark and its group. */
export interface BenchmarkOodSet {
  readonly name: string;
  readonly group: "near" | "far";
  readonly source: OodSource;
}

/** A benchmark: ID dataset, test OOD sets by group, validation-OOD sets. */
export interface Benchmark {
  readonly name: BenchmarkName;
  readonly id: DatasetName;
  readonly oodTest: ReadonlyArray<BenchmarkOodSet>;
  /** Only these may shape a detector (OOD prototype source, hyper-parameters). */
  readonly oodValidation: ReadonlyArray<OodSetName>;
  readonly idValidation: { readonly count: number; readonly seed: number };
}

/** The benchmarks grood ships. */
export type BenchmarkName = "mnist" | "fashion-mnist";

const generated = (set: OodSetName, group: "near" | "far"): BenchmarkOodSet => ({
  name: set,
  group,
  source: { kind: "generated", set },
});
const farSets = [
  generated("textures", "far"),
  generated("objects", "far"),
  generated("photos", "far"),
];

/** The benchmark registry. */
export const benchmarks: Readonly<Record<BenchmarkName, Benchmark>> = {
  "mnist": {
    name: "mnist",
    id: "mnist",
    oodTest: [
      {
        name: "fashion-mnist",
        group: "near",
        source: { kind: "dataset", dataset: "fashion-mnist" },
      },
      generated("letters", "near"),
      ...farSets,
    ],
    oodValidation: ["letters-val", "textures-val"],
    idValidation: { count: 1000, seed: 0 },
  },
  "fashion-mnist": {
    name: "fashion-mnist",
    id: "fashion-mnist",
    oodTest: [
      { name: "mnist", group: "near", source: { kind: "dataset", dataset: "mnist" } },
      generated("letters", "near"),
      ...farSets,
    ],
    oodValidation: ["letters-val", "textures-val"],
    idValidation: { count: 1000, seed: 0 },
  },
};

/** The benchmark name is not in the registry. */
export class BenchmarkNotFound extends Data.TaggedError("BenchmarkNotFound")<{
  readonly name: string;
}> {
  override get message(): string {
    return `Cannot find benchmark "${this.name}": known benchmarks are ${
      Object.keys(benchmarks).join(", ")
    }`;
  }
}

/** A benchmark lists a test OOD set among its validation sets. */
export class TestSetInValidation extends Data.TaggedError("TestSetInValidation")<{
  readonly benchmark: string;
  readonly set: string;
}> {
  override get message(): string {
    return `Cannot use benchmark "${this.benchmark}": it lists "${this.set}" for validation, ` +
      "but that set is a test set (test OOD data must never shape a detector)";
  }
}

/** Look a benchmark up by name. */
export const benchmarkSpec = (name: string): Effect.Effect<Benchmark, BenchmarkNotFound> =>
  Object.hasOwn(benchmarks, name)
    ? Effect.succeed(benchmarks[name as BenchmarkName])
    : Effect.fail(new BenchmarkNotFound({ name }));

/** A loaded OOD set with its group. */
export interface LoadedOodSet {
  readonly group: "near" | "far";
  readonly images: ImageSet;
}

/** All the images of a benchmark, loaded and checked. */
export interface LoadedBenchmark {
  readonly spec: Benchmark;
  readonly train: LabelledSet;
  readonly idTest: LabelledSet;
  readonly idValidation: LabelledSet;
  readonly oodTest: ReadonlyArray<LoadedOodSet>;
  readonly oodValidation: ReadonlyArray<ImageSet>;
}

/** Load a generated OOD set as an image set. */
export const loadGeneratedSet = Effect.fn("loadGeneratedSet")(function* (name: OodSetName) {
  const idx = yield* loadOodSet(name);
  const images: ImageSet = { name, count: idx.dims[0]!, pixels: idx.data };
  return images;
});

/** Load an OOD source as images (labels dropped). */
const loadOodSource = Effect.fn("loadOodSource")(function* (set: BenchmarkOodSet) {
  if (set.source.kind === "dataset") {
    const test = yield* loadSplit(set.source.dataset, "test");
    const images: ImageSet = { name: set.name, count: test.count, pixels: test.pixels };
    return images;
  }
  return yield* loadGeneratedSet(set.source.set);
});

/** Split an ID test split into (validation, test) by the benchmark's seed. */
export function splitIdTest(
  test: LabelledSet,
  validation: Benchmark["idValidation"],
): { idValidation: LabelledSet; idTest: LabelledSet } {
  const order = permutation(test.count, validation.seed);
  const validationIndices = Array.from(order.subarray(0, validation.count)).sort((a, b) => a - b);
  const testIndices = Array.from(order.subarray(validation.count)).sort((a, b) => a - b);
  return {
    idValidation: subset(test, validationIndices, `${test.name}/validation`),
    idTest: subset(test, testIndices, test.name),
  };
}

/** Load every set of a benchmark. */
export const loadBenchmark = Effect.fn("loadBenchmark")(function* (name: string) {
  const spec = yield* benchmarkSpec(name);
  const train = yield* loadSplit(spec.id, "train");
  const test = yield* loadSplit(spec.id, "test");
  const { idValidation, idTest } = splitIdTest(test, spec.idValidation);
  const oodTest: Array<LoadedOodSet> = [];
  for (const set of spec.oodTest) {
    oodTest.push({ group: set.group, images: yield* loadOodSource(set) });
  }
  const oodValidation: Array<ImageSet> = [];
  for (const set of spec.oodValidation) {
    if (oodSets[set].role !== "validation") {
      // A registry edit must never let a test set into fitting.
      return yield* new TestSetInValidation({ benchmark: name, set });
    }
    oodValidation.push(yield* loadGeneratedSet(set));
  }
  const loaded: LoadedBenchmark = { spec, train, idTest, idValidation, oodTest, oodValidation };
  return loaded;
});
