/**
 * NumPy `.npy` image arrays: uint8 or float32, NHWC, NCHW or NHW (grey), the layout declared
 * or inferred from the shape (a last axis of 1 or 3 means NHWC, else a second one NCHW). Floats
 * are read as `[0, 1]` (`range: "unit"`) or `[0, 255]` (`"byte"`) and rounded; a value outside
 * or not finite fails naming its index. Optional labels: a 1-D uint8, int32 or int64 `.npy`.
 * The images are streamed: each batch's bytes are read at their offset, so a float32 set is
 * never in memory whole.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { classesNeedLabels, ClassNames } from "../decode.ts";
import { readSlice } from "../io/files.ts";
import { CorruptDataset } from "../io/idx.ts";
import { decodeNpyHeader, readNpy } from "../io/npy.ts";
import { conformRaw, interleave } from "./conform.ts";
import {
  type ImageShape,
  imageValues,
  labelClasses,
  type OpenContext,
  type OpenedSource,
  readExactly,
  resolvePath,
  sourceBatch,
  type SourceKind,
  specFile,
} from "./source.ts";
import { batchesOf } from "./range.ts";

/** The spec of a `.npy` image array. */
export const NpySpec: Schema.Struct<{
  readonly kind: Schema.Literal<"npy">;
  readonly images: Schema.String;
  readonly labels: Schema.optional<Schema.String>;
  readonly layout: Schema.optional<Schema.Literals<readonly ["NHWC", "NCHW", "NHW"]>>;
  readonly range: Schema.optional<Schema.Literals<readonly ["unit", "byte"]>>;
  readonly classes: Schema.optional<Schema.$Array<Schema.String>>;
}> = Schema.Struct({
  kind: Schema.Literal("npy"),
  images: Schema.String,
  labels: Schema.optional(Schema.String),
  layout: Schema.optional(Schema.Literals(["NHWC", "NCHW", "NHW"])),
  /** Value range of float arrays (default "unit": 0…1). */
  range: Schema.optional(Schema.Literals(["unit", "byte"])),
  /** Class names in label order (default "0", "1", …). */
  classes: Schema.optional(ClassNames),
}).pipe(Schema.check(classesNeedLabels));
/** A decoded `.npy` spec. */
type NpySpec = typeof NpySpec.Type;

/** How many header bytes to read first (NumPy headers are 64–4096 bytes in practice). */
const HEADER_PROBE = 4096;

/** How a `.npy` array holds images. */
interface Geometry {
  readonly layout: "NHWC" | "NCHW" | "NHW";
  readonly source: ImageShape;
  readonly count: number;
}

/** The image geometry of an array of shape `dims` read with `layout`, or the problem. */
function geometry(dims: ReadonlyArray<number>, layout: NpySpec["layout"]): Geometry | string {
  const chosen = layout ??
    (dims.length === 3
      ? "NHW"
      : dims.length === 4 && (dims[3] === 1 || dims[3] === 3)
      ? "NHWC"
      : dims.length === 4 && (dims[1] === 1 || dims[1] === 3)
      ? "NCHW"
      : undefined);
  if (chosen === undefined) {
    return `shape (${dims.join(", ")}) is not images: expected (N, H, W), (N, H, W, C) or ` +
      "(N, C, H, W) with C = 1 or 3; declare `layout` if the channels are elsewhere";
  }
  const want = chosen === "NHW" ? 3 : 4;
  if (dims.length !== want) {
    return `shape (${dims.join(", ")}) has rank ${dims.length}, ${chosen} needs ${want}`;
  }
  const [n, a, b, c] = dims as [number, number, number, number | undefined];
  const [height, width, channels] = chosen === "NHW"
    ? [a, b, 1]
    : chosen === "NHWC"
    ? [a, b, c!]
    : [b, c!, a];
  if (channels !== 1 && channels !== 3) {
    const shape = dims.join(", ");
    return `shape (${shape}) read as ${chosen} has ${channels} channels; 1 or 3 are supported`;
  }
  return { layout: chosen, source: { height, width, channels }, count: n };
}

/**
 * Convert `size` images of values (uint8 or float32 times `scale`, any layout) to NHWC uint8, or
 * name the first float outside the range (`firstValue`: the flat index of the first value).
 */
