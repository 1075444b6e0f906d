/**
 * The data of a fit: command-line sources read at the model's input shape, as image sets, and
 * the seeded ID validation split held out of the training images when no validation source
 * is given (at most {@link HELD_OUT_MAX}).
 *
 * @module
 */
import { Effect } from "effect";
import type { ImageSet, LabelledSet } from "../data/images.ts";
import type { FeatureModel } from "../models/model.ts";
import type { SourceArgument } from "../sources/argument.ts";
import { openSource } from "../sources/mod.ts";
import {
  type ImageShape,
  numberedClasses,
  type ReadSource,
  readSource,
  SourceUnlabelled,
} from "../sources/source.ts";
import { FitDataInvalid } from "./errors.ts";

/** Share of the training images held out as ID validation when none is given. */
export const HELD_OUT_SHARE = 0.1;
/** Most images held out. */
export const HELD_OUT_MAX = 10_000;

/** The model's input as an image shape (image sources give 1 or 3 channels). */
export const toShape = (model: FeatureModel): Effect.Effect<ImageShape, FitDataInvalid> => {
  const { height, width, channels } = model.input;
  return channels === 1 || channels === 3
    ? Effect.succeed({ height, width, channels })
    : Effect.fail(
      new FitDataInvalid({
        source: model.name,
        problem: `the model takes ${channels} channels; image sources give 1 or 3`,
      }),
    );
};

/** Open and read a command-line source at `shape`. */
export const readArgument = (argument: SourceArgument, shape: ImageShape) =>
  Effect.flatMap(
    openSource(argument.spec, { baseDir: argument.baseDir, shape }),
    (opened) => readSource(opened),
  );

/** A read source as an image set named `name`. */
export const asSet = (read: ReadSource, name: string, shape: ImageShape): ImageSet => ({
  name,
  count: read.count,
  pixels: read.pixels,
  shape,
  ...(read.labels === undefined ? {} : { labels: read.labels }),
});

/** A read source as a labelled set; a source without labels fails for its `role`. */
export const labelled = (
  read: ReadSource,
  name: string,
  shape: ImageShape,
  role: string,
): Effect.Effect<LabelledSet, SourceUnlabelled> =>
  read.labels === undefined
    ? Effect.fail(new SourceUnlabelled({ source: name, role }))
    : Effect.succeed({
      ...asSet(read, name, shape),
      labels: read.labels,
      classNames: read.classNames ?? numberedClasses(Math.max(...read.labels) + 1),
    });

/** Split a labelled set into the images in `held` and the others (both in order). */
export const splitHeldOut = (set: LabelledSet, held: ReadonlySet<number>) => {
  const per = set.pixels.length / set.count;
  const take = (keep: boolean, name: string): LabelledSet => {
    const rows = Array.from({ length: set.count }, (_, i) => i).filter((i) => held.has(i) === keep);
    const pixels = new Uint8Array(rows.length * per);
    rows.forEach((r, i) => pixels.set(set.pixels.subarray(r * per, (r + 1) * per), i * per));
    return {
      ...set,
      name,
      count: rows.length,
      pixels,
      labels: Uint8Array.from(rows, (r) => set.labels[r]!),
    };
  };
  return { rest: take(false, set.name), heldOut: take(true, `${set.name} (held out)`) };
};
