/**
 * Open a fitted-detector folder: every file is checked (`verify.ts`) before the model is
 * opened and the scorer rebuilt, once; the model's engine and the index are freed when the
 * caller's scope closes. It scores images decoded to the model's input size (`decodeImage`),
 * stacked into one batch by `imageBatch`.
 *
 * Example: `docs/models.md` (score one PNG with a fitted folder).
 *
 * @module
 */
import { join } from "node:path";
import { Effect, Fiber, type Scope } from "effect";
import { type BackendUnavailable, Compute, startCompute } from "../compute/compute.ts";
import { decodeNpy } from "../io/npy.ts";
import { type Matrix, matrix, takeRows } from "../matrix.ts";
import type { ModelError } from "../models/errors.ts";
import { nonFiniteRows } from "../models/finite.ts";
import { type FeatureModel, type InputSpec, preprocess, sizeOf } from "../models/model.ts";
import { openModel } from "../models/registry.ts";
import { predictedClasses } from "../stages/features.ts";
import { type ImageShape, imageValues } from "../sources/source.ts";
import { type FittedFolderDamaged, ImageBatchMismatch } from "./errors.ts";
import { FITTED_MANIFEST_FILE, type FittedManifest } from "./manifest.ts";
import { contentKey } from "../models/files.ts";
import { checkListed, checkShapes, damaged, readChecked, readManifest } from "./verify.ts";
import { type FeatureScorer, persistenceOf, type StateArray } from "./persist.ts";

/** `count` images of `shape`, NHWC uint8 (0–255), one after another in `pixels`. */
export interface ImageBatch {
  /** Number of images. */
  readonly count: number;
  /** Height, width and channels of every image. */
  readonly shape: ImageShape;
  /** `count × height × width × channels` values, image after image. */
  readonly pixels: Uint8Array;
}

/** What `scoreImages` takes: uint8 NHWC images of this shape (see `decodeImage`). */
export interface ScoreInputSpec {
  /** Image height in pixels. */
  readonly height: number;
  /** Image width in pixels. */
  readonly width: number;
  /** 1 (greyscale) or 3 (RGB). */
  readonly channels: 1 | 3;
  /** The three above as one `ImageShape` (what `decodeImage` takes). */
  readonly shape: ImageShape;
  /** Pixel type. */
  readonly dtype: "uint8";
  /** Axis order of a batch: images, rows, columns, channels. */
  readonly layout: "NHWC";
  /** Pixel value range. */
  readonly range: readonly [0, 255];
}

/** Describe a shape for errors: `28×28×1 uint8`. */
export const describeShape = (shape: ImageShape): string =>
  `${shape.height}×${shape.width}×${shape.channels} uint8`;

/**
 * Stack decoded images (each of `shape`) into one batch; an image of another size fails with
 * `ImageBatchMismatch` naming its position and `name` (the detector or request).
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { imageBatch } from "./open.ts";
 * const shape = { height: 2, width: 2, channels: 1 } as const;
 * const batch = Effect.runSync(imageBatch([new Uint8Array(4), new Uint8Array(4)], shape));
 * if (batch.count !== 2 || batch.pixels.length !== 8) throw new Error("not stacked");
 * const bad = Effect.runSync(Effect.flip(imageBatch([new Uint8Array(3)], shape)));
 * if (bad._tag !== "ImageBatchMismatch") throw new Error("accepted 3 values");
 * ```
 */
export const imageBatch = (
  images: ReadonlyArray<Uint8Array>,
  shape: ImageShape,
  name = "images",
): Effect.Effect<ImageBatch, ImageBatchMismatch> => {
  const per = shape.height * shape.width * shape.channels;
  const bad = images.findIndex((image) => image.length !== per);
  if (bad >= 0) {
    return Effect.fail(
      new ImageBatchMismatch({
        detector: name,
        expected: `images of ${describeShape(shape)} (${per} values each)`,
        actual: `${images[bad]!.length} values for image ${bad}`,
      }),
    );
  }
  const pixels = new Uint8Array(images.length * per);
  images.forEach((image, i) => pixels.set(image, i * per));
  return Effect.succeed({ count: images.length, shape, pixels });
};

/** `in` (score ≤ threshold), `ood`, or `invalid` (a non-finite output or score: never `in`). */
export type Verdict = "in" | "ood" | "invalid";

/** An image that could not be scored, and why. */
export interface InvalidImage {
  /** Its index in the batch (or source). */
  readonly index: number;
  /** Why it could not be scored. */
  readonly problem: string;
}

