/**
 * A data source: where images (and optionally labels) come from, opened once and then read as
 * a stream of batches of uint8 NHWC images at the shape the model asks for, whatever the kind.
 * `readSource` collects one into a preallocated array, hashing the decoded content as it goes,
 * so a cache can key on the content without anyone writing a hash.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { Data, Effect, type Schema, Stream } from "effect";
import type { CorruptNpy, NpyIoError } from "../io/npy.ts";
import { CorruptDataset, DatasetFileMissing } from "../io/idx.ts";
import { NotRegularFile, readSlice } from "../io/files.ts";
import type { DatasetNotFound } from "../data/datasets.ts";
import type { LoadOodSetError } from "../data/ood/mod.ts";
import type { IoError } from "../io/files.ts";
import type { SourceRange } from "./range.ts";

/** Height, width and channels of one image (NHWC, uint8). */
export interface ImageShape {
  /** Rows of pixels. */
  readonly height: number;
  /** Columns of pixels. */
  readonly width: number;
  /** 1 (grey) or 3 (RGB). */
  readonly channels: 1 | 3;
}

/** The shape of grood's own 28×28 grey benchmarks. */
export const GREY_28: ImageShape = { height: 28, width: 28, channels: 1 };

/** True when two shapes are the same. */
export const sameShape = (a: ImageShape, b: ImageShape): boolean =>
  a.height === b.height && a.width === b.width && a.channels === b.channels;

/** Values per image of a shape. */
export const imageValues = (shape: ImageShape): number =>
  shape.height * shape.width * shape.channels;

/** Consecutive images of a source: where they start, how many, pixels and labels. */
export interface SourceBatch {
  /** Index of the batch's first image in the source. */
  readonly start: number;
  /** Images in the batch. */
  readonly size: number;
  /** `size` images, NHWC uint8, at the source's shape. */
  readonly pixels: Uint8Array;
  /** Class index per image, for labelled sources. */
  readonly labels?: Uint8Array;
}

/** The batch of `size` images from `start`: `pixels`, and its slice of a source's `labels`. */
export const sourceBatch = (
  start: number,
  size: number,
  pixels: Uint8Array,
  labels: Uint8Array | undefined,
): SourceBatch => ({
  start,
  size,
  pixels,
  ...(labels === undefined ? {} : { labels: labels.subarray(start, start + size) }),
});

/** Why a source cannot be read: every error names the file and what is wrong. */
export type SourceError =
  | DatasetFileMissing
  | CorruptDataset
  | CorruptNpy
  | NpyIoError
  | DatasetNotFound
  | IoError
  | LoadOodSetError
  | SourceUnlabelled;

/** A labelled source was needed (an ID split), but this one has no labels. */
export class SourceUnlabelled extends Data.TaggedError("SourceUnlabelled")<{
  readonly source: string;
  readonly role: string;
}> {
  /** The error as one line: what failed and why. */
  override get message(): string {
    return `Cannot use "${this.source}" as ${this.role}: it has no labels (give a labels file, ` +
      "or a folder with one subfolder per class)";
  }
}

/** An opened source: its size and classes are known; the pixels are read on demand. */
export interface OpenedSource {
  /** What the source is, for logs and errors (a path, or a built-in set's name). */
  readonly description: string;
  /** Number of images. */
  readonly count: number;
  /** Shape of each image. */
  readonly shape: ImageShape;
  /** Class names in label order, for labelled sources. */
  readonly classNames?: ReadonlyArray<string>;
  /** A name per image in order (a folder's file paths, relative to it), when it has them. */
  readonly itemNames?: ReadonlyArray<string>;
  /** Read the images in order, `batchSize` at a time (the last batch may be smaller). */
  readonly batches: (batchSize: number) => Stream.Stream<SourceBatch, SourceError>;
  /**
   * Read images [range.start, range.end) directly, in batches from `range.start` in steps of
   * `batchSize`. Call it through `readRange` (`range.ts`), which checks the range.
   */
  readonly range?: (
    range: SourceRange,
    batchSize: number,
  ) => Stream.Stream<SourceBatch, SourceError>;
  /** The whole set, when a kind holds it decoded at the requested shape: taken, not copied. */
  readonly inMemory?: { readonly pixels: Uint8Array; readonly labels?: Uint8Array };
}

/** What opening a source needs: where relative paths start, and the shape the model wants. */
export interface OpenContext {
  /** Folder that relative paths of the spec start from. */
  readonly baseDir: string;
  /** Shape of each image. */
  readonly shape: ImageShape;
  /**
   * The class order the reader expects (the model's classes): a labelled image folder without
   * a `classes` list of its own labels its subfolders by these names, refusing any other.
   */
  readonly classes?: ReadonlyArray<string>;
}

/** Read `length` bytes of `path` at `offset` (exactly, or fail naming the file). */
export const readExactly = (
  path: string,
  offset: number,
  length: number,
): Effect.Effect<Uint8Array, CorruptDataset> =>
  Effect.tryPromise({
    try: async () => {
      const { bytes } = await readSlice(path, offset, length);
      if (bytes.length < length) throw new Error(`ends after ${offset + bytes.length} bytes`);
      return bytes;
    },
    catch: (error) => new CorruptDataset({ path, problem: `cannot read: ${error}` }),
  });

/** `run` on the file a spec names: missing is a `DatasetFileMissing`, else a `CorruptDataset`. */
export const specFile = <A>(
  path: string,
  run: () => Promise<A>,
): Effect.Effect<A, DatasetFileMissing | CorruptDataset> =>
  Effect.tryPromise({
    try: run,
    catch: (error) =>
      error instanceof Deno.errors.NotFound
        ? new DatasetFileMissing({ path, hint: "check the path in the spec" })
        : new CorruptDataset({
          path,
          problem: error instanceof NotRegularFile ? error.problem : `cannot read: ${error}`,
        }),
  });

