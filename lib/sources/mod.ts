/**
 * The data source registry: every kind of source a benchmark file or a task may name. A new
 * kind is one file (its spec Schema and `open`) and one line in `SOURCE_KINDS`.
 *
 * @example Read a folder of PNGs as 28×28 grey images
 * ```ts ignore
 * import { Effect } from "effect";
 * import { GREY_28, openSource, readSource } from "./mod.ts";
 * const set = await Effect.runPromise(
 *   Effect.flatMap(
 *     openSource({ kind: "folder", path: "my-pngs" }, { baseDir: ".", shape: GREY_28 }),
 *     readSource,
 *   ),
 * );
 * console.log(set.count, set.checksum);
 * ```
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { CorruptDataset } from "../io/idx.ts";
import { cifarSource } from "./cifar.ts";
import { datasetSource } from "./dataset.ts";
import { folderSource } from "./folder.ts";
import { oodSetSource } from "./generated.ts";
import { idxSource } from "./idx.ts";
import { npySource } from "./npy.ts";
import type { OpenContext, OpenedSource, SourceError } from "./source.ts";

export {
  DEFAULT_BATCH,
  GREY_28,
  type ImageShape,
  imageValues,
  memoryBatches,
  numberedClasses,
  type OpenContext,
  type OpenedSource,
  type ReadSource,
  readSource,
  resolvePath,
  sameShape,
  type SourceBatch,
  type SourceError,
  sourceHasher,
  type SourceKind,
  SourceUnlabelled,
} from "./source.ts";
export { conformRaw, decodeImage, pngAlreadyAtShape, type Sharp, toShape } from "./conform.ts";
export {
  rangeBatchStarts,
  rangeOfBatches,
  readRange,
  type SourceRange,
  SourceRangeInvalid,
} from "./range.ts";
export {
  argumentPaths,
  parseSourceArgument,
  SOURCE_ARGUMENT_HELP,
  type SourceArgument,
  SourceArgumentInvalid,
  sourcePaths,
} from "./argument.ts";
export { folderSource, FolderSpec, listImages } from "./folder.ts";
export { npySource, NpySpec } from "./npy.ts";
export { idxSource, IdxSpec } from "./idx.ts";
export { cifarRecord, cifarSource, CifarSpec } from "./cifar.ts";
export { datasetSource, DatasetSourceSpec } from "./dataset.ts";
export { oodSetSource, OodSetSourceSpec } from "./generated.ts";

/** Every source kind. */
export const SOURCE_KINDS = [
  folderSource,
  npySource,
  idxSource,
  cifarSource,
  datasetSource,
  oodSetSource,
] as const;

/** Any source spec: a JSON object whose `kind` picks the source kind. */
export const SourceSpec: Schema.Union<
  Array<(typeof SOURCE_KINDS)[number]["schema"]>
> = Schema.Union(SOURCE_KINDS.map((k) => k.schema));
/** A decoded source spec. */
export type SourceSpec = typeof SourceSpec.Type;

/**
 * Open a decoded source spec with the kind its `kind` names. A source with no image is refused
 * for every kind: nothing can be fitted on it, and scoring it would succeed with no row, which
 * hides a wrong path.
 */
export const openSource = (
  spec: SourceSpec,
  ctx: OpenContext,
): Effect.Effect<OpenedSource, SourceError> => {
  const kind = SOURCE_KINDS.find((k) => k.kind === spec.kind)!;
  const open = kind.open as (s: SourceSpec, c: OpenContext) => ReturnType<typeof kind.open>;
  return Effect.filterOrFail(
    open(spec, ctx),
    (source) => source.count > 0,
    (source) => new CorruptDataset({ path: source.description, problem: "holds no image" }),
  );
};
