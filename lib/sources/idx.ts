/**
 * IDX files (raw or gzip, `lib/io/idx.ts`): images of rank 3 (N, H, W: grey) or 4 (N, H, W, C),
 * optional labels of rank 1, decoded once and then held in memory.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { classesNeedLabels, ClassNames } from "../decode.ts";
import { CorruptDataset, readIdx } from "../io/idx.ts";
import { inMemorySource } from "./in_memory.ts";
import {
  type ImageShape,
  labelClasses,
  type OpenContext,
  resolvePath,
  type SourceKind,
} from "./source.ts";

/** The spec of an IDX image file and its optional labels file. */
export const IdxSpec: Schema.Struct<{
  readonly kind: Schema.Literal<"idx">;
  readonly images: Schema.String;
  readonly labels: Schema.optional<Schema.String>;
  readonly classes: Schema.optional<Schema.$Array<Schema.String>>;
}> = Schema.Struct({
  kind: Schema.Literal("idx"),
  images: Schema.String,
  labels: Schema.optional(Schema.String),
  /** Class names in label order (default "0", "1", …). */
  classes: Schema.optional(ClassNames),
}).pipe(Schema.check(classesNeedLabels));

const HINT = "check the path in the spec";

const open = Effect.fn("openIdx")(function* (spec: typeof IdxSpec.Type, ctx: OpenContext) {
  const path = resolvePath(ctx, spec.images);
  const images = yield* readIdx(path, HINT);
  const fail = (file: string, problem: string) =>
    Effect.fail(new CorruptDataset({ path: file, problem }));
  const dims = images.dims;
  const channels = dims.length === 3 ? 1 : dims[3];
  if ((dims.length !== 3 && dims.length !== 4) || (channels !== 1 && channels !== 3)) {
    return yield* fail(
      path,
      `dims [${dims.join(", ")}] are not images (N, H, W) or (N, H, W, C) with C = 1 or 3`,
    );
  }
  const source: ImageShape = { height: dims[1]!, width: dims[2]!, channels };
  const count = dims[0]!;
  let labelled: { labels?: Uint8Array; classNames?: ReadonlyArray<string> } = {};
  if (spec.labels !== undefined) {
    const labelsPath = resolvePath(ctx, spec.labels);
    const idx = yield* readIdx(labelsPath, HINT);
    if (idx.dims.length !== 1 || idx.dims[0] !== count) {
      return yield* fail(labelsPath, `dims [${idx.dims.join(", ")}], expected [${count}]`);
    }
    const classNames = labelClasses(idx.data, spec.classes);
    if (typeof classNames === "string") return yield* fail(labelsPath, classNames);
    labelled = { labels: idx.data, classNames };
  }
  return inMemorySource(
    { description: path, count, shape: source, pixels: images.data, ...labelled },
    ctx,
  );
});

/** IDX image files with optional labels. */
export const idxSource: SourceKind<typeof IdxSpec> = { kind: "idx", schema: IdxSpec, open };
