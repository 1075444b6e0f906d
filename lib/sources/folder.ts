/**
 * Image folders: PNG, JPEG and WebP files (by extension, any case; others skipped), read
 * recursively in sorted path order and decoded to the model's input by npm `sharp`. Links inside
 * the folder are followed; one leading outside or nowhere is an error naming it. `labelled`: one
 * subfolder per class, labelled by name (never by position) in the order of the spec's
 * `classes`, else the reader's (`OpenContext.classes`), else the sorted subfolder names.
 *
 * @module
 */
import { join, relative } from "node:path";
import { Effect, Schema } from "effect";
import { ClassNames } from "../decode.ts";
import { CorruptDataset, DatasetFileMissing } from "../io/idx.ts";
import { LinkLeavesRoot, walkFiles } from "../io/paths.ts";
import { decodeImage } from "./conform.ts";
import {
  imageValues,
  type OpenContext,
  type OpenedSource,
  resolvePath,
  sourceBatch,
  type SourceKind,
} from "./source.ts";
import { batchesOf } from "./range.ts";

/** The spec of an image folder. */
export const FolderSpec: Schema.Struct<{
  readonly kind: Schema.Literal<"folder">;
  readonly path: Schema.String;
  readonly labelled: Schema.optional<Schema.Boolean>;
  readonly classes: Schema.optional<Schema.$Array<Schema.String>>;
}> = Schema.Struct({
  kind: Schema.Literal("folder"),
  path: Schema.String,
  /** One subfolder per class (default false: an unlabelled OOD folder). */
  labelled: Schema.optional(Schema.Boolean),
  /** The class names in label order; each class subfolder must be one of them. */
  classes: Schema.optional(ClassNames),
});

const IMAGE_EXTENSION = /\.(png|jpe?g|webp)$/i;

/** The image files a folder source reads under `root` (relative, sorted), e.g. to hash them. */
export const listImages = (
  root: string,
): Effect.Effect<Array<string>, CorruptDataset | DatasetFileMissing> =>
  Effect.tryPromise({
    try: async () => {
      const stat = await Deno.stat(root);
      if (!stat.isDirectory) throw new Error("not a folder");
      const files = (await walkFiles(root)).map((path) => relative(root, path));
      return files.filter((f) => IMAGE_EXTENSION.test(f));
    },
    catch: (error) =>
      error instanceof LinkLeavesRoot
        ? new CorruptDataset({
          path: error.link,
          problem: `a link to ${error.target}, outside the folder (copy it in)`,
        })
        : error instanceof Error && "link" in error
        ? new CorruptDataset({ path: String(error.link), problem: "a link to nothing" })
        : error instanceof Deno.errors.NotFound
        ? new DatasetFileMissing({ path: root, hint: "check the folder path in the spec" })
        : new CorruptDataset({ path: root, problem: String(error) }),
  });

/** Class folder names sorted: as numbers when all are (`1`, `2`, `10`), else by code point. */
function sortClassNames(names: ReadonlyArray<string>): Array<string> {
  const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const numeric = names.every((n) => /^\d+$/.test(n));
  return [...names].sort((a, b) =>
    numeric ? Number(a) - Number(b) || byCodePoint(a, b) : byCodePoint(a, b)
  );
}

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
    const folders = [...new Set(classOf)];
    const given = spec.classes ?? ctx.classes;
    if (given !== undefined) {
      const unknown = sortClassNames(folders.filter((name) => !given.includes(name)));
      if (unknown.length > 0) {
        return yield* new CorruptDataset({
          path: join(root, unknown[0]!),
          problem: `the class folder${unknown.length > 1 ? "s" : ""} ` +
            `${unknown.map((n) => JSON.stringify(n)).join(", ")} ` +
            `${unknown.length > 1 ? "are" : "is"} not among the classes ` +
            `${spec.classes !== undefined ? "the spec lists" : "expected"} (${given.join(", ")})`,
        });
      }
    }
    classNames = given ?? sortClassNames(folders);
    if (classNames.length > 256) { // what a label byte holds
      return yield* new CorruptDataset({
        path: root,
        problem: `has ${classNames.length} class folders; at most 256 are supported`,
      });
    }
    const index = new Map(classNames.map((name, i) => [name, i]));
    labels = Uint8Array.from(classOf, (name) => index.get(name)!);
  }
  const per = imageValues(ctx.shape);
  const readImage = (path: string) =>
    Effect.tryPromise({
      try: () => Deno.readFile(path),
      catch: (error) => new CorruptDataset({ path, problem: `cannot read: ${error}` }),
    }).pipe(Effect.flatMap((bytes) => decodeImage(bytes, path, ctx.shape)));
  const opened: OpenedSource = {
    description: root,
    count: files.length,
    shape: ctx.shape,
    itemNames: files,
    ...(classNames === undefined ? {} : { classNames }),
    ...batchesOf(files.length, (start, size) => {
      const pixels = new Uint8Array(size * per);
      return Effect.forEach(
        files.slice(start, start + size),
        (file, i) => Effect.map(readImage(join(root, file)), (image) => pixels.set(image, i * per)),
        { concurrency: 4, discard: true },
      ).pipe(Effect.as(sourceBatch(start, size, pixels, labels)));
    }),
  };
  return opened;
});

/** Image folders (PNG, JPEG, WebP), labelled by subfolder or not. */
export const folderSource: SourceKind<typeof FolderSpec> = {
  kind: "folder",
  schema: FolderSpec,
  open,
};
