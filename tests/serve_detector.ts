/**
 * The detector the service tests serve: GROOD fitted in this process on 2,000 MNIST training
 * images with the committed MNIST classifier (real model, real index, real threshold), and
 * helpers to encode test images and read answers.
 */
import { Effect, Exit, Scope } from "effect";
import sharp from "sharp";
import { IMAGE_SIZE, loadSplit } from "../lib/data/mod.ts";
import { fixtureDir } from "../lib/benchmarks/mod.ts";
import { fitServedGrood } from "../apps/serve/assemble.ts";
import { tf, withCompute } from "./with_compute.ts";

export { tf };
/** Closed by `closeDetector()` (the classifier and the index are freed with it). */
const scope = await Effect.runPromise(Scope.make());
export const detector = await Effect.runPromise(
  fitServedGrood({
    classifierDir: fixtureDir("mnist"),
    dataset: "mnist",
    trainImages: 2000,
    idValidationImages: 500,
  }).pipe(Scope.provide(scope), withCompute),
);
export const closeDetector = () => Effect.runPromise(Scope.close(scope, Exit.void));

/** MNIST test images (never trained on). */
export const mnistTest = await Effect.runPromise(loadSplit("mnist", "test"));

/** Image `i` of the MNIST test split, raw. */
export const rawImage = (i: number): Uint8Array =>
  mnistTest.pixels.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE);

/** Image `i` of the MNIST test split as a PNG (lossless: decodes to the same pixels). */
export const pngImage = async (i: number): Promise<Uint8Array> =>
  new Uint8Array(
    await sharp(rawImage(i), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer(),
  );

/** Offline scores of images `indices`, in one batch. */
export const offlineScores = async (indices: ReadonlyArray<number>) => {
  const pixels = new Uint8Array(indices.length * IMAGE_SIZE);
  indices.forEach((i, k) => pixels.set(rawImage(i), k * IMAGE_SIZE));
  return await Effect.runPromise(detector.scoreImages(pixels, indices.length));
};
