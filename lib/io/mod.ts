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
  tryIo,
  writeAtomicWith,
  writeFile,
  writeFileAtomic,
  writeJson,
  writeJsonAtomic,
} from "./files.ts";
export { readOptionalJson } from "./json_file.ts";
export * from "./output_folder.ts";
export * from "./paths.ts";
export * from "./npy.ts";
export * from "./idx.ts";
