/**
 * Pipelines: prepare a benchmark once (data, model, features through the stage cache), run
 * detectors on it, declarative pipeline and ablation specs, and the results as arquero tables.
 *
 * @module
 */
export {
  type AblationHooks,
  type AblationResult,
  GroodLive,
  type PipelineResult,
  runAblation,
  type RunHooks,
  runPipeline,
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
  type PrepareOptions,
  type ResultRow,
  runDetectors,
} from "./run.ts";
export {
  ABLATION_DEFAULTS,
  type AblationGrid,
  type AblationParams,
  AblationSpec,
  decodeAblation,
  decodePipeline,
  expandGrids,
  gridSize,
  GridTooLarge,
  MAX_GRID_VARIANTS,
  PipelineSpec,
  readSpecFile,
  SpecFileError,
} from "./spec.ts";
export {
  perSetMarkdown,
  resultsTable,
  summaryMarkdown,
  summaryTable,
  type Table,
  type TieFlag,
  tieFlags,
  tieReportMarkdown,
  writeResults,
} from "./tables.ts";
export { consoleProgress, type ProgressReporter, quietProgress } from "./progress.ts";
export { hnswRecall, MissingArtefact, type RecallReport } from "./recall.ts";
export { DEFAULT_EPOCHS, type FixtureOptions, trainFixture } from "./train_fixture.ts";
