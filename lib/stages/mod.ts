/**
 * The stages of GROOD, each an `Effect.fn` over plain data: features (of grood's CNN, of any
 * `FeatureModel`, or over a pool of workers), per-class sums added in chunks, class
 * prototypes, the mix-up OOD prototype, the gradient descriptors, the k-NN score, and the
 * evaluation metrics.
 *
 * @module
 */
export {
  type ClassSums,
  type ExtractError,
  extractFeatures,
  type Extraction,
  type ExtractOptions,
  MissingLabels,
  NonFiniteOutput,
  predictedClasses,
  type SetFeatures,
} from "./features.ts";
export { addInto, addRowsByClass, type ChunkedSums, chunkedSums, FIT_CHUNK } from "./class_sums.ts";
export {
  computePrototypes,
  EmptyClass,
  MissingFeatures,
  type Prototypes,
  prototypesFromSums,
} from "./prototype.ts";
export {
  meanOfPrototypes,
  meanPenultimate,
  MIXUP_DEFAULTS,
  type MixupOptions,
  mixupWithModel,
  smoothedNoiseImages,
} from "./mixup.ts";
export {
  autogradDescriptors,
  type AutogradMode,
  type GradientPrototypes,
  groodDescriptors,
  ShapeMismatch,
} from "./gradient.ts";
export { knnScore } from "./score.ts";
export {
  accuracy,
  auprIn,
  auprOut,
  auroc,
  EmptyScores,
  evaluateOod,
  evaluateOodWithTies,
  fpr95IdKept,
  fpr95OpenOod,
  LengthMismatch,
  NonFiniteScore,
  OOD_METRICS,
  type OodMetrics,
  type ScoreError,
  scoreTies,
  type SetNames,
  TIE_REPORT_LIMIT,
  tiedShare,
  type TieShares,
} from "./evaluate.ts";
