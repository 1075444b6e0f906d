/**
 * Save and load indexes of the registered kinds. A saved index is a folder: its kind's files and
 * `index.json` (the kind, the shape, what the kind records), decoded strictly on load, with every
 * file checked against its sha256.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { join } from "node:path";
import { decodeJsonText, decodeStrict } from "../decode.ts";
import { writeJsonAtomic } from "../io/files.ts";
import { type OutputFolderRefused, writeOutputFolder } from "../io/output_folder.ts";
import { CorruptIndex, IndexIoError } from "./errors.ts";
import { io, readRegular } from "./files.ts";
import { type IndexLoadError, type PlainSchema, Whole } from "./kind.ts";
import { INDEX_KINDS, indexKind } from "./registry.ts";
import type { NearestNeighbourIndex } from "./types.ts";

const METADATA_FILE = "index.json";

/**
 * The Schema of `index.json` (format version 2): the kind, its points' shape, and `contents`,
 * what the kind recorded, decoded by the kind's own `metadata` Schema.
 */
export const IndexMetadata: Schema.Struct<{
  readonly format: Schema.Literal<"grood-knn-index">;
  readonly version: Schema.Literal<2>;
  readonly kind: Schema.String;
  readonly size: Schema.Int;
  readonly dim: Schema.Int;
  readonly contents: Schema.Unknown;
}> = Schema.Struct({
  format: Schema.Literal("grood-knn-index"),
  version: Schema.Literal(2),
  kind: Schema.String,
  size: Whole,
  dim: Whole,
  contents: Schema.Unknown,
});
/** The metadata written next to a saved index. */
export type IndexMetadata = typeof IndexMetadata.Type;

/**
 * Save an index built or loaded by a registered kind as folder `dir`, under the rules of every
 * output folder (`Io.writeOutputFolder`): absent, empty, or an index grood saved there with its
 * marker (replaced whole and atomically); anything else (an index saved before markers, too) is
 * an `OutputFolderRefused`, untouched. An index no registered kind made is an `IndexIoError`.
 */
export const saveIndex = (
  index: NearestNeighbourIndex,
  dir: string,
): Effect.Effect<IndexMetadata, IndexIoError | OutputFolderRefused> =>
  Effect.gen(function* () {
    const kind = INDEX_KINDS.find((k) => k.owns(index));
    if (kind === undefined) {
      return yield* new IndexIoError({
        path: dir,
        cause: new Error(`${index.name} (kind ${index.kind}) was not made by a registered kind`),
      });
    }
    return yield* writeOutputFolder(dir, { kind: "k-NN index" }, (tmp) =>
      Effect.gen(function* () {
        const contents = yield* kind.save(index as never, tmp);
        const metadata: IndexMetadata = {
          format: "grood-knn-index",
          version: 2,
          kind: kind.kind,
          size: index.size,
          dim: index.dim,
          contents,
        };
        const metadataPath = join(tmp, METADATA_FILE);
        yield* io(metadataPath, () => writeJsonAtomic(metadataPath, metadata));
        return metadata;
      })).pipe(
        Effect.catchTag("IoError", (error) =>
          Effect.fail(new IndexIoError({ path: error.path, cause: error.message }))),
      );
  });

/**
 * Load an index saved by {@link saveIndex}: `index.json` decoded strictly (a `CorruptIndex` naming
 * every problem), the kind's files checked against their sha256 and shape. Named by `dir`.
 */
export const loadIndex = (dir: string): Effect.Effect<NearestNeighbourIndex, IndexLoadError> =>
  Effect.gen(function* () {
    const metadataPath = join(dir, METADATA_FILE);
    const invalid = (problem: string) => new CorruptIndex({ path: metadataPath, problem });
    const asCorrupt = Effect.mapError((error: Error) => invalid(error.message));
    const bytes = yield* readRegular(metadataPath);
    const text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
    const metadata = yield* decodeJsonText(IndexMetadata, METADATA_FILE)(text).pipe(asCorrupt);
    const kind = indexKind(metadata.kind);
    if (kind === undefined) {
      return yield* invalid(
        `unknown kind ${JSON.stringify(metadata.kind)} (one of ${
          INDEX_KINDS.map((k) => k.kind).join(", ")
        })`,
      );
    }
    // Decoded as the field `contents`, so a problem's path names it.
    const { contents } = yield* decodeStrict(
      Schema.Struct({ contents: kind.metadata as PlainSchema }),
      METADATA_FILE,
    )({ contents: metadata.contents }).pipe(asCorrupt);
    return yield* kind.load({ dir, size: metadata.size, dim: metadata.dim }, contents);
  });
