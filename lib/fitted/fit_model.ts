/**
 * The model a fit runs: opened with the user's taps, and its forward passes memoised by set in
 * the fit's `FeatureMemo` (shared by the fits of one multi-detector `deno task fit`).
 *
 * @module
 */
import { Effect } from "effect";
import { canonicalJson } from "../cache/cache.ts";
import type { ImageSet } from "../data/images.ts";
import type { ExtractedSet } from "../detectors/detector.ts";
import type { FeatureModel, Taps } from "../models/model.ts";
import { openModel, resolveModel } from "../models/registry.ts";
import { FIT_CHUNK } from "../stages/class_sums.ts";
import { type ExtractError, extractFeatures, type Extraction } from "../stages/features.ts";
import type { FitOptions } from "./fit_options.ts";

/** The model opened with the taps the user gave (the spec's otherwise). */
export const openWithTaps = (path: string, taps: Partial<Taps> | undefined) =>
  Effect.gen(function* () {
    const model = yield* openModel(path);
    const { entry, spec: declared } = yield* resolveModel(path);
    const classes = declared?.classes;
    if (taps === undefined || Object.keys(taps).length === 0) {
      return { model, kind: entry.kind, classes };
    }
    const spec = { kind: entry.kind, input: model.input, taps: { ...model.taps, ...taps } };
    return { model: yield* openModel(path, { spec }), kind: entry.kind, classes };
  });

/**
 * `extract(set, sums)`: the features of `set` (with class sums when `sums`), from
 * `options.features` when an earlier fit extracted them alike, else extracted and kept there;
 * `extracted(set)`: the set with its features.
 */
export const memoisedExtraction = (
  model: FeatureModel,
  options: FitOptions,
  batch: { readonly batchSize?: number },
): {
  readonly extract: (set: ImageSet, sums: boolean) => Effect.Effect<Extraction, ExtractError>;
  readonly extracted: (set: ImageSet) => Effect.Effect<ExtractedSet, ExtractError>;
} => {
  const sumChunk = options.fitChunk ?? FIT_CHUNK;
  const extract = (set: ImageSet, sums: boolean) => {
    const key = canonicalJson({
      model: options.model,
      taps: model.taps,
      batch,
      set: set.name,
      count: set.count,
      sums,
      sumChunk,
    });
    const known = options.features?.get(key);
    return known !== undefined ? Effect.succeed(known) : Effect.tap(
      extractFeatures(model, set, { ...batch, earlyClassSums: sums, sumChunk }),
      (extraction) => Effect.sync(() => options.features?.set(key, extraction)),
    );
  };
  const extracted = (set: ImageSet) =>
    Effect.map(extract(set, false), (e): ExtractedSet => ({ images: set, features: e.features }));
  return { extract, extracted };
};