/** What `scoreImages` returns: one entry per image, in batch order. */
export interface ScoredImages {
  /** Detector score (higher = more OOD); NaN for an `invalid` image (check `verdicts`). */
  readonly scores: Float64Array;
  /** The model's predicted class (names in `manifest.model.classNames`); −1 when `invalid`. */
  readonly predicted: Int32Array;
  /** `score > manifest.threshold`; `true` for an `invalid` image (never in-distribution). */
  readonly isOod: ReadonlyArray<boolean>;
  /** Each image's verdict: `in`, `ood` or `invalid`. */
  readonly verdicts: ReadonlyArray<Verdict>;
  /** The `invalid` images with the reason (empty when every image was scored). */
  readonly invalid: ReadonlyArray<InvalidImage>;
}

/** Why scoring a batch failed: a batch of the wrong shape, the model, or the scorer. */
export type ScoreImagesError =
  | ImageBatchMismatch
  | ModelError
  | { readonly _tag: string; readonly message: string };

/** A fitted detector, loaded and ready to score. */
export interface LoadedDetector {
  /** The folder it was loaded from. */
  readonly folder: string;
  /** The decoded, checked `detector.json`. */
  readonly manifest: FittedManifest;
  /** The folder's version: the digest of its `detector.json`, which covers every file. */
  readonly version: string;
  /** What `scoreImages` takes (decode images to `inputSpec.shape`). */
  readonly inputSpec: ScoreInputSpec;
  /** The model's own preprocessing (applied inside `scoreImages`). */
  readonly modelInput: InputSpec;
  /** Score a batch of images already decoded to `inputSpec.shape`. */
  readonly scoreImages: (images: ImageBatch) => Effect.Effect<ScoredImages, ScoreImagesError>;
}

/** Any error of `openFittedDetector`. */
export type OpenFittedError = FittedFolderDamaged | ModelError | BackendUnavailable;

const SCORE_BATCH = 256;

/** The scorer over a batch of images: preprocess, forward to the taps, score, threshold. */
const scoreWith = (
  name: string,
  model: FeatureModel,
  scorer: FeatureScorer,
  shape: ImageShape,
  threshold: number,
) =>
(images: ImageBatch): Effect.Effect<ScoredImages, ScoreImagesError> =>
  Effect.gen(function* () {
    const per = imageValues(shape);
    if (
      images.shape.height !== shape.height || images.shape.width !== shape.width ||
      images.shape.channels !== shape.channels || images.pixels.length !== images.count * per
    ) {
      return yield* new ImageBatchMismatch({
        detector: name,
        expected: `images of ${describeShape(shape)} (${per} values each)`,
        actual: `${images.count} images of ${describeShape(images.shape)} in ` +
          `${images.pixels.length} values`,
      });
    }
    const scores = new Float64Array(images.count).fill(NaN);
    const predicted = new Int32Array(images.count).fill(-1);
    const invalid: Array<InvalidImage> = [];
    const forwardAt = (start: number) => {
      const size = Math.min(SCORE_BATCH, images.count - start);
      return Effect.flatMap(
        preprocess(
          model.name,
          model.input,
          images.pixels.subarray(start * per, (start + size) * per),
          size,
          shape.channels,
        ),
        (x) => model.forward(x, "input", ["penultimate", "logits"]),
      );
    };
    // The next batch's forward runs (on the model's onnxruntime worker) while this one is scored.
    let next = yield* Effect.forkChild(forwardAt(0));
    for (let start = 0; start < images.count; start += SCORE_BATCH) {
      const size = Math.min(SCORE_BATCH, images.count - start);
      const [h, z] = yield* Fiber.join(next);
      if (start + SCORE_BATCH < images.count) {
        next = yield* Effect.forkChild(forwardAt(start + SCORE_BATCH));
        yield* Effect.yieldNow;
      }
      // An image with a NaN or infinite output is invalid and left out, so it cannot touch the
      // others' scores; the penultimate features' problem, set last, is the one named.
      const problems = new Map<number, string>();
      for (const [what, t] of [["logits", z!], ["penultimate features", h!]] as const) {
        for (const row of nonFiniteRows(t.data, size)) {
          problems.set(row, `the model gave a NaN or infinite value in its ${what}`);
        }
      }
      const rows = Array.from({ length: size }, (_, i) => i).filter((i) => !problems.has(i));
      if (rows.length > 0) {
        const valid = (m: Matrix) => rows.length === size ? m : takeRows(m, rows);
        const logits = valid(matrix(size, sizeOf(model.shapes.logits), z!.data));
        const penultimate = valid(matrix(size, sizeOf(model.shapes.penultimate), h!.data));
        const batchScores = yield* scorer({ penultimate, logits });
        const batchPredicted = predictedClasses(logits);
        rows.forEach((row, j) => {
          if (Number.isFinite(batchScores[j]!)) {
            scores[start + row] = batchScores[j]!;
            predicted[start + row] = batchPredicted[j]!;
          } else problems.set(row, "its score is not a finite number");
        });
      }
      for (const [row, problem] of [...problems].sort((a, b) => a[0] - b[0])) {
        invalid.push({ index: start + row, problem });
      }
    }
    // Only an invalid image keeps its NaN score.
    const verdicts = Array.from(
      scores,
      (s): Verdict => Number.isNaN(s) ? "invalid" : s > threshold ? "ood" : "in",
    );
    return { scores, predicted, isOod: verdicts.map((v) => v !== "in"), verdicts, invalid };
  });

