/**
 * Files: typed I/O errors naming the path and the OS reason, atomic writes, NumPy `.npy`
 * and IDX readers and writers.
 *
 * @module
 */
export { IoError, writeFileAtomic, writeJsonAtomic } from "./files.ts";
export {
  CorruptNpy,
  decodeNpy,
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
