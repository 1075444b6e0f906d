/**
 * The feature stage as the pipeline runs it: one forward pass per (model, image set), on the
 * model's engine, cached on disk and logged once, shared by every detector.
 *
 * @module
 */
import { Effect } from "effect";
import type { ImageSet } from "../data/images.ts";
import { sha256Hex } from "../io/files.ts";
import { matrix } from "../matrix.ts";
import type { ClassSums, Extraction } from "../stages/features.ts";
import { type Codec, StageCache } from "../cache/cache.ts";
import type { PipelineModel } from "./model.ts";

/** A content fingerprint of an image set (pixels and labels). */
export function setFingerprint(set: ImageSet): string {
  const pixels = sha256Hex(set.pixels);
  return set.labels === undefined ? pixels : sha256Hex(
    new TextEncoder().encode(pixels + sha256Hex(set.labels)),
  );
}

const extractionCodec: Codec<Extraction> = {
  encode: ({ features, classSums }) => ({
    arrays: {
      penultimate: {
        data: features.penultimate.data,
        shape: [features.penultimate.rows, features.penultimate.cols],
      },
      logits: { data: features.logits.data, shape: [features.logits.rows, features.logits.cols] },
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
      classSums: Array<{ boundary: string; featureShape: number[]; chunk: number }>;
    };
    const get = (name: string) => arrays.get(name)!;
    const pen = get("penultimate");
    const logits = get("logits");
    const labels = arrays.get("labels")?.data as Uint8Array | undefined;
    const classSums: Array<ClassSums> = m.classSums.map(({ boundary, featureShape, chunk }) => ({
      boundary,
      featureShape,
      sums: get(`sums-${boundary}`).data as Float64Array,
      counts: get(`counts-${boundary}`).data as Float64Array,
      chunk,
    }));
    return {
      features: {
        name: m.name,
        count: m.count,
        penultimate: matrix(pen.shape[0]!, pen.shape[1]!, pen.data as Float32Array),
        logits: matrix(logits.shape[0]!, logits.shape[1]!, logits.data as Float32Array),
        ...(labels === undefined ? {} : { labels }),
      },
      classSums,
    };
  },
  rows: ({ features }) => features.penultimate.rows,
};

/** A cached extraction and the key it is stored under (the input key of later stages). */
export interface KeyedExtraction {
  readonly extraction: Extraction;
  readonly key: string;
}

/**
 * Extract (or load from the context's `StageCache`; none is off) the features of `set` with
 * `model` (any kind, on its engine). The key covers the model's key (bytes, kind, taps, preprocessing, engine), the
 * set's content and the class-sum boundaries. The pass reports to the context's `Progress`
 * (`features of <set>`), and one log line (`Effect.logInfo`) says whether it ran or came from the
 * cache.
 */
export const extractCached = Effect.fn("extractCached")(function* (
  model: Pick<PipelineModel, "key" | "extract">,
  set: ImageSet,
  options: {
    readonly classSumsAt?: ReadonlyArray<string>;
  } = {},
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
    model.extract(set, {
      ...(options.classSumsAt === undefined ? {} : { classSumsAt: options.classSumsAt }),
    }),
    { rows: set.count },
  );
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  yield* Effect.logInfo(
    result.hit
      ? `features ${set.name}: ${set.count} images from cache (${seconds}s)`
      : `features ${set.name}: extracted ${set.count} images (${seconds}s)`,
  );
  const keyed: KeyedExtraction = { extraction: result.value, key: result.key };
  return keyed;
});
