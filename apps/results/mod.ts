/**
 * The results of `deno task reproduce`, an app on the library's public exports:
 * - the result tables as files and Markdown (`writeResults`, `summaryMarkdown`,
 *   `perSetMarkdown`, the tie report), the plots as files (`writePlot`, `writeReportPlots`) and
 *   the `.npy` exports of every stage's output with their manifest (`writeExports`);
 * - each benchmark's folder written as one unit (`writeBenchmarkFolder`: tables, plots, exports,
 *   every seed's results and their spreads), the spreads over training seeds and the paired
 *   differences behind the README's claims (`seedSpread`, `pairedDifferences`);
 * - the self-contained HTML page gathering every benchmark (`benchmarkSection`, `reportHtml`);
 * - the activation-ratio analysis as Markdown and a chart (`activationRatioMarkdown`,
 *   `activationRatioChart`);
 * - HNSW's recall on GROOD's real descriptors (`hnswRecall`), and how the fixture models the
 *   results rest on are trained (`trainFixture`: `deno task train`, `reproduce --retrain`).
 *
 * @module
 */
export {
  type BenchmarkPage,
  benchmarkPage,
  benchmarkSection,
  pageSections,
  reportHtml,
} from "./page.ts";
export {
  CLAIM_PAIRS,
  type DetectorPair,
  type PairedDifference,
  pairedDifferences,
  pairedMarkdown,
  SEED_METRICS,
  type SeedMetric,
  type SeedRow,
  seedSpread,
  seedSpreadMarkdown,
} from "./seeds.ts";
export {
  type BenchmarkFolder,
  type BenchmarkFolderOptions,
  benchmarkFolderRules,
  type BenchmarkSeeds,
  type BenchmarkStaging,
  NonFiniteResult,
  type SeedRuns,
  writeBenchmarkFolder,
} from "./benchmark_folder.ts";
export { type PlotFormat, plotSlug, writePlot, writeReportPlots } from "./plot_files.ts";
export {
  type ExportEntry,
  type ExportRequest,
  MANIFEST_FILE,
  writeExportManifest,
  writeExports,
} from "./exports.ts";
export { hnswRecall, MissingArtefact, type RecallError, type RecallReport } from "./recall.ts";
export {
  DEFAULT_EPOCHS,
  type FixtureOptions,
  trainFixture,
  type TrainFixtureError,
} from "./train_fixture.ts";
export {
  inPercent,
  perSetMarkdown,
  summaryMarkdown,
  type TieFlag,
  tieFlags,
  tieFlagSets,
  tieReportMarkdown,
  writeResults,
} from "./tables.ts";
export {
  activationRatioChart,
  activationRatioMarkdown,
  type ActivationRatioRow,
  activationRatioRows,
  activationRatios,
  RATIO_PERCENTILE,
  type RatioSet,
  seedActivationRatios,
  type SeedRatios,
  writeActivationRatios,
} from "./activation_ratio.ts";
