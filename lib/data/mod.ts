/**
 * Data: image sets, the registered ID datasets, the generated OOD sets, checks of an image set
 * against a model's input, seeded permutations and the matrices every stage passes on.
 *
 * @module
 */
export {
  type Batch,
  batches,
  channelsOf,
  concatSets,
  IMAGE_SIDE,
  IMAGE_SIZE,
  type ImageSet,
  type LabelledSet,
  type SetShape,
  subset,
} from "./images.ts";
export {
  type DataFile,
  type DatasetName,
  DatasetNotFound,
  datasets,
  type DatasetSpec,
  loadSplit,
  type LoadSplitError,
  type ReadDataFileError,
  type SplitName,
} from "./datasets.ts";
export { checkImageSet, InvalidImageSet, type ModelInput } from "./checks.ts";
export {
  loadGeneratedSet,
  loadOodSet,
  type LoadOodSetError,
  OOD_SET_NAMES,
  type OodSetInfo,
  type OodSetName,
  oodSets,
  projectPath,
} from "./ood/mod.ts";
export {
  type OodManifest,
  OodManifestInvalid,
  OodManifestMissing,
  type OodRole,
  OodSetCorrupt,
  readManifest,
  type SourcePackage,
} from "./ood/manifest.ts";
export { mulberry32, permutation } from "../random.ts";
export { concatRows, type Matrix, matrix, takeRows } from "../matrix.ts";
