/**
 * Stage 1, prototype: the mean feature per class over the ID training split (ground-truth
 * labels, every sample), at an early block boundary and at the penultimate layer, as GROOD does.
 *
 * @module
 */
import { Data, Effect } from "effect";
import { type Matrix, matrix } from "../matrix.ts";
import { chunkedSums } from "./class_sums.ts";
import type { ClassSums, Extraction } from "./features.ts";

/** Class prototypes at the early boundary and at the penultimate layer. */
export interface Prototypes {
  /** The early block boundary the `early` prototypes were taken at. */
  readonly earlyBoundary: string;
  /** Shape of one image's feature map at `earlyBoundary` (F = its product). */
  readonly earlyShape: ReadonlyArray<number>;
  /** C × F mean early features (flattened). */
  readonly early: Matrix;
  /** C × D mean penultimate features. */
  readonly penultimate: Matrix;
  /** Training samples per class. */
  readonly counts: ReadonlyArray<number>;
}

/** A class has no training sample, so it has no prototype. */
export class EmptyClass extends Data.TaggedError("EmptyClass")<{
  readonly set: string;
  readonly classIndex: number;
}> {
  /** Names the class and the set. */
  override get message(): string {
    return `Cannot compute the prototype of class ${this.classIndex}: "${this.set}" has no sample of it`;
  }
}

/** The extraction lacks what the prototype stage needs (labels, class sums at the boundary). */
export class MissingFeatures extends Data.TaggedError("MissingFeatures")<{
  readonly set: string;
  readonly what: string;
}> {
  /** Names the set and what is missing. */
  override get message(): string {
    return `Cannot compute prototypes from "${this.set}": ${this.what}`;
  }
}

/**
 * Class prototypes from a training-set extraction with class sums at `earlyBoundary`
 * (`extractFeatures`' `classSumsAt`): the bits of GROOD's fit over the same features and chunk.
 *
 * @example Two classes, two samples each
 * ```ts
 * import { Effect } from "effect";
 * import { computePrototypes } from "./prototype.ts";
 * import { matrix } from "../matrix.ts";
 * const extraction = {
 *   features: {
 *     name: "toy", count: 4, labels: new Uint8Array([0, 0, 1, 1]),
 *     penultimate: matrix(4, 1, [1, 3, 10, 20]), logits: matrix(4, 2),
 *   },
 *   classSums: [{
 *     boundary: "b", featureShape: [1], sums: new Float64Array([2, 8]),
 *     counts: new Float64Array([2, 2]), chunk: 1000,
 *   }],
 * };
 * const p = Effect.runSync(computePrototypes(extraction, "b"));
 * if (p.penultimate.data[1] !== 15 || p.early.data[0] !== 1) throw new Error("wrong means");
 * ```
 */
export const computePrototypes: (
  extraction: Extraction,
  earlyBoundary: string,
) => Effect.Effect<Prototypes, EmptyClass | MissingFeatures> = Effect.fn("computePrototypes")(
  function* (extraction, earlyBoundary) {
    const { features } = extraction;
    const labels = features.labels;
    if (labels === undefined) {
      return yield* new MissingFeatures({ set: features.name, what: "it has no labels" });
    }
    const early = extraction.classSums.find((s) => s.boundary === earlyBoundary);
    if (early === undefined) {
      return yield* new MissingFeatures({
        set: features.name,
        what: `no class sums were accumulated at boundary "${earlyBoundary}"`,
      });
    }
    if (!(Number.isInteger(early.chunk) && early.chunk >= 1)) {
      return yield* new MissingFeatures({
        set: features.name,
        what: `its class sums at "${earlyBoundary}" name a chunk of ${early.chunk} images, ` +
          "not a whole number ≥ 1",
      });
    }
    const penultimate = chunkedSums(features.logits.cols, features.penultimate.cols, early.chunk);
    penultimate.add(labels, features.penultimate.data);
    return yield* prototypesFromSums(features.name, early, penultimate.finish());
  },
);

/**
 * The class prototypes (means, rounded once to float32) from per-class float64 sums at the early
 * boundary and the penultimate tap: the one place every GROOD fit divides. Fails with
 * `EmptyClass` naming `set` when a class has no image.
 */
export const prototypesFromSums = (
  set: string,
  early: Pick<ClassSums, "boundary" | "featureShape" | "sums" | "counts">,
  penultimate: { readonly sums: Float64Array; readonly counts: ArrayLike<number> },
): Effect.Effect<Prototypes, EmptyClass> =>
  Effect.suspend(() => {
    const counts = Array.from(penultimate.counts);
    const empty = counts.findIndex((n) => n === 0);
    if (empty >= 0) return Effect.fail(new EmptyClass({ set, classIndex: empty }));
    const means = ({ sums, counts }: { sums: Float64Array; counts: ArrayLike<number> }) => {
      const width = sums.length / counts.length;
      const data = Float32Array.from(sums, (s, i) => s / counts[Math.floor(i / width)]!);
      return matrix(counts.length, width, data);
    };
    return Effect.succeed({
      earlyBoundary: early.boundary,
      earlyShape: early.featureShape,
      early: means(early),
      penultimate: means(penultimate),
      counts,
    });
  });
