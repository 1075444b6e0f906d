/**
 * Image folders. `labelled: true`: one subfolder per class, images anywhere below each. The
 * class order (recorded in `classNames`) is the spec's `classes` list, else the one the reader
 * gives (`OpenContext.classes`: the model's classes at fit), and then every subfolder must be
 * one of those names (labels by name, never by position); without either, the subfolder names
 * sorted, numbers as numbers (`1`, `2`, …, `10`) and other names by code point. Otherwise any
 * folder, read recursively, with no labels (an OOD set). PNG, JPEG and WebP files (by
 * extension, any case) are decoded and resized to the model's input by npm `sharp`; other
 * files are skipped. A link to an image or a folder inside the folder is followed; a link
 * that leads outside it, or nowhere, is an error naming it (never skipped silently). Images are
 * read in sorted path order, one batch at a time.
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
import { join, sep } from "node:path";
import { Effect, Schema, Stream } from "effect";
import { ClassNames } from "../decode.ts";
import { CorruptDataset, DatasetFileMissing } from "../io/idx.ts";
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
import { rangeOfBatches } from "./range.ts";

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
/** Most classes a label byte can hold. */
const MAX_CLASSES = 256;

/** A link that leads outside the folder or nowhere: named, never skipped. */
class LinkRefused extends Error {
  constructor(readonly path: string, readonly reason: string) {
    super(reason);
  }
}

/**
 * Every file under `root` (sorted relative paths), following links whose target lies inside
 * `root` (each real folder walked once); a link leading outside or nowhere throws.
 */
async function walkFollowingLinks(root: string): Promise<Array<string>> {
  const realRoot = await Deno.realPath(root);
  const inside = (real: string) => real === realRoot || real.startsWith(realRoot + sep);
  const seen = new Set<string>([realRoot]);
  const out: Array<string> = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await Array.fromAsync(Deno.readDir(rel === "" ? root : join(root, rel)));
    for (const e of entries) {
      const path = rel === "" ? e.name : `${rel}/${e.name}`;
      let isDirectory = e.isDirectory;
      let isFile = e.isFile;
      if (e.isSymlink) {
        const real = await Deno.realPath(join(root, path)).catch(() => undefined);
        if (real === undefined) throw new LinkRefused(path, "a link to nothing");
        if (!inside(real)) {
          throw new LinkRefused(path, `a link to ${real}, outside the folder (copy it in)`);
        }
        const info = await Deno.stat(real);
        if (info.isDirectory && seen.has(real)) continue;
        if (info.isDirectory) seen.add(real);
        [isDirectory, isFile] = [info.isDirectory, info.isFile];
      }
      if (isDirectory) await walk(path);
      else if (isFile) out.push(path);
    }
  };
  await walk("");
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The image files a folder source reads under `root` (relative, sorted; links inside it followed,
 * a link leading out refused), e.g. to hash exactly what a job will read.
 */
export const listImages = (
  root: string,
): Effect.Effect<Array<string>, CorruptDataset | DatasetFileMissing> =>
  Effect.tryPromise({
    try: async () => {
      const stat = await Deno.stat(root);
      if (!stat.isDirectory) throw new Error("not a folder");
      return (await walkFollowingLinks(root)).filter((f) => IMAGE_EXTENSION.test(f));
    },
    catch: (error) =>
      error instanceof LinkRefused
        ? new CorruptDataset({ path: join(root, error.path), problem: error.reason })
        : error instanceof Deno.errors.NotFound
        ? new DatasetFileMissing({ path: root, hint: "check the folder path in the spec" })
        : new CorruptDataset({ path: root, problem: String(error) }),
  });

/**
 * Class folder names in order: numbers as numbers when every name is one (`1`, `2`, …, `10`),
 * else by code point.
 *
 * @example
 * ```ts
 * import { sortClassNames } from "./folder.ts";
 * if (sortClassNames(["10", "2", "1"]).join() !== "1,2,10") throw new Error("code-point order");
 * if (sortClassNames(["b", "a"]).join() !== "a,b") throw new Error("not sorted");
 * ```
 */
export function sortClassNames(names: ReadonlyArray<string>): Array<string> {
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
    range: rangeOfBatches(readBatch),
  };
  return opened;
});

/** Image folders (PNG, JPEG, WebP), labelled by subfolder or not. */
export const folderSource: SourceKind<typeof FolderSpec> = {
  kind: "folder",
  schema: FolderSpec,
  open,
};
