/**
 * The detectors: the interface, every detector grood ships, and the registry that builds them
 * from specs.
 *
 * @module
 */
export {
  type Artefact,
  type Detector,
  type DetectorError,
  type ExtractedSet,
  type FitInputs,
  type FittedDetector,
  NeedsClassifier,
  type TaggedFailure,
  type TrainingSet,
  type TunedParameter,
  type ValidationData,
} from "./detector.ts";
export {
  type CheckError,
  FeatureSizeMismatch,
  InconsistentFitInputs,
  type InputCheckError,
  InvalidSetting,
  NonFiniteDetectorScore,
  NonFiniteFeatures,
  withInputChecks,
} from "./checks.ts";
export { InvalidGrid, NoValidationOod, type TuneError } from "./tune.ts";
export { MissingHead } from "./logits.ts";
export { rowMaxSoftmax } from "./logits.ts";
export { type SymmetricEigen, symmetricEigen } from "./linalg.ts";
export {
  type AnyDetectorEntry,
  defineDetector,
  type DetectorEntry,
  type DetectorFamily,
  type EntryError,
} from "./entry.ts";
export {
  BASELINES,
  buildDetector,
  decodeDetector,
  DETECTOR_KINDS,
  type DetectorEntries,
  detectorEntry,
  type DetectorKind,
  DETECTORS,
  DetectorSpec,
  type DetectorSpecInput,
  type DetectorSpecInputOf,
  type DetectorSpecOf,
  detectorSpecSchema,
  detectorTableMarkdown,
  duplicateKinds,
  makeDetector,
  makeDetectorIn,
  REPRODUCE_DETECTORS,
  type SpecSchemaOf,
} from "./registry.ts";
export { ash, type AshOptions, type AshVariant } from "./ash.ts";
export { energy, type EnergyOptions } from "./energy.ts";
export { gradNorm, type GradNormOptions } from "./gradnorm.ts";
export { grood } from "./grood.ts";
export {
  type CustomOodPrototype,
  GROOD_DEFAULTS,
  type GroodOptions,
  type IndexBuilder,
  type OodPrototypeSource,
  type SpecOodPrototype,
} from "./grood_options.ts";
export {
  type ChunkFeatures,
  ChunkMapFailed,
  type ChunkSummary,
  type FeatureChunk,
  type FeatureMapError,
  type FeatureMapSettings,
  FIT_CHUNK,
  forwardChunk,
  mapFeatureChunk,
  mixupRanks,
  summariseChunk,
  type SummarySettings,
  type TrainingChunk,
  TrainingStreamInvalid,
} from "./grood_chunks.ts";
export {
  type EarlySums,
  type FeatureReducer,
  featureReducer,
  type ReducedFeatures,
  type SummaryReducer,
  summaryReducer,
} from "./grood_reduce.ts";
export {
  type CoreOodSource,
  type DescriptorSteps,
  indexOver,
  oodPrototypeOf,
  reduceInMemory,
  trainingDescriptors,
} from "./grood_core.ts";
export {
  type ChunkMapper,
  type FeatureJob,
  fitGroodStreamed,
  inProcessMapper,
  type StreamedGroodError,
  type StreamedGroodFit,
  type StreamedGroodOptions,
  type TrainingBatch,
  type TrainingStream,
} from "./grood_streamed.ts";
export { knn, type KnnOptions, l2Normalise } from "./knn.ts";
export { BadLabels, EmptyClass, mahalanobis, type MahalanobisOptions } from "./mahalanobis.ts";
export { maxLogit, type MaxLogitOptions } from "./maxlogit.ts";
export { msp, type MspOptions } from "./msp.ts";
export { odin, type OdinOptions } from "./odin.ts";
export { react, type ReactOptions, type ThresholdSource } from "./react.ts";
export { DegenerateResidual, vim, type VimOptions } from "./vim.ts";
export { gen, type GenOptions } from "./gen.ts";
export { rmds, type RmdsOptions } from "./rmds.ts";
export { scale, scaleExponents, type ScaleOptions } from "./scale.ts";
export { fdbd, type FdbdOptions } from "./fdbd.ts";
export { nnGuide, type NnGuideOptions } from "./nnguide.ts";
export { she, type SheOptions } from "./she.ts";
export { klm, type KlmOptions } from "./klm.ts";
export { dice, type DiceOptions } from "./dice.ts";
