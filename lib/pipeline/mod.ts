/**
 * Pipelines: prepare a benchmark once (data, model, features through the stage cache), run
 * detectors on it, declarative pipeline and ablation specs, and the results as arquero tables.
 *
 * @module
 */
export {
  type AblationError,
  type AblationHooks,
  type AblationResult,
  GroodLive,
  type PipelineError,
  type PipelineErrorOf,
  type PipelineOptions,
  type PipelineResult,
  type PipelineServices,
  runAblation,
  runAblationJson,
  type RunHooks,
  runPipeline,
  runPipelineJson,
  runPipelineScoped,
} from "./pipeline.ts";
export {
  type Engine,
  ENGINES,
  EngineSchema,
  EngineUnavailable,
  type ExtractionError,
  type ModelExtractOptions,
  openPipelineModel,
  type PipelineModel,
  type PipelineModelOptions,
} from "./model.ts";
export {
  type DetectorRun,
  prepareBenchmark,
  type PreparedBenchmark,
  type PrepareError,
  type PrepareOptions,
  type ResultRow,
  runDetectors,
} from "./run.ts";
export {
  ABLATION_DEFAULTS,
  type AblationGrid,
  type AblationParams,
  AblationSpec,
  type AblationSpecInput,
  decodeAblation,
  decodePipeline,
  expandGrids,
  gridSize,
  GridTooLarge,
  MAX_GRID_VARIANTS,
  PipelineSpec,
  type PipelineSpecInput,
  readSpecFile,
  type SpecContext,
  SpecFileError,
} from "./spec.ts";
export {
  decodePipelineWith,
  type PipelineSpecInputOf,
  type PipelineSpecOf,
} from "./spec_entries.ts";
export { resultsTable, SUMMARY_METRICS, summaryTable, type Table } from "./tables.ts";