/** A path of a spec, resolved against the spec's folder. */
export const resolvePath = (ctx: OpenContext, path: string): string => resolve(ctx.baseDir, path);

/** A whole source in memory: what `readSource` returns. */
export interface ReadSource
  extends Pick<OpenedSource, "description" | "count" | "shape" | "classNames"> {
  /** `count` images, NHWC uint8. */
  readonly pixels: Uint8Array;
  /** Class index per image, for labelled sources. */
  readonly labels?: Uint8Array;
  /** sha256 of the shape, the decoded pixels and the labels, taken while streaming. */
  readonly checksum: string;
}

/** Default number of images per batch when reading a source. */
export const DEFAULT_BATCH = 512;

/** Stream a source into one preallocated array (or take it as held), hashing its content. */
export const readSource = (
  source: OpenedSource,
  options: { readonly batchSize?: number } = {},
): Effect.Effect<ReadSource, SourceError> =>
  Effect.gen(function* () {
    const per = imageValues(source.shape);
    const labelled = source.classNames !== undefined;
    const held = source.inMemory;
    const pixels = held?.pixels ?? new Uint8Array(source.count * per);
    const fresh = held === undefined ? new Uint8Array(source.count) : held.labels;
    const labels = labelled ? fresh : undefined;
    const hasher = sourceHasher(source.shape, labels !== undefined);
    if (held !== undefined) hasher.update(pixels, labels);
    else {
      yield* Stream.runForEach(source.batches(options.batchSize ?? DEFAULT_BATCH), (batch) =>
        Effect.sync(() => {
          pixels.set(batch.pixels, batch.start * per);
          if (labels !== undefined && batch.labels !== undefined) {
            labels.set(batch.labels, batch.start);
          }
          hasher.update(batch.pixels, batch.labels);
        }));
    }
    return {
      description: source.description,
      count: source.count,
      shape: source.shape,
      pixels,
      ...(labels === undefined ? {} : { labels }),
      ...(source.classNames === undefined ? {} : { classNames: source.classNames }),
      checksum: hasher.digest(),
    };
  });

/**
 * The content checksum of a source (`ReadSource.checksum`): feed every batch in order, then
 * `digest` once; it does not depend on the batching. `labelled`: whether the labels count.
 */
export const sourceHasher = (shape: ImageShape, labelled: boolean): {
  /** Feed one batch: its pixels, and its labels (counted only for a labelled source). */
  readonly update: (pixels: Uint8Array, labels: Uint8Array | undefined) => void;
  /** The checksum of everything fed so far. */
  readonly digest: () => string;
} => {
  const pixelHash = createHash("sha256");
  const labelHash = createHash("sha256");
  return {
    update: (pixels, labels) => {
      pixelHash.update(pixels);
      if (labelled && labels !== undefined) labelHash.update(labels);
    },
    digest: () =>
      createHash("sha256")
        .update(`${shape.height}x${shape.width}x${shape.channels}:${pixelHash.digest("hex")}`)
        .update(labelled ? `:${labelHash.digest("hex")}` : "")
        .digest("hex"),
  };
};

/** Batches of views of arrays in memory, each run of images `convert`ed to the target shape. */
export const memoryBatches = (
  count: number,
  valuesPerImage: number,
  pixels: Uint8Array,
  labels: Uint8Array | undefined,
  batchSize: number,
  convert: (pixels: Uint8Array, size: number) => Effect.Effect<Uint8Array, SourceError>,
): Stream.Stream<SourceBatch, SourceError> => {
  const step = Math.max(1, Math.floor(batchSize));
  const starts = Array.from({ length: Math.ceil(count / step) }, (_, i) => i * step);
  return Stream.fromIterable(starts).pipe(Stream.mapEffect((start) => {
    const size = Math.min(step, count - start);
    const run = pixels.subarray(start * valuesPerImage, (start + size) * valuesPerImage);
    return Effect.map(
      convert(run, size),
      (converted) => sourceBatch(start, size, converted, labels),
    );
  }));
};

/**
 * The class names of `labels`: `classes`, else "0"… up to the largest label; or the problem
 * with the first label that is not a byte or not below the number of `classes`.
 */
export const labelClasses = (
  labels: ArrayLike<number>,
  classes: ReadonlyArray<string> | undefined,
): ReadonlyArray<string> | string => {
  let max = -1;
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (label < 0 || label > 255) return `label ${label} at index ${i} is not in 0…255`;
    if (classes !== undefined && label >= classes.length) {
      return `label ${label} at index ${i} is not below ${classes.length} classes`;
    }
    max = Math.max(max, label);
  }
  return classes ?? numberedClasses(max + 1);
};

/** Class names `"0"…"n-1"` for sources whose labels come without names. */
export const numberedClasses = (count: number): ReadonlyArray<string> =>
  Array.from({ length: count }, (_, i) => String(i));

/** One kind of source: its spec's Schema and how to open it (one file, one line in `mod.ts`). */
export interface SourceKind<S extends Schema.Codec<{ readonly kind: string }, unknown>> {
  /** The kind's name, as in a source spec's `kind`. */
  readonly kind: S["Type"]["kind"];
  /** The Schema of its spec (strict: unknown keys are errors). */
  readonly schema: S;
  /** Open a decoded spec of this kind. */
  readonly open: (spec: S["Type"], ctx: OpenContext) => Effect.Effect<OpenedSource, SourceError>;
}
