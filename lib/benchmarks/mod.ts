/**
 * Benchmarks: files naming the model, the ID splits and the near- and far-OOD sets, read strictly
 * and loaded with every set checked; and where the built-ins' fixture models live.
 *
 * @module
 */
export {
  type Benchmark,
  BenchmarkFileInvalid,
  benchmarkInputs,
  BenchmarkNotFound,
  BUILTIN_BENCHMARKS,
  ClassNamesDiffer,
  loadBenchmark,
  type LoadBenchmarkError,
  type LoadBenchmarkOptions,
  type LoadedBenchmark,
  type LoadedOodSet,
  readBenchmark,
  type ReadBenchmarkError,
  splitIdTest,
  TestSetInValidation,
} from "./load.ts";
export { BenchmarkFile, decodeBenchmark, ModelRef } from "./spec.ts";
export { fixtureDir, fixtureSeeds } from "./fixtures.ts";
