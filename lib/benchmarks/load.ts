/**
 * Find, read and load benchmark files, named by a path or a built-in name (`mnist` and
 * `fashion-mnist` are `benchmarks/<name>.json`). Loading streams every source into memory once
 * at the model's input shape, with each set's checksum. The ID validation set is a source of its
 * own or held out of the ID test source by a seeded draw (training images cannot serve: they sit
 * in GROOD's and KNN's indexes at distance zero).
 *
 * @example Load the built-in MNIST benchmark
 * ```ts ignore
 * import { Effect } from "effect";
 * import { loadBenchmark } from "./load.ts";
 * const data = await Effect.runPromise(loadBenchmark("mnist"));
 * console.log(data.train.count, data.oodTest.map((s) => s.images.name));
 * ```
 *
 * @module
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Data, Effect } from "effect";
import type { ImageSet, LabelledSet } from "../data/images.ts";
import { subset } from "../data/images.ts";
import { oodSets } from "../data/ood/mod.ts";
import { permutation } from "../random.ts";
import {
  GREY_28,
  type ImageShape,
  openSource,
  readSource,
  type SourceError,
  type SourceSpec,
  SourceUnlabelled,
} from "../sources/mod.ts";
import { BenchmarkFile } from "./spec.ts";
import { decodeJsonText, problemsText } from "../decode.ts";
import { canonicalJson } from "../cache/key.ts";
import { sourcePaths } from "../sources/argument.ts";

const BENCHMARKS_DIR = fileURLToPath(new URL("../../benchmarks/", import.meta.url));

/** The benchmarks grood ships, by name (each is `benchmarks/<name>.json`). */
export const BUILTIN_BENCHMARKS = ["mnist", "fashion-mnist"] as const;

/** A decoded benchmark file and where it came from. */
export interface Benchmark extends BenchmarkFile {
  /** The file it was read from (absolute). */
  readonly path: string;
  /** Relative paths in the file are resolved against this folder. */
  readonly baseDir: string;
}

/** Neither a built-in benchmark nor a readable file. */
export class BenchmarkNotFound extends Data.TaggedError("BenchmarkNotFound")<{
  readonly name: string;
}> {
  /** Names the benchmark and the built-in ones. */
  override get message(): string {
    return `Cannot find benchmark "${this.name}": it is not a file, and the built-in ` +
      `benchmarks are ${BUILTIN_BENCHMARKS.join(", ")}`;
  }
}

/** A benchmark file that is not JSON or not a valid benchmark: names the file and every field. */
export class BenchmarkFileInvalid extends Data.TaggedError("BenchmarkFileInvalid")<{
  readonly path: string;
  readonly problem: string;
}> {
  /** Names the file and the problem. */
  override get message(): string {
    return `Cannot use benchmark file "${this.path}": ${this.problem}`;
  }
}

/** A benchmark lists a test OOD set among its validation sets. */
export class TestSetInValidation extends Data.TaggedError("TestSetInValidation")<{
  readonly benchmark: string;
  readonly set: string;
}> {
  /** Names the benchmark and the test set listed for validation. */
  override get message(): string {
    return `Cannot use benchmark "${this.benchmark}": it lists "${this.set}" for validation, ` +
      "but that set is a test set (test OOD data must never shape a detector)";
  }
}

/** The ID sources of a benchmark disagree on the classes. */
export class ClassNamesDiffer extends Data.TaggedError("ClassNamesDiffer")<{
  readonly benchmark: string;
  readonly split: string;
  readonly expected: ReadonlyArray<string>;
  readonly actual: ReadonlyArray<string>;
}> {
  /** Names the benchmark, the split and both class lists. */
  override get message(): string {
    return `Cannot use benchmark "${this.benchmark}": its ID ${this.split} classes ` +
      `[${this.actual.join(", ")}] differ from the training classes [${
        this.expected.join(", ")
      }] (same names in the same order are needed)`;
  }
}

/** The file a benchmark reference points at: a built-in name, or a path. */
const benchmarkPath = (ref: string): string =>
  (BUILTIN_BENCHMARKS as ReadonlyArray<string>).includes(ref)
    ? resolve(BENCHMARKS_DIR, `${ref}.json`)
    : resolve(ref);

/** Why a benchmark file cannot be read: it is not there, or not a valid benchmark file. */
export type ReadBenchmarkError = BenchmarkNotFound | BenchmarkFileInvalid;