function toNhwcBytes(
  raw: Uint8Array,
  geo: Geometry & { readonly float: boolean; readonly scale: number },
  size: number,
  firstValue: number,
): Uint8Array | { index: number; value: number } {
  const { layout, source: shape, scale } = geo;
  let values = raw;
  if (geo.float) {
    const floats = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
    values = new Uint8Array(floats.length);
    for (let i = 0; i < floats.length; i++) {
      const v = floats[i]! * scale;
      // Half a grey level of slack for float rounding; anything further is a wrong range.
      if (!(v >= -0.5 && v <= 255.5)) return { index: firstValue + i, value: floats[i]! };
      values[i] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
  return layout === "NCHW" && shape.channels === 3 ? interleave(values, size, shape) : values;
}

const readLabels = (path: string, count: number, classes: ReadonlyArray<string> | undefined) =>
  Effect.gen(function* () {
    const array = yield* readNpy(path);
    const fail = (problem: string) => Effect.fail(new CorruptDataset({ path, problem }));
    if (array.dtype !== "|u1" && array.dtype !== "<i4" && array.dtype !== "<i8") {
      return yield* fail(`labels have dtype ${array.dtype}; save them as uint8, int32 or int64`);
    }
    if (array.shape.length !== 1 || array.shape[0] !== count) {
      return yield* fail(`labels have shape (${array.shape.join(", ")}), expected (${count},)`);
    }
    const classNames = labelClasses(array.data, classes);
    if (typeof classNames === "string") return yield* fail(classNames);
    return { labels: Uint8Array.from(array.data), classNames };
  });

const open = Effect.fn("openNpy")(function* (spec: NpySpec, ctx: OpenContext) {
  const path = resolvePath(ctx, spec.images);
  // A named pipe called `x.npy` is refused, not waited on.
  const { size, bytes: head } = yield* specFile(path, () => readSlice(path, 0, HEADER_PROBE));
  const header = yield* decodeNpyHeader(head, path);
  const fail = (problem: string) => Effect.fail(new CorruptDataset({ path, problem }));
  if (header.dtype !== "|u1" && header.dtype !== "<f4") {
    return yield* fail(`dtype ${header.dtype} is not uint8 or float32`);
  }
  const found = geometry(header.shape, spec.layout);
  if (typeof found === "string") return yield* fail(found);
  const scale = spec.range === "byte" ? 1 : 255;
  const geo = { ...found, float: header.dtype === "<f4", scale };
  const per = imageValues(geo.source);
  const needed = header.dataOffset + geo.count * per * header.itemSize;
  if (size !== needed) {
    return yield* fail(
      `shape (${header.shape.join(", ")}) needs ${needed} bytes, the file has ${size}` +
        (size < needed ? " (truncated)" : " (trailing bytes)"),
    );
  }
  const labelled = spec.labels === undefined
    ? undefined
    : yield* readLabels(resolvePath(ctx, spec.labels), geo.count, spec.classes);
  const opened: OpenedSource = {
    description: path,
    count: geo.count,
    shape: ctx.shape,
    ...(labelled === undefined ? {} : { classNames: labelled.classNames }),
    ...batchesOf(geo.count, (start, count) =>
      Effect.gen(function* () {
        const at = header.dataOffset + start * per * header.itemSize;
        const raw = yield* readExactly(path, at, count * per * header.itemSize);
        const converted = toNhwcBytes(raw, geo, count, start * per);
        if (!(converted instanceof Uint8Array)) {
          return yield* fail(
            `value ${converted.value} at flat index ${converted.index} is outside the ${
              spec.range ?? "unit"
            } range (${scale === 255 ? "0…1" : "0…255"}); set "range" in the spec`,
          );
        }
        const pixels = yield* conformRaw(converted, count, geo.source, ctx.shape, path);
        return sourceBatch(start, count, pixels, labelled?.labels);
      })),
  };
  return opened;
});

/** `.npy` image arrays (uint8 or float32; NHWC, NCHW or NHW) with optional labels. */
export const npySource: SourceKind<typeof NpySpec> = { kind: "npy", schema: NpySpec, open };
