/**
 * Cache keys: a stable JSON form of a stage's inputs, and each stage's code version derived from
 * the content of the source files that compute it, so a code change can never serve an output
 * of the old code (no version number to bump by hand).
 *
 * @module
 */
import { sha256Hex } from "../io/files.ts";

/**
 * Stable JSON (object keys sorted, `undefined` members dropped), so equal parts give equal keys.
 *
 * @example
 * ```ts
 * import { canonicalJson } from "./key.ts";
 * if (canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }) !== '{"a":[2,{"c":4,"d":3}],"b":1}') {
 *   throw new Error("not canonical");
 * }
 * ```
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** sha256 (hex) of the canonical JSON of a value. */
export const hashJson = (value: unknown): string =>
  sha256Hex(new TextEncoder().encode(canonicalJson(value)));

/**
 * The source files (relative to `lib/`) whose code decides each cached stage's output: the
 * stage itself, what it calls to compute, and the codec that stores it.
 */
export const STAGE_SOURCES: Readonly<Record<string, ReadonlyArray<string>>> = {
  features: [
    "stages/features.ts",
    "stages/model_features.ts",
    "model/classifier.ts",
    "pipeline/extract.ts",
    "pipeline/model.ts",
    "models/model.ts",
    "models/batches.ts",
    "models/grood_cnn.ts",
    "models/onnx.ts",
    "models/onnx_graph.ts",
    "models/export_onnx.ts",
    "models/tfjs.ts",
    "matrix.ts",
  ],
  prototypes: ["stages/prototype.ts", "detectors/grood.ts", "matrix.ts"],
  "ood-prototype": [
    "stages/mixup.ts",
    "stages/model_mixup.ts",
    "stages/prototype.ts",
    "model/classifier.ts",
    "detectors/grood.ts",
    "random.ts",
  ],
  descriptors: ["stages/gradient.ts", "detectors/grood.ts", "matrix.ts", "distance.ts"],
};

const LIB = new URL("../", import.meta.url);
const versions = new Map<string, string>();

/**
 * The code version of `stage`: sha256 of its source files' contents. A stage not listed in
 * {@link STAGE_SOURCES}, or whose sources cannot be read (e.g. a bundled build), gets a version
 * unique to this process, so its entries are never reused by another run: safe, only slower.
 */
export function stageVersion(stage: string): string {
  const known = versions.get(stage);
  if (known !== undefined) return known;
  let version: string;
  try {
    const files = STAGE_SOURCES[stage];
    if (files === undefined) throw new Error(`stage "${stage}" has no listed sources`);
    version = sha256Hex(
      new TextEncoder().encode(
        files.map((file) => `${file}:${sha256Hex(Deno.readFileSync(new URL(file, LIB)))}`)
          .join("\n"),
      ),
    );
  } catch {
    version = `process-${Deno.pid}-${crypto.randomUUID()}`;
  }
  versions.set(stage, version);
  return version;
}

/** The cache key of a stage output: sha256 of the stage, its code version and its inputs. */
export function stageKey(stage: string, parts: unknown): string {
  return hashJson({ stage, version: stageVersion(stage), parts });
}
