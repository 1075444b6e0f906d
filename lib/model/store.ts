/**
 * Save and load classifiers: `model.json` (the spec and a tfjs `weightsManifest`),
 * `weights.bin` and `metadata.json`, written last with the weights' sha256, which loading
 * checks: an interrupted save is never loaded as a model.
 *
 * @module
 */
import { Data, Effect, Schema } from "effect";
import { decodeJsonText } from "../decode.ts";
import { join } from "node:path";
import { hashJson } from "../cache/key.ts";
import { checkOutputFolder, OutputFolderRefused } from "../io/output_folder.ts";
import { entriesOf, someOf } from "../io/output_marker.ts";
import {
  exists,
  type IoError,
  osReason,
  sha256Hex,
  tryIo,
  writeFileAtomic,
  writeJsonAtomic,
} from "../io/files.ts";
import {
  type Classifier,
  type ClassifierSpec,
  INPUT_PREPROCESSING,
  makeClassifier,
  type Tf,
  weightLayout,
} from "./classifier.ts";

const Count = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)));
const Positive = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(1)));
const Real = Schema.Finite;

/** What `metadata.json` records about a trained classifier (decoded strictly on load). */
export const ClassifierMetadata: Schema.Struct<{
  readonly dataset: Schema.String;
  readonly seed: Schema.Int;
  readonly epochs: Schema.Int;
  readonly batchSize: Schema.Int;
  readonly learningRate: Schema.Finite;
  readonly testAccuracy: Schema.Finite;
  readonly blocks: Schema.$Array<Schema.String>;
  readonly featureSizes: Schema.$Record<Schema.String, Schema.Int>;
  readonly backend: Schema.String;
  readonly tfjsVersion: Schema.String;
  readonly trainingSeconds: Schema.Finite;
  readonly weightsSha256: Schema.String;
  readonly createdAt: Schema.String;
}> = Schema.Struct({
  dataset: Schema.String,
  seed: Count,
  epochs: Count,
  batchSize: Count,
  learningRate: Real,
  testAccuracy: Real,
  blocks: Schema.Array(Schema.String),
  /** Flattened feature size at each block boundary. */
  featureSizes: Schema.Record(Schema.String, Count),
  backend: Schema.String,
  tfjsVersion: Schema.String,
  trainingSeconds: Real,
  weightsSha256: Schema.String,
  createdAt: Schema.String,
});
/** What `metadata.json` records about a trained classifier. */
export type ClassifierMetadata = typeof ClassifierMetadata.Type;

/** A saved model cannot be read: names the folder and what is wrong. */
export class ModelLoadError extends Data.TaggedError("ModelLoadError")<{
  readonly path: string;
  readonly problem: string;
}> {
  /** Names the folder and the problem. */
  override get message(): string {
    return `Cannot load the classifier in "${this.path}": ${this.problem}`;
  }
}

/** A block of the architecture in `model.json` (the `BlockSpec` union of `classifier.ts`). */
const BlockSpecSchema = Schema.Union([
  Schema.Struct({
    name: Schema.String,
    kind: Schema.Literals(["conv", "residual"]),
    filters: Positive,
    stride: Positive,
  }),
  Schema.Struct({ name: Schema.String, kind: Schema.Literal("globalAvgPool") }),
  Schema.Struct({ name: Schema.String, kind: Schema.Literal("dense"), units: Positive }),
]);

/** `model.json`: the architecture plus a tfjs `weightsManifest` (decoded strictly on load). */
const ModelJson = Schema.Struct({
  format: Schema.Literal("grood-classifier"),
  version: Schema.Literal(1),
  spec: Schema.Struct({
    inputShape: Schema.Tuple([Positive, Positive, Positive]),
    blocks: Schema.Array(BlockSpecSchema),
  }),
  weightsManifest: Schema.Array(Schema.Struct({
    paths: Schema.Array(Schema.String),
    weights: Schema.Array(Schema.Struct({
      name: Schema.String,
      shape: Schema.Array(Count),
      dtype: Schema.Literal("float32"),
    })),
  })),
});
type ModelJson = typeof ModelJson.Type;

/** The weights of a classifier as one float32 buffer, in layout order. */
export function weightBytes(net: Classifier): Uint8Array {
  const layout = weightLayout(net.spec);
  const values = new Float32Array(
    layout.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0),
  );
  let offset = 0;
  for (const { name } of layout) {
    const data = net.variables.get(name)!.dataSync() as Float32Array;
    values.set(data, offset);
    offset += data.length;
  }
  return new Uint8Array(values.buffer);
}

/** The files {@link saveClassifier} writes: all of a folder it may save over. */
const MODEL_FILES: ReadonlyArray<string> = ["weights.bin", "model.json", "metadata.json"];

/**
 * Check that {@link saveClassifier} may write `dir`: new, empty, or a model grood saved and
 * nothing else; any other folder is refused (`OutputFolderRefused`). Train checks it first.
 */
