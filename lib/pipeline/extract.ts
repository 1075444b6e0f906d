/**
 * The feature stage as the pipeline runs it: one forward pass per (model, image set), on the
 * model's engine, cached on disk and logged once, shared by every detector.
 *
 * @module
 */
import { Effect } from "effect";
import type { ImageSet } from "../data/images.ts";
import { sha256Hex } from "../io/files.ts";
import { type Matrix, matrix } from "../matrix.ts";
import type { ClassSums, Extraction } from "../stages/features.ts";
import { type Codec, StageCache } from "../cache/cache.ts";
import type { PipelineModel } from "./model.ts";

/** A content fingerprint of an image set (pixels and labels). */
function setFingerprint(set: ImageSet): string {
  const pixels = sha256Hex(set.pixels);
  return set.labels === undefined ? pixels : sha256Hex(
    new TextEncoder().encode(pixels + sha256Hex(set.labels)),
  );
}

const asArray = ({ data, rows, cols }: Matrix) => ({ data, shape: [rows, cols] });

const extractionCodec: Codec<Extraction> = {
  encode: ({ features, classSums }) => ({
    arrays: {
      penultimate: asArray(features.penultimate),
      logits: asArray(features.logits),
      ...(features.labels === undefined
        ? {}
        : { labels: { data: features.labels, shape: [features.labels.length] } }),
      ...Object.fromEntries(classSums.flatMap((s) => [
        [`sums-${s.boundary}`, {
          data: s.sums,
          shape: [s.counts.length, s.sums.length / s.counts.length],
        }],
        [`counts-${s.boundary}`, { data: s.counts, shape: [s.counts.length] }],
      ])),
    },
    meta: {
      name: features.name,
      count: features.count,
      classSums: classSums.map((s) => ({
        boundary: s.boundary,
        featureShape: s.featureShape,
        chunk: s.chunk,
      })),
    },
  }),
  decode: (arrays, meta) => {
    const m = meta as {
      name: string;
      count: number;
      classSums: Array<Omit<ClassSums, "sums" | "counts">>;
    };
    const get = (name: string) => arrays.get(name)!;
    const asMatrix = (name: string) => {
      const { data, shape } = get(name);
      return matrix(shape[0]!, shape[1]!, data as Float32Array);
    };
    const labels = arrays.get("labels")?.data as Uint8Array | undefined;
    return {
      features: {
        name: m.name,
        count: m.count,
        penultimate: asMatrix("penultimate"),
        logits: asMatrix("logits"),
        ...(labels === undefined ? {} : { labels }),
      },
      classSums: m.classSums.map(({ boundary, featureShape, chunk }) => ({
        boundary,
        featureShape,
        sums: get(`sums-${boundary}`).data as Float64Array,
        counts: get(`counts-${boundary}`).data as Float64Array,
        chunk,
      })),
    };
  },
  rows: ({ features }) => features.penultimate.rows,
};

/**
 * Extract (or load from the context's `StageCache`) the features of `set` with `model`, with the
 * key the extraction is stored under: it covers the model's key, the set's content and the
 * class-sum boundaries. One log line says whether it ran or came from the cache.
 */
export const extractCached = Effect.fn("extractCached")(function* (
  model: Pick<PipelineModel, "key" | "extract">,
  set: ImageSet,
  options: { readonly classSumsAt?: ReadonlyArray<string> } = {},
) {
  const cache = yield* StageCache;
  const parts = {
    model: model.key,
    set: setFingerprint(set),
    classSumsAt: [...(options.classSumsAt ?? [])].sort(),
  };
  const started = performance.now();
  const result = yield* cache.cached(
    "features",
    parts,
    extractionCodec,
    model.extract(set, options),
    { rows: set.count },
  );
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  yield* Effect.logInfo(
    result.hit
      ? `features ${set.name}: ${set.count} images from cache (${seconds}s)`
      : `features ${set.name}: extracted ${set.count} images (${seconds}s)`,
  );
  return { extraction: result.value, key: result.key };
});