/** Read and strictly decode a benchmark file (by built-in name or path). */
export const readBenchmark: (
  ref: string,
) => Effect.Effect<Benchmark, ReadBenchmarkError> = Effect.fn("readBenchmark")(function* (ref) {
  const path = benchmarkPath(ref);
  const text = yield* Effect.tryPromise({
    try: () => Deno.readTextFile(path),
    catch: (error) =>
      error instanceof Deno.errors.NotFound
        ? new BenchmarkNotFound({ name: ref })
        : new BenchmarkFileInvalid({ path, problem: `cannot read it (${error})` }),
  });
  const file = yield* decodeJsonText(BenchmarkFile, path)(text).pipe(
    Effect.mapError((error) => new BenchmarkFileInvalid({ path, problem: problemsText(error) })),
  );
  const names = file.oodTest.map((s) => s.name).concat(file.oodValidation.map((s) => s.name));
  const twice = names.find((n, i) => names.indexOf(n) !== i || n === "id");
  if (twice !== undefined) {
    return yield* new BenchmarkFileInvalid({
      path,
      problem: `OOD set name "${twice}" is used twice or is reserved ("id"); names must be unique`,
    });
  }
  return { ...file, path, baseDir: dirname(path) } satisfies Benchmark;
});

/** A loaded OOD set with its group. */
export interface LoadedOodSet {
  /** Whether the set is near or far from the ID data. */
  readonly group: "near" | "far";
  /** Its images (unlabelled), at the model's input shape. */
  readonly images: ImageSet;
}

/** All the images of a benchmark, loaded and checked. */
export interface LoadedBenchmark {
  /** The benchmark as read (with its path and base folder). */
  readonly spec: Benchmark;
  /** The input shape every set was read at. */
  readonly shape: ImageShape;
  /** Labelled ID training images. */
  readonly train: LabelledSet;
  /** Labelled ID test images (without those held out for validation). */
  readonly idTest: LabelledSet;
  /** Labelled ID validation images (held out of the test source, or their own source). */
  readonly idValidation: LabelledSet;
  /** The OOD test sets, each with its group. */
  readonly oodTest: ReadonlyArray<LoadedOodSet>;
  /** The validation-OOD sets (never a test OOD set). */
  readonly oodValidation: ReadonlyArray<ImageSet>;
  /** sha256 of each loaded set's decoded content, by set name (from the source streams). */
  readonly checksums: Readonly<Record<string, string>>;
}

/** Split an ID test set into (validation, test) by a seeded draw of `count` images. */
export function splitIdTest(
  test: LabelledSet,
  validation: { readonly count: number; readonly seed: number },
): { idValidation: LabelledSet; idTest: LabelledSet } {
  const order = permutation(test.count, validation.seed);
  const validationIndices = Array.from(order.subarray(0, validation.count)).sort((a, b) => a - b);
  const testIndices = Array.from(order.subarray(validation.count)).sort((a, b) => a - b);
  return {
    idValidation: subset(test, validationIndices, `${test.name}/validation`),
    idTest: subset(test, testIndices, test.name),
  };
}

/** Same source twice (after resolving paths): compared as canonical JSON. */
const sourceKey = (spec: SourceSpec, baseDir: string): string =>
  canonicalJson(Object.fromEntries(
    Object.entries(spec).map(([k, v]) => {
      const isPath = typeof v === "string" && k !== "kind" && k !== "name";
      return [k, isPath ? resolve(baseDir, v) : v];
    }),
  ));

/** Options of {@link loadBenchmark}. */
export interface LoadBenchmarkOptions {
  /** The model's input shape (default 28×28 grey, grood's own CNN). */
  readonly shape?: ImageShape;
  /** Images per read batch of each source (default `DEFAULT_BATCH`, 512). */
  readonly batchSize?: number;
}

/** Why a benchmark cannot be loaded: its file, a source, a test set in validation, classes. */
export type LoadBenchmarkError =
  | ReadBenchmarkError
  | SourceError
  | TestSetInValidation
  | ClassNamesDiffer;