/** Load the fitted detector in `folder`, every file checked first; freed with the scope. */
export const openFittedDetector = (
  folder: string,
): Effect.Effect<LoadedDetector, OpenFittedError, Scope.Scope> =>
  Effect.gen(function* () {
    const manifest = yield* readManifest(folder);
    yield* checkListed(folder, manifest);
    const inManifest = (problem: string) => damaged(folder, FITTED_MANIFEST_FILE, problem);
    const persistence = persistenceOf(manifest.detector.kind);
    if (persistence === undefined) {
      return yield* inManifest(
        `detector kind "${manifest.detector.kind}" cannot be loaded by this version of grood`,
      );
    }
    for (const file of manifest.model.files) yield* readChecked(folder, file);
    if (contentKey(manifest.model.files) !== manifest.model.sha256) {
      return yield* inManifest("model.sha256 does not match model.files");
    }
    const arrays = new Map<string, StateArray>();
    for (const { name, description, shape, file } of manifest.state) {
      const npy = yield* Effect.mapError(
        decodeNpy(yield* readChecked(folder, file), join(folder, file.path)),
        (error) => damaged(folder, file.path, error.message),
      );
      if (!(npy.data instanceof Float32Array) || npy.shape.join() !== shape.join()) {
        return yield* damaged(
          folder,
          file.path,
          `expected float32 [${shape.join(", ")}], found ${npy.dtype} [${npy.shape.join(", ")}]`,
        );
      }
      arrays.set(name, { name, description, data: npy.data, shape: npy.shape });
    }
    const { kind, input, taps, sha256, classNames } = manifest.model;
    const { data } = manifest;
    // tfjs (tap-to-tap forwards, gradients, tfjs models) starts once per process.
    const { model, scorer } = yield* Effect.provideServiceEffect(
      Effect.gen(function* () {
        const model = yield* openModel(join(folder, manifest.model.path), {
          spec: { kind, input, taps },
        });
        yield* checkShapes(folder, manifest, model);
        const scorer = yield* Effect.mapError(
          persistence.load({
            spec: manifest.detector.spec,
            settings: manifest.detector.settings,
            arrays,
            model,
            modelKey: sha256,
            classNames,
            names: {
              train: data.train.source,
              validation: data.validation.source,
              ood: data.validationOod.map((set) => set.source),
            },
          }),
          // The spec and the settings are detector.json's; a state array is named by its file.
          ({ array, problem }) =>
            /^(spec|settings)(\.|$)/.test(array)
              ? inManifest(array.includes(".") ? `${array}: ${problem}` : problem)
              : damaged(
                folder,
                manifest.state.find((s) => s.name === array)?.file.path ?? `state/${array}`,
                problem,
              ),
        );
        return { model, scorer };
      }),
      Compute,
      startCompute(),
    );
    const channels = input.channels;
    if (channels !== 1 && channels !== 3) {
      return yield* inManifest(`the model takes ${channels} channels`);
    }
    const shape = { height: input.height, width: input.width, channels } as const;
    return {
      folder,
      manifest,
      version: manifest.digest,
      inputSpec: { ...shape, shape, dtype: "uint8", layout: "NHWC", range: [0, 255] },
      modelInput: input,
      scoreImages: scoreWith(folder, model, scorer, shape, manifest.threshold),
    };
  });
