/**
 * CIFAR-10 and CIFAR-100 binary batches: each record is its label byte (CIFAR-100: two, coarse
 * then fine; `label` picks one, default fine), then the red, green and blue planes of a 32×32
 * image. Class names come from the spec's `classes`, else the meta file shipped next to the
 * batches (`batches.meta.txt`, `fine_label_names.txt`…), else "0", "1", …. Files are read one
 * batch of records at a time, in the order listed.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { Effect, Schema } from "effect";
import { ClassNames } from "../decode.ts";
import { readOptionalText } from "../io/files.ts";
import { CorruptDataset } from "../io/idx.ts";
import { conformRaw, interleave } from "./conform.ts";
import {
  type ImageShape,
  numberedClasses,
  type OpenContext,
  type OpenedSource,
  readExactly,
  resolvePath,
  type SourceKind,
  specFile,
} from "./source.ts";
import { batchesOf } from "./range.ts";

/** The spec of CIFAR binary batch files. */
export const CifarSpec: Schema.Struct<{
  readonly kind: Schema.Literal<"cifar">;
  readonly variant: Schema.Literals<readonly ["cifar10", "cifar100"]>;
  readonly files: Schema.NonEmptyArray<Schema.String>;
  readonly label: Schema.optional<Schema.Literals<readonly ["fine", "coarse"]>>;
  readonly classes: Schema.optional<Schema.$Array<Schema.String>>;
}> = Schema.Struct({
  kind: Schema.Literal("cifar"),
  variant: Schema.Literals(["cifar10", "cifar100"]),
  files: Schema.NonEmptyArray(Schema.String),
  /** CIFAR-100 only: which label (default "fine"). */
  label: Schema.optional(Schema.Literals(["fine", "coarse"])),
  classes: Schema.optional(ClassNames),
});
/** A decoded CIFAR spec. */
type CifarSpec = typeof CifarSpec.Type;

const CIFAR_SHAPE: ImageShape = { height: 32, width: 32, channels: 3 };
const PIXELS = 32 * 32 * 3;

/** Record size and label layout of a variant. */
export const cifarRecord = (
  variant: CifarSpec["variant"],
): { readonly size: number; readonly labels: number } =>
  variant === "cifar10" ? { size: 1 + PIXELS, labels: 1 } : { size: 2 + PIXELS, labels: 2 };

/**
 * Names from the meta text file next to the batches, if there is one. One that is there but not
 * a regular file, unreadable, or naming another number of classes is refused: the names label
 * every score.
 */
const metaNames = (dir: string, spec: CifarSpec, classes: number) => {
  const path = join(
    dir,
    spec.variant === "cifar10" ? "batches.meta.txt" : `${spec.label ?? "fine"}_label_names.txt`,
  );
  return Effect.flatMap(
    Effect.tryPromise({
      try: () => readOptionalText(path),
      catch: (error) => new CorruptDataset({ path, problem: `cannot be read: ${error}` }),
    }),
    (text) => {
      const names = text?.split("\n").map((l) => l.trim()).filter((l) => l !== "");
      return names === undefined || names.length === classes ? Effect.succeed(names) : Effect.fail(
        new CorruptDataset({
          path,
          problem: `names ${names.length} classes, not the ${classes} of ${spec.variant}` +
            (spec.variant === "cifar100" ? ` (${spec.label ?? "fine"} labels)` : ""),
        }),
      );
    },
  );
};

const open = Effect.fn("openCifar")(function* (spec: CifarSpec, ctx: OpenContext) {
  if (spec.variant === "cifar10" && spec.label !== undefined) {
    return yield* new CorruptDataset({
      path: resolvePath(ctx, spec.files[0]),
      problem: `"label": "${spec.label}" applies to CIFAR-100 only`,
    });
  }
  const record = cifarRecord(spec.variant);
  const labelOffset = spec.variant === "cifar100" && spec.label === "coarse"
    ? 0
    : record.labels - 1;
  const files: Array<{ path: string; first: number; count: number }> = [];
  let count = 0;
  for (const file of spec.files) {
    const path = resolvePath(ctx, file);
    const size = yield* specFile(path, async () => (await Deno.stat(path)).size);
    if (size === 0 || size % record.size !== 0) {
      return yield* new CorruptDataset({
        path,
        problem: `${size} bytes is not a whole number of ${spec.variant} records of ` +
          `${record.size} bytes (truncated, or another variant)`,
      });
    }
    files.push({ path, first: count, count: size / record.size });
    count += size / record.size;
  }
  const classes = spec.variant === "cifar10" ? 10 : spec.label === "coarse" ? 20 : 100;
  const classNames = spec.classes ??
    (yield* metaNames(dirname(files[0]!.path), spec, classes)) ?? numberedClasses(classes);
  const readBatch = (start: number, size: number) =>
    Effect.gen(function* () {
      const planar = new Uint8Array(size * PIXELS);
      const labels = new Uint8Array(size);
      for (const file of files) {
        const from = Math.max(start, file.first);
        const to = Math.min(start + size, file.first + file.count);
        if (from >= to) continue;
        const at = (from - file.first) * record.size;
        const bytes = yield* readExactly(file.path, at, (to - from) * record.size);
        for (let r = 0; r < to - from; r++) {
          const base = r * record.size;
          const n = from - start + r;
          const label = bytes[base + labelOffset]!;
          if (label >= classNames.length) {
            return yield* new CorruptDataset({
              path: file.path,
              problem: `label ${label} of record ${from - file.first + r} is not below ` +
                `${classNames.length} classes`,
            });
          }
          labels[n] = label;
          planar.set(bytes.subarray(base + record.labels, base + record.size), n * PIXELS);
        }
      }
      const pixels = interleave(planar, size, CIFAR_SHAPE);
      return {
        start,
        size,
        pixels: yield* conformRaw(pixels, size, CIFAR_SHAPE, ctx.shape, files[0]!.path),
        labels,
      };
    });
  const opened: OpenedSource = {
    description: files.map((f) => f.path).join(", "),
    count,
    shape: ctx.shape,
    classNames,
    ...batchesOf(count, readBatch),
  };
  return opened;
});

/** CIFAR-10 / CIFAR-100 binary batch files. */
export const cifarSource: SourceKind<typeof CifarSpec> = { kind: "cifar", schema: CifarSpec, open };
