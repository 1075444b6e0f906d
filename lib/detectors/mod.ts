/**
 * The detectors: the interface, every detector grood ships, and the registry that builds them
 * from specs.
 *
 * @module
 */
export { type Artefact, type Detector, type DetectorError, type ExtractedSet } from "./detector.ts";
export { type FitInputs, type FittedDetector, NeedsClassifier } from "./detector.ts";
export { type TaggedFailure, type TrainingSet, type TunedParameter } from "./detector.ts";
export { type ValidationData } from "./detector.ts";
export { type CheckError, FeatureSizeMismatch, InconsistentFitInputs } from "./checks.ts";
export { type InputCheckError, InvalidSetting, NonFiniteDetectorScore } from "./checks.ts";
export { NonFiniteFeatures, withInputChecks } from "./checks.ts";
export { InvalidGrid, NoValidationOod, type TuneError } from "./tune.ts";
export { MissingHead, rowMaxSoftmax } from "./logits.ts";
export { type SymmetricEigen, symmetricEigen } from "./linalg.ts";
export { type AnyDetectorEntry, defineDetector, type DetectorEntry } from "./entry.ts";
export { type DetectorFamily, type EntryError } from "./entry.ts";
export { BASELINES, buildDetector, decodeDetector, DETECTOR_KINDS } from "./registry.ts";
export { type DetectorEntries, detectorEntry, type DetectorKind, DETECTORS } from "./registry.ts";
export { DetectorSpec, type DetectorSpecInput, type DetectorSpecInputOf } from "./registry.ts";
export { type DetectorSpecOf, detectorSpecSchema, detectorTableMarkdown } from "./registry.ts";
export { duplicateKinds, makeDetector, makeDetectorIn, REPRODUCE_DETECTORS } from "./registry.ts";
export { type SpecSchemaOf } from "./registry.ts";
export { ash, type AshOptions, type AshVariant } from "./ash.ts";
export { energy, type EnergyOptions } from "./energy.ts";
export { gradNorm, type GradNormOptions } from "./gradnorm.ts";
export { grood } from "./grood.ts";
export { type CustomOodPrototype, GROOD_DEFAULTS, type GroodOptions } from "./grood_options.ts";
export { type IndexBuilder, type OodPrototypeSource } from "./grood_options.ts";
export { type SpecOodPrototype } from "./grood_options.ts";
export { type ChunkFeatures, ChunkMapFailed, type ChunkSummary } from "./grood_chunks.ts";
export {
  type FeatureChunk,
  type FeatureMapError,
  type FeatureMapSettings,
} from "./grood_chunks.ts";
export { FIT_CHUNK, forwardChunk, mapFeatureChunk, mixupRanks } from "./grood_chunks.ts";
export { summariseChunk, type SummarySettings, type TrainingChunk } from "./grood_chunks.ts";
export { TrainingStreamInvalid } from "./grood_chunks.ts";
export { type EarlySums, type FeatureReducer, featureReducer } from "./grood_reduce.ts";
export { type ReducedFeatures, type SummaryReducer, summaryReducer } from "./grood_reduce.ts";
export { type CoreOodSource, type DescriptorSteps, indexOver } from "./grood_core.ts";
export { oodPrototypeOf, reduceInMemory, trainingDescriptors } from "./grood_core.ts";
export { type ChunkMapper, type FeatureJob, fitGroodStreamed } from "./grood_streamed.ts";
export { inProcessMapper, type StreamedGroodError } from "./grood_streamed.ts";
export { type StreamedGroodFit, type StreamedGroodOptions } from "./grood_streamed.ts";
export { type TrainingBatch, type TrainingStream } from "./grood_streamed.ts";
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