export const checkModelFolder = (
  dir: string,
): Effect.Effect<void, OutputFolderRefused | IoError> =>
  Effect.gen(function* () {
    yield* checkOutputFolder(dir, { kind: "model", recognise: MODEL_FILES });
    const others = yield* tryIo(dir, "inspect", async () =>
      (await exists(dir))
        ? (await entriesOf(dir)).filter((p) => !MODEL_FILES.includes(p))
        : []);
    if (others.length > 0) {
      const reason = `it holds files a model grood saved does not (${someOf(others)}); ` +
        "give a new or empty folder, or one grood saved a model in";
      return yield* new OutputFolderRefused({ path: dir, reason });
    }
  });

/**
 * Save a classifier and its metadata (the weights hash computed here) to `dir`, checked by
 * {@link checkModelFolder} first (a refused folder is not touched).
 */
export const saveClassifier: (
  net: Classifier,
  dir: string,
  metadata: Omit<ClassifierMetadata, "weightsSha256">,
) => Effect.Effect<ClassifierMetadata, IoError | OutputFolderRefused> = Effect.fn(
  "saveClassifier",
)(function* (
  net: Classifier,
  dir: string,
  metadata: Omit<ClassifierMetadata, "weightsSha256">,
) {
  yield* checkModelFolder(dir);
  const bytes = weightBytes(net);
  const model: ModelJson = {
    format: "grood-classifier",
    version: 1,
    spec: net.spec,
    weightsManifest: [{
      paths: ["weights.bin"],
      weights: weightLayout(net.spec).map((w) => ({ ...w, dtype: "float32" as const })),
    }],
  };
  const full: ClassifierMetadata = { ...metadata, weightsSha256: sha256Hex(bytes) };
  const [weights, json, meta] = ["weights.bin", "model.json", "metadata.json"]
    .map((name) => join(dir, name));
  yield* tryIo(weights!, "write", () => writeFileAtomic(weights!, bytes));
  yield* tryIo(json!, "write", () => writeJsonAtomic(json!, model));
  // metadata.json last: its weights hash marks a complete save.
  yield* tryIo(meta!, "write", () => writeJsonAtomic(meta!, full));
  return full;
});

/** A loaded classifier with its metadata. */
export interface LoadedClassifier {
  /** The network, ready to run. */
  readonly net: Classifier;
  /** What training recorded (`metadata.json`). */
  readonly metadata: ClassifierMetadata;
  /** The folder it was loaded from. */
  readonly path: string;
  /** Cache key of everything the model's outputs depend on (see {@link modelKey}). */
  readonly key: string;
}

/**
 * The cache key of a model: sha256 of its architecture, its weights' sha256 and the input
 * preprocessing, so editing any of them (a stride in `model.json`) gives a new key.
 */
export function modelKey(spec: ClassifierSpec, weightsSha256: string): string {
  return hashJson({ spec, weights: weightsSha256, preprocessing: INPUT_PREPROCESSING });
}

/** Load a classifier saved by `saveClassifier`, verifying the weights against the metadata. */
export const loadClassifier: (
  tf: Tf,
  dir: string,
) => Effect.Effect<LoadedClassifier, ModelLoadError> = Effect.fn("loadClassifier")(function* (
  tf: Tf,
  dir: string,
) {
  const fail = (problem: string) => Effect.fail(new ModelLoadError({ path: dir, problem }));
  const read = (name: string) =>
    Effect.tryPromise({
      try: () => Deno.readFile(join(dir, name)),
      catch: (cause) =>
        new ModelLoadError({ path: dir, problem: `cannot read ${name} (${osReason(cause)})` }),
    });
  // grood's own format: an unknown key, a mistyped value or bad JSON is refused, named.
  const parse = <S extends typeof ClassifierMetadata | typeof ModelJson>(schema: S, name: string) =>
    Effect.flatMap(
      read(name),
      (bytes) =>
        decodeJsonText(schema, name)(new TextDecoder().decode(bytes)).pipe(
          Effect.mapError((error) => new ModelLoadError({ path: dir, problem: error.message })),
        ),
    );
  const metadata = yield* parse(ClassifierMetadata, "metadata.json");
  const model = yield* parse(ModelJson, "model.json");
  const bytes = yield* read("weights.bin");
  const digest = sha256Hex(bytes);
  if (digest !== metadata.weightsSha256) {
    return yield* fail(
      `weights.bin has sha256 ${digest}, metadata.json records ${metadata.weightsSha256}`,
    );
  }
  const layout = weightLayout(model.spec);
  const sizes = layout.map((w) => w.shape.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  if (bytes.byteLength !== total * 4) {
    return yield* fail(`weights.bin has ${bytes.byteLength} bytes, the spec needs ${total * 4}`);
  }
  const values = new Float32Array(bytes.slice().buffer);
  let offset = 0;
  const weights = new Map(layout.map(({ name }, i) => {
    offset += sizes[i]!;
    return [name, values.subarray(offset - sizes[i]!, offset)];
  }));
  const net = makeClassifier(tf, model.spec, weights);
  return { net, metadata, path: dir, key: modelKey(model.spec, digest) };
});
