/**
 * The data of a fit: sources read at the model's input shape, their labels in the fit's class
 * order (`docs/reliability.md`, "Labels are explicit"), the checks of the data before any fit,
 * and the seeded ID validation split held out when no validation source is given.
 *
 * @module
 */
import { Effect, Stream } from "effect";
import { type InputProblem, InvalidInput } from "../decode.ts";
import type { DetectorSpec } from "../detectors/registry.ts";
import type { ImageSet, LabelledSet } from "../data/images.ts";
import type { FeatureModel } from "../models/model.ts";
import type { SourceArgument } from "../sources/argument.ts";
import { openSource } from "../sources/mod.ts";
import { mixupSamples } from "../stages/mixup.ts";
import {
  type ImageShape,
  numberedClasses,
  type OpenedSource,
  type ReadSource,
  readSource,
  type SourceBatch,
  SourceUnlabelled,
} from "../sources/source.ts";
import { FitDataInvalid } from "./errors.ts";

/** Fewest ID validation images of each class: the threshold is set on their scores. */
export const VALIDATION_MIN_PER_CLASS = 5;

/** Share of the training images held out as ID validation when none is given. */
export const HELD_OUT_SHARE = 0.1;
/** Most images held out as ID validation. */
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

/** Open a command-line source at `shape` (a folder source maps its subfolders to `classes`). */
export const openArgument = (
  argument: SourceArgument,
  shape: ImageShape,
  classes?: ReadonlyArray<string>,
) =>
  openSource(argument.spec, {
    baseDir: argument.baseDir,
    shape,
    ...(classes === undefined ? {} : { classes }),
  });

/** Open and read a command-line source at `shape`. */
export const readArgument = (argument: SourceArgument, shape: ImageShape) =>
  Effect.flatMap(openArgument(argument, shape), (opened) => readSource(opened));

/** A read source as an image set named `name`. */
export const asSet = (
  read: Pick<ReadSource, "count" | "pixels" | "labels">,
  name: string,
  shape: ImageShape,
): ImageSet => ({
  name,
  count: read.count,
  pixels: read.pixels,
  shape,
  ...(read.labels === undefined ? {} : { labels: read.labels }),
});

/** The largest label + 1 (0 for none); `Math.max(...labels)` overflows the stack on 130k. */
const classesReached = (labels: Uint8Array): number =>
  labels.reduce((top, label) => Math.max(top, label + 1), 0);

