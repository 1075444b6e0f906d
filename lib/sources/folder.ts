/**
 * Image folders. `labelled: true`: one subfolder per class (class order = the subfolder names
 * sorted by code point, recorded in `classNames`), images anywhere below each. Otherwise any
 * folder, read recursively, with no labels (an OOD set). PNG, JPEG and WebP files (by
 * extension, any case) are decoded and resized to the model's input by npm `sharp`; other
 * files are skipped. Images are read in sorted path order, one batch at a time.
 *
 * @example An OOD folder at 28×28 grey
 * ```ts ignore
 * import { Effect } from "effect";
 * import { folderSource, GREY_28, readSource } from "../../mod.ts";
 * const opened = await Effect.runPromise(
 *   folderSource.open({ kind: "folder", path: "my-ood-pngs" }, { baseDir: ".", shape: GREY_28 }),
 * );
 * const set = await Effect.runPromise(readSource(opened));
 * console.log(set.count, set.checksum);
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { Effect, Schema, Stream } from "effect";
import { CorruptDataset, DatasetFileMissing } from "../io/idx.ts";
import { listFiles } from "../data/sources.ts";
import { decodeImage } from "./conform.ts";
import {
  batchStarts,
  imageValues,
  type OpenContext,
  type OpenedSource,
  resolvePath,
  type SourceBatch,
  type SourceKind,
} from "./source.ts";

/** The spec of an image folder. */
export const FolderSpec = Schema.Struct({
  kind: Schema.Literal("folder"),
  path: Schema.String,
  /** One subfolder per class (default false: an unlabelled OOD folder). */
  labelled: Schema.optional(Schema.Boolean),
});

const IMAGE_EXTENSION = /\.(png|jpe?g|webp)$/i;
/** Most classes a label byte can hold. */
const MAX_CLASSES = 256;

const listImages = (root: string) =>
  Effect.tryPromise({
    try: async () => {
      const stat = await Deno.stat(root);
      if (!stat.isDirectory) throw new Error("not a folder");
      return (await listFiles(root)).filter((f) => IMAGE_EXTENSION.test(f));
    },
    catch: (error) =>
      error instanceof Deno.errors.NotFound
        ? new DatasetFileMissing({ path: root, hint: "check the folder path in the spec" })
        : new CorruptDataset({ path: root, problem: String(error) }),
  });

const open = Effect.fn("openFolder")(function* (
  spec: typeof FolderSpec.Type,
  ctx: OpenContext,
) {
  const root = resolvePath(ctx, spec.path);
  const files = yield* listImages(root);
  if (files.length === 0) {
    return yield* new CorruptDataset({ path: root, problem: "holds no PNG, JPEG or WebP image" });
  }
  let labels: Uint8Array | undefined;
  let classNames: ReadonlyArray<string> | undefined;
  if (spec.labelled === true) {
    const outside = files.find((f) => !f.includes("/"));
    if (outside !== undefined) {
      return yield* new CorruptDataset({
        path: join(root, outside),
        problem: "a labelled folder holds images only inside its class subfolders",
      });
    }
    const classOf = files.map((f) => f.slice(0, f.indexOf("/")));
    classNames = [...new Set(classOf)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (classNames.length > MAX_CLASSES) {
      return yield* new CorruptDataset({
        path: root,
        problem: `has ${classNames.length} class folders; at most ${MAX_CLASSES} are supported`,
      });
    }
    const index = new Map(classNames.map((name, i) => [name, i]));
    labels = Uint8Array.from(classOf, (name) => index.get(name)!);
  }
  const per = imageValues(ctx.shape);
  const readBatch = (start: number, size: number) =>
    Effect.gen(function* () {
      const pixels = new Uint8Array(size * per);
      yield* Effect.forEach(
        Array.from({ length: size }, (_, i) => i),
        (i) => {
          const path = join(root, files[start + i]!);
          return Effect.tryPromise({
            try: () => Deno.readFile(path),
            catch: (error) => new CorruptDataset({ path, problem: `cannot read: ${error}` }),
          }).pipe(
            Effect.flatMap((bytes) => decodeImage(bytes, path, ctx.shape)),
            Effect.map((image) => pixels.set(image, i * per)),
          );
        },
        { concurrency: 4, discard: true },
      );
      const batch: SourceBatch = {
        start,
        size,
        pixels,
        ...(labels === undefined ? {} : { labels: labels.subarray(start, start + size) }),
      };
      return batch;
    });
  const opened: OpenedSource = {
    description: root,
    count: files.length,
    shape: ctx.shape,
    itemNames: files,
    ...(classNames === undefined ? {} : { classNames }),
    batches: (batchSize) =>
      Stream.fromIterable(batchStarts(files.length, batchSize)).pipe(
        Stream.mapEffect(({ start, size }) => readBatch(start, size)),
      ),
  };
  return opened;
});

/** Image folders (PNG, JPEG, WebP), labelled by subfolder or not. */
export const folderSource: SourceKind<typeof FolderSpec> = {
  kind: "folder",
  schema: FolderSpec,
  open,
};
