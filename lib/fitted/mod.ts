/**
 * Fitted-detector folders: `fitDetectorFolder` fits a detector on any model and data and writes
 * a self-contained, versioned folder (model copy, state, `detector.json` with threshold,
 * validation metrics and score distributions); `openFittedDetector` loads one and scores
 * decoded images with it (`deno task fit`, `deno task score`, the HTTP service).
 *
 * @module
 */
export {
  DegenerateScores,
  FitDataInvalid,
  FittedFolderDamaged,
  ImageBatchMismatch,
  UnscoredImages,
  UnsupportedFittedDetector,
} from "./errors.ts";
export { FITTED_MANIFEST_FILE, type FittedManifest, sealManifest } from "./manifest.ts";
export { fitDetectorFolder } from "./fit.ts";
export type { FitFolderError } from "./fit_options.ts";
export { type FeatureMemo, type FitOptions, fittedFolderRules } from "./fit_options.ts";
export { HELD_OUT_MAX, HELD_OUT_SHARE } from "./fit_data.ts";
export {
  fitOn,
  type FitOnData,
  type FitOnError,
  type FitOnImages,
  type FittedOn,
  type ScoreImagesOnError,
} from "./fit_on.ts";
export {
  type ImageBatch,
  imageBatch,
  type InvalidImage,
  type LoadedDetector,
  openFittedDetector,
  type OpenFittedError,
  type ScoredImages,
  type ScoreImagesError,
  type ScoreInputSpec,
  type Verdict,
} from "./open.ts";
export { SUPPORTED_KINDS } from "./persist.ts";
export { readManifest } from "./verify.ts";
export { requireAllScored, type ScoredSource, scoreSource } from "./score_source.ts";
export {
  FitTrainingChanged,
  type FitTrainingRef,
  openFitModel,
  openFitTraining,
} from "./fit_chunk.ts";
export { type StreamedTraining } from "./fit_options.ts";
export { streamedGroodOptions } from "./train_stream.ts";
