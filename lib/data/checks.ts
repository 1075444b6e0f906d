/**
 * Image sets checked where they enter a model, before any forward pass: the pixels' type, size
 * and range against the model's input, and the labels against its classes.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { checkImageSet } from "./checks.ts";
 * const set = { name: "rgb", count: 2, pixels: new Uint8Array(2 * 32 * 32 * 3) };
 * const exit = Effect.runSyncExit(checkImageSet(set, { inputShape: [28, 28, 1] }));
 * if (exit._tag !== "Failure") throw new Error("32×32×3 images accepted for a 28×28×1 model");
 * ```
 *
 * @module
 */
import { Data, Effect } from "effect";
import type { ImageSet } from "./images.ts";

/** An image set does not fit the model it is given to. */
export class InvalidImageSet extends Data.TaggedError("InvalidImageSet")<{
  readonly set: string;
  readonly problem: string;
}> {
  /** Names the set and the problem. */
  override get message(): string {
    return `Cannot use image set "${this.set}": ${this.problem}`;
  }
}

/** What the model takes: its input shape (height, width, channels) and number of classes. */
export interface ModelInput {
  /** The model's input shape: height, width, channels. */
  readonly inputShape: readonly [number, number, number];
  /** When given, labels (if the set has any) must be below it. */
  readonly numClasses?: number;
}

/**
 * Fail with `InvalidImageSet` unless `set` holds `count` uint8 images of the model's input shape,
 * and its labels (if any) are one per image and name a class of the model.
 */
export const checkImageSet = (
  set: ImageSet,
  model: ModelInput,
): Effect.Effect<void, InvalidImageSet> => {
  const problem = imageSetProblem(set, model);
  return problem === undefined
    ? Effect.void
    : Effect.fail(new InvalidImageSet({ set: String(set.name), problem }));
};

function imageSetProblem(set: ImageSet, model: ModelInput): string | undefined {
  const [height, width, channels] = model.inputShape;
  const size = height * width * channels;
  const count = set.count;
  if (!(Number.isInteger(count) && count >= 0)) {
    return `count is ${count}, expected a whole number ≥ 0`;
  }
  const pixels: unknown = set.pixels;
  if (!(pixels instanceof Uint8Array)) {
    const kind = (pixels as { constructor?: { name?: string } } | null)?.constructor?.name ??
      typeof pixels;
    return `pixels are a ${kind}, expected a Uint8Array of values 0..255` +
      (kind.startsWith("Float") ? " (scale floats in 0..1 by 255 and round)" : "");
  }
  if (pixels.length !== count * size) {
    const per = count > 0 ? pixels.length / count : pixels.length;
    return `${pixels.length} pixel values for ${count} images (${
      Number.isInteger(per) ? per : per.toFixed(1)
    } per image), but the model takes ${height}×${width}×${channels} = ${size} per image`;
  }
  let max = 0;
  for (let i = 0; i < pixels.length; i++) if (pixels[i]! > max) max = pixels[i]!;
  if (max === 1) {
    return "every pixel is 0 or 1: images scaled to 0..1 would be read as near black; " +
      "expected 0..255";
  }
  const labels = set.labels;
  if (labels === undefined) return undefined;
  if (labels.length !== count) return `${labels.length} labels for ${count} images`;
  const numClasses = model.numClasses ?? Infinity;
  const bad = labels.findIndex((label) => label >= numClasses);
  return bad < 0
    ? undefined
    : `label ${labels[bad]} of image ${bad} is not a class of the model (0..${numClasses - 1})`;
}