/** A read source (or image set) as a labelled set; one without labels fails for its `role`. */
export const labelled = (
  read: Pick<ReadSource, "count" | "pixels" | "labels" | "classNames">,
  name: string,
  shape: ImageShape,
  role: string,
): Effect.Effect<LabelledSet, SourceUnlabelled> =>
  read.labels === undefined
    ? Effect.fail(new SourceUnlabelled({ source: name, role }))
    : Effect.succeed({
      ...asSet(read, name, shape),
      labels: read.labels,
      classNames: read.classNames ?? numberedClasses(classesReached(read.labels)),
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

/** Whether a source's labels are output indices with no names (`.npy`, IDX without `classes`). */
const indexLabels = (argument: SourceArgument) =>
  (argument.spec.kind === "npy" || argument.spec.kind === "idx") &&
  argument.spec.classes === undefined;

/** The class order of a fit (index = the model's output): see `docs/reliability.md`. */
export const fitClassOrder = (
  model: { readonly name: string; readonly classes: ReadonlyArray<string> | undefined },
  outputs: number,
  train: SourceArgument,
  opened: OpenedSource,
): Effect.Effect<ReadonlyArray<string>, FitDataInvalid | SourceUnlabelled> =>
  Effect.gen(function* () {
    if (model.classes !== undefined) {
      if (model.classes.length !== outputs) {
        return yield* new FitDataInvalid({
          source: model.name,
          problem: `its spec lists ${model.classes.length} classes but the model has ${outputs} ` +
            "outputs",
        });
      }
      return model.classes;
    }
    const names = opened.classNames;
    if (names === undefined) {
      return yield* new SourceUnlabelled({ source: train.argument, role: "training data" });
    }
    if (indexLabels(train) && names.length <= outputs) return numberedClasses(outputs);
    const spec = train.spec;
    if (
      spec.kind === "folder" && spec.classes === undefined &&
      !names.every((name) => /^\d+$/.test(name))
    ) {
      return yield* new FitDataInvalid({
        source: train.argument,
        problem: `the order of its class folders (${names.join(", ")}) is not given, and the ` +
          "model's outputs are in some order: list the classes in the model's spec (`classes`) " +
          `or give a source spec {"kind": "folder", "path": …, "labelled": true, "classes": […]}`,
      });
    }
    if (names.length !== outputs) {
      return yield* new FitDataInvalid({
        source: train.argument,
        problem: `it has ${names.length} classes (${names.join(", ")}) but the model has ` +
          `${outputs} outputs; list the model's classes in its spec (\`classes\`) to fit on ` +
          "some of them",
      });
    }
    return names;
  });

/** Refuse index labels that stop short of the outputs: likelier a wrong logits tap, named first. */
export const checkOutputsReached = (
  train: SourceArgument,
  opened: OpenedSource,
  outputs: number,
  validation?: { readonly argument: string; readonly labels: Uint8Array },
): Effect.Effect<void, FitDataInvalid> => {
  const names = opened.classNames;
  if (!indexLabels(train) || names === undefined || names.length > outputs) return Effect.void;
  const validated = validation === undefined ? 0 : classesReached(validation.labels);
  const reached = Math.max(names.length, validated);
  if (reached >= outputs) return Effect.void;
  const range = (from: number, to: number) => from === to ? `${from}` : `${from}–${to}`;
  return Effect.fail(
    new FitDataInvalid({
      source: train.argument,
      problem: `it has ${names.length} classes (${range(0, names.length - 1)})` +
        (validation === undefined
          ? ""
          : `, the ID validation data "${validation.argument}" labels up to class ` +
            `${validated - 1},`) +
        ` but the model has ${outputs} outputs: no image of ` +
        `class${reached < outputs - 1 ? "es" : ""} ${range(reached, outputs - 1)} ` +
        "to fit and validate on; check the model's logits tap (--taps logits=…), or give " +
        "labelled images of every output",
    }),
  );
};

/** `opened` with its labels renumbered by name into `classes` (index labels keep their numbers). */
export const inClassOrder = (
  source: SourceArgument,
  opened: OpenedSource,
  classes: ReadonlyArray<string> | undefined,
): Effect.Effect<OpenedSource, FitDataInvalid> => {
  const argument = source.argument;
  const names = opened.classNames;
  if (classes === undefined || names === undefined) return Effect.succeed(opened);
  if (indexLabels(source)) {
    return names.length <= classes.length
      ? Effect.succeed({ ...opened, classNames: classes })
      : Effect.fail(
        new FitDataInvalid({
          source: argument,
          problem: `its labels go up to ${names.length - 1}, but the fit has ${classes.length} ` +
            `classes (${classes.join(", ")})`,
        }),
      );
  }
  const index = new Map(classes.map((name, i) => [name, i]));
  const unknown = names.filter((name) => !index.has(name));
  if (unknown.length > 0) {
    return Effect.fail(
      new FitDataInvalid({
        source: argument,
        problem: `its class${unknown.length > 1 ? "es" : ""} ` +
          `${unknown.map((n) => JSON.stringify(n)).join(", ")} ` +
          `${unknown.length > 1 ? "are" : "is"} not among the fit's classes (${
            classes.join(", ")
          })`,
      }),
    );
  }
  const map = Uint8Array.from(names, (name) => index.get(name)!);
  if (map.every((to, from) => to === from)) {
    return Effect.succeed({ ...opened, classNames: classes });
  }
  // Without `inMemory`, whose labels are the source's numbers.
  const { inMemory: _, range, ...streamed } = opened;
  const relabel = Stream.map((batch: SourceBatch): SourceBatch =>
    batch.labels === undefined
      ? batch
      : { ...batch, labels: Uint8Array.from(batch.labels, (l) => map[l]!) }
  );
  return Effect.succeed({
    ...streamed,
    classNames: classes,
    batches: (size) => relabel(opened.batches(size)),
    // A ranged read is relabelled the same way (never handed on with the source's numbers).
    ...(range === undefined ? {} : { range: (r, size) => relabel(range(r, size)) }),
  });
};

/** Refuse ID validation data with fewer than {@link VALIDATION_MIN_PER_CLASS} of a class. */
export const checkValidationCoverage = (
  source: string,
  labels: Uint8Array,
  classes: ReadonlyArray<string>,
  hint = "",
): Effect.Effect<void, FitDataInvalid> => {
  const counts = new Array<number>(classes.length).fill(0);
  for (const label of labels) counts[label] = (counts[label] ?? 0) + 1;
  const short = classes.flatMap((name, c) =>
    counts[c]! < VALIDATION_MIN_PER_CLASS ? [`${JSON.stringify(name)} (${counts[c]})`] : []
  );
  return short.length === 0 ? Effect.void : Effect.fail(
    new FitDataInvalid({
      source,
      problem: `ID validation data needs at least ${VALIDATION_MIN_PER_CLASS} images of every ` +
        `class, and has too few of class ${short.join(", ")}${hint}`,
    }),
  );
};

/** Refuse a `k` or `samples` beyond the `count` training images; record the `samples` that run. */
export const honoured = (
  spec: DetectorSpec,
  count: number,
): Effect.Effect<DetectorSpec, InvalidInput> => {
  const options = spec as unknown as {
    readonly k?: number;
    readonly oodPrototype?: { readonly kind: string; readonly samples?: number | "all" };
  };
  const problems: Array<InputProblem> = [];
  if (typeof options.k === "number" && options.k > count) {
    problems.push({
      path: "k",
      problem: `k ${options.k} is more than the ${count} training images the fit uses`,
    });
  }
  const source = options.oodPrototype;
  let adjusted = spec;
  if (source?.kind === "mixup") {
    if (typeof source.samples === "number" && source.samples > count) {
      problems.push({
        path: "oodPrototype.samples",
        problem: `samples ${source.samples} is more than the ${count} training images the fit ` +
          `uses (ask for at most ${count}, or "all")`,
      });
    }
    adjusted = {
      ...spec,
      oodPrototype: { ...source, samples: mixupSamples(source.samples, count) },
    } as DetectorSpec;
  }
  return problems.length > 0
    ? Effect.fail(new InvalidInput({ source: "the detector spec", problems }))
    : Effect.succeed(adjusted);
};

/** GROOD's early boundary in a fit: the model's early tap (the one the feature pass sums at). */
export const fitEarlyBoundary = (
  spec: DetectorSpec,
  earlyTap: string,
): Effect.Effect<string, InvalidInput> => {
  const asked = (spec as { readonly earlyBoundary?: string }).earlyBoundary;
  return asked === undefined || asked === earlyTap ? Effect.succeed(earlyTap) : Effect.fail(
    new InvalidInput({
      source: "the detector spec",
      problems: [{
        path: "earlyBoundary",
        problem: `fit takes GROOD's early prototypes at the model's early tap "${earlyTap}", ` +
          `not "${asked}" (make it the early tap: --taps early=${asked})`,
      }],
    }),
  );
};
