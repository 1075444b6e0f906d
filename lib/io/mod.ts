/**
 * Files: typed I/O errors naming the path and the OS reason, atomic writes, output folders
 * (what a task may write or replace), optional JSON files decoded strictly, names and paths
 * from files, NumPy `.npy` and IDX readers and writers.
 *
 * @module
 */
export {
  ensureWritable,
  exists,
  IoError,
  osReason,
  portablePath,
  sha256Hex,
  statRegularFile,
  tryIo,
  writeAtomicWith,
  writeFile,
  writeFileAtomic,
  writeJson,
  writeJsonAtomic,
} from "./files.ts";
export { readOptionalJson } from "./json_file.ts";
export {
  checkOutputFile,
  checkOutputFolder,
  checkOutputRoot,
  creationTime,
  OUTPUT_MARKER,
  type OutputFolderOptions,
  OutputFolderRefused,
  prepareOutputFile,
  prepareOutputRoot,
  recoverOutputFolder,
  writeOutputFolder,
} from "./output_folder.ts";
export {
  checkIdentifier,
  Identifier,
  identifierProblem,
  insideBase,
  InvalidName,
  isWithin,
  LinkLeavesRoot,
  PathOutsideBase,
  realPathSoFar,
} from "./paths.ts";
export {
  CorruptNpy,
  decodeNpy,
  decodeNpyHeader,
  encodeNpy,
  type NpyArray,
  type NpyDtype,
  NpyIoError,
  NpyShapeMismatch,
  readNpy,
  writeNpyAtomic,
} from "./npy.ts";
export {
  CorruptDataset,
  DatasetFileMissing,
  decodeIdx,
  encodeIdx,
  type Idx,
  readIdx,
} from "./idx.ts";
