/**
 * The detectors: the interface, every detector grood ships, and the registry that builds them
 * from specs.
 *
 * @module
 */
export type {
  Detector,
  DetectorError,
  ExtractedSet,
  FitInputs,
  FittedDetector,
  TaggedFailure,
} from "./detector.ts";
export { withInputChecks } from "./checks.ts";
export { rowMaxSoftmax } from "./logits.ts";
export { type SymmetricEigen, symmetricEigen } from "./linalg.ts";
export {
  type AnyDetectorEntry,
  defineDetector,
  type DetectorEntry,
  type EntryError,
} from "./entry.ts";
export {
  BASELINES,
  buildDetector,
  decodeDetector,
  DETECTOR_KINDS,
  type DetectorEntries,
  detectorEntry,
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
} from "./registry.ts";
export { ash } from "./ash.ts";
export { energy } from "./energy.ts";
export { gradNorm } from "./gradnorm.ts";
export { grood } from "./grood.ts";
export { GROOD_DEFAULTS, type GroodOptions } from "./grood_options.ts";
export {
  ChunkMapFailed,
  type FeatureChunk,
  type FeatureMapError,
  type FeatureMapSettings,
  featureReducer,
  FIT_CHUNK,
  mapFeatureChunk,
  mixupRanks,
  type TrainingChunk,
} from "./grood_chunks.ts";
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
  TrainingStreamInvalid,
} from "./grood_streamed.ts";
export { knn } from "./knn.ts";
export { mahalanobis } from "./mahalanobis.ts";
export { maxLogit } from "./maxlogit.ts";
export { msp } from "./msp.ts";
export { odin } from "./odin.ts";
export { react } from "./react.ts";
export { vim } from "./vim.ts";
export { gen } from "./gen.ts";
export { rmds } from "./rmds.ts";
export { scale } from "./scale.ts";
export { fdbd } from "./fdbd.ts";
export { nnGuide } from "./nnguide.ts";
export { she } from "./she.ts";
export { klm } from "./klm.ts";
export { dice } from "./dice.ts";