/** Load every set of a benchmark (a built-in name, a path, or a benchmark already read). */
export const loadBenchmark: (
  benchmark: string | Benchmark,
  options?: LoadBenchmarkOptions,
) => Effect.Effect<LoadedBenchmark, LoadBenchmarkError> = Effect.fn("loadBenchmark")(function* (
  benchmark: string | Benchmark,
  options: LoadBenchmarkOptions = {},
) {
  const spec = typeof benchmark === "string" ? yield* readBenchmark(benchmark) : benchmark;
  const shape = options.shape ?? GREY_28;
  const ctx = { baseDir: spec.baseDir, shape };
  const read = (source: SourceSpec) =>
    Effect.flatMap(
      openSource(source, ctx),
      (opened) =>
        readSource(opened, options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
    );
  const checksums: Record<string, string> = {};
  const unlabelled = (source: SourceSpec, name: string) =>
    Effect.map(read(source), (set): ImageSet => {
      checksums[name] = set.checksum;
      return { name, count: set.count, pixels: set.pixels };
    });
  /** A labelled split, its classes (when `expected`) the training set's in the same order. */
  const labelled = (
    source: SourceSpec,
    split: string,
    role: string,
    expected?: ReadonlyArray<string>,
  ) =>
    Effect.flatMap(read(source), (set): Effect.Effect<LabelledSet, LoadBenchmarkError> => {
      const name = `${spec.name}/${split}`;
      checksums[name] = set.checksum;
      const { labels, classNames } = set;
      if (labels === undefined || classNames === undefined) {
        return Effect.fail(new SourceUnlabelled({ source: set.description, role }));
      }
      if (expected !== undefined && JSON.stringify(classNames) !== JSON.stringify(expected)) {
        return Effect.fail(
          new ClassNamesDiffer({ benchmark: spec.name, split, expected, actual: classNames }),
        );
      }
      return Effect.succeed<LabelledSet>({
        name,
        count: set.count,
        pixels: set.pixels,
        labels,
        classNames,
      });
    });

  // Validation-OOD sets are checked before anything is read: a test set must never get in.
  const testKeys = new Set(spec.oodTest.map((s) => sourceKey(s.source, spec.baseDir)));
  for (const set of spec.oodValidation) {
    const generatedTest = set.source.kind === "ood-set" &&
      oodSets[set.source.name].role !== "validation";
    if (generatedTest || testKeys.has(sourceKey(set.source, spec.baseDir))) {
      return yield* new TestSetInValidation({ benchmark: spec.name, set: set.name });
    }
  }

  const train = yield* labelled(spec.id.train, "train", "ID train");
  const test = yield* labelled(spec.id.test, "test", "ID test", train.classNames);
  let idTest: LabelledSet;
  let idValidation: LabelledSet;
  const validation = spec.id.validation;
  if (validation.kind === "held-out-of-test") {
    if (validation.count >= test.count) {
      return yield* new BenchmarkFileInvalid({
        path: spec.path,
        problem: `id.validation holds out ${validation.count} images of an ID test set of ` +
          `${test.count}; leave some to test`,
      });
    }
    ({ idTest, idValidation } = splitIdTest(test, validation));
  } else {
    idTest = test;
    idValidation = yield* labelled(validation, "validation", "ID validation", train.classNames);
  }
  const oodTest = yield* Effect.forEach(spec.oodTest, (set) =>
    Effect.map(
      unlabelled(set.source, set.name),
      (images): LoadedOodSet => ({ group: set.group, images }),
    ));
  const oodValidation = yield* Effect.forEach(
    spec.oodValidation,
    (set) => unlabelled(set.source, set.name),
  );
  return {
    spec,
    shape,
    train,
    idTest,
    idValidation,
    oodTest,
    oodValidation,
    checksums,
  } satisfies LoadedBenchmark;
});

/** Every file and folder a benchmark reads (a results folder may never be, hold or lie in one). */
export function benchmarkInputs(benchmark: Benchmark): ReadonlyArray<string> {
  const sources = [
    benchmark.id.train,
    benchmark.id.test,
    ...(benchmark.id.validation.kind === "held-out-of-test" ? [] : [benchmark.id.validation]),
    ...benchmark.oodTest.map((s) => s.source),
    ...benchmark.oodValidation.map((s) => s.source),
  ];
  return [
    benchmark.path,
    resolve(benchmark.baseDir, benchmark.model.path),
    ...sources.flatMap((s) => sourcePaths(s as SourceSpec, benchmark.baseDir)),
  ];
}
