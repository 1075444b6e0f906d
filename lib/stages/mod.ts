/**
 * The stages of GROOD, each an `Effect.fn` over plain data: features, per-class sums, class
 * prototypes, the mix-up OOD prototype, the gradient descriptors, the k-NN score, the metrics.
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
  type ScoreSets,
  scoreTies,
  type SetNames,
  TIE_REPORT_LIMIT,
  tiedShare,
  type TieShares,
} from "./evaluate.ts";
