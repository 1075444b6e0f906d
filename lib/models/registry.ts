/**
 * The model kinds grood can open, one entry each (a new kind: its adapter and an entry), and
 * `openModel`: find a model's kind and its spec (`<model>.spec.json` next to a file,
 * `model-spec.json` in a folder), then open it in the caller's scope.
 *
 * @module
 */
import { Effect, type Scope } from "effect";
import { basename, dirname, extname, join } from "node:path";
import type { Compute } from "../compute/compute.ts";
import { decodeStrict } from "../decode.ts";
import { type ModelError, ModelUnreadable } from "./errors.ts";
import { statModel } from "./files.ts";
import { type GroodEngine, openGroodModel } from "./grood_open.ts";
import { type FeatureModel, type ModelSpec, ModelSpecSchema, type Taps } from "./model.ts";
import { openOnnxModel } from "./onnx.ts";
import type { OnnxOptions } from "./onnx_session.ts";
import { openTfjsModel } from "./tfjs.ts";
import { inspectGrood, type Inspection, inspectOnnx, inspectTfjs } from "./inspect.ts";

/** The kinds a model spec can name. */
export type ModelKind = NonNullable<ModelSpec["kind"]>;

/** What `openModel` needs to know beyond the path. */
export interface OpenOptions extends OnnxOptions {
  /** The spec, when not read from the file next to the model. */
  readonly spec?: ModelSpec;
  /** The engine of grood's CNN (default onnxruntime). */
  readonly groodEngine?: GroodEngine;
  /** Taps that replace the spec's (or grood's CNN's defaults). */
  readonly taps?: Partial<Taps>;
}

/** How each kind is recognised and opened. */
export interface ModelKindEntry {
  /** The kind's name, as in a model spec's `kind`. */
  readonly kind: ModelKind;
  /** One line on what the kind is, for usage texts. */
  readonly description: string;
  /** Whether `path` holds a model of this kind (`json` = its model.json, when it has one). */
  readonly recognises: (path: string, json: unknown) => boolean;
  /** Whether the kind can run without a spec file (grood's own models know their taps). */
  readonly specOptional: boolean;
  /** Open the model at `path` in the current scope. */
  readonly open: (
    path: string,
    spec: ModelSpec | undefined,
    options: OpenOptions,
  ) => Effect.Effect<FeatureModel, ModelError, Scope.Scope | Compute>;
  /** List the model's tensors and propose its taps (needs no spec). */
  readonly inspect: (
    path: string,
    options: InspectOptions,
  ) => Effect.Effect<Inspection, ModelError, Scope.Scope | Compute>;
}

/** What `inspect` needs beyond the path. */
export interface InspectOptions {
  /** Input layout of an ONNX model (its tensors' shapes say how to read them). */
  readonly layout?: "NCHW" | "NHWC";
}

const format = (json: unknown) =>
  typeof json === "object" && json !== null ? (json as { format?: unknown }).format : undefined;

/** The registry: one line per model kind. */
export const MODEL_REGISTRY: ReadonlyArray<ModelKindEntry> = [
  {
    kind: "grood",
    description: "grood's residual CNN (a folder saved by `deno task train`)",
    recognises: (_, json) => format(json) === "grood-classifier",
    specOptional: true,
    open: (path, spec, options) =>
      openGroodModel(path, { ...spec?.taps, ...options.taps }, options.groodEngine, options),
    inspect: (path) => inspectGrood(path),
  },
  {
    kind: "onnx",
    description: "an ONNX model (e.g. torch.onnx.export), run by onnxruntime-node",
    recognises: (path) => extname(path) === ".onnx",
    specOptional: false,
    open: (path, spec, options) => openOnnxModel(path, spec!, options),
    inspect: (path, options) => inspectOnnx(path, options.layout),
  },
  ...(["layers", "graph"] as const).map((tfjs): ModelKindEntry => ({
    kind: `tfjs-${tfjs}`,
    description: tfjs === "layers"
      ? "a tfjs LayersModel (model.json); taps are layer names"
      : "a tfjs GraphModel (model.json); taps are node names",
    recognises: (_, json) => format(json) === `${tfjs}-model`,
    specOptional: false,
    open: (path, spec) => openTfjsModel(modelJsonPath(path), tfjs, spec!),
    inspect: (path) => inspectTfjs(modelJsonPath(path), tfjs),
  })),
];

/** `model.json` of a folder model, or the path itself when it names the file. */
const modelJsonPath = (path: string) => extname(path) === ".json" ? path : join(path, "model.json");

/** Where a model's spec lives: `x.onnx` → `x.spec.json`; a folder → `folder/model-spec.json`. */
export const specPathFor = (path: string, isDirectory: boolean): string =>
  isDirectory
    ? join(path, "model-spec.json")
    : basename(path) === "model.json"
    ? join(dirname(path), "model-spec.json")
    : join(dirname(path), `${basename(path, extname(path))}.spec.json`);

/** A spec given as JSON or in code, decoded strictly (a wrong field or an unknown key named). */
const decodeSpec = (model: string, label: string) => (json: unknown) =>
  Effect.mapError(
    decodeStrict(ModelSpecSchema, label)(json),
    (error) => new ModelUnreadable({ model, problem: `invalid model spec: ${error.message}` }),
  );

const readJson = (path: string) =>
  Effect.tryPromise({
    try: async () => JSON.parse(await Deno.readTextFile(path)) as unknown,
    catch: (error) =>
      new ModelUnreadable({
        model: path,
        problem: error instanceof Deno.errors.NotFound ? "no such file" : String(error),
      }),
  });

/** Read and check a model spec file, strictly. */
export const readModelSpec = (path: string): Effect.Effect<ModelSpec, ModelUnreadable> =>
  Effect.flatMap(readJson(path), decodeSpec(path, path));

/** The kind of the model at `path`, by its file (no spec needed): a typed error otherwise. */
export const recogniseModel = (
  path: string,
): Effect.Effect<{ entry: ModelKindEntry; isDirectory: boolean }, ModelUnreadable> =>
  Effect.gen(function* () {
    const info = yield* statModel(path);
    const json = info.isDirectory || extname(path) === ".json"
      ? yield* Effect.orElseSucceed(readJson(modelJsonPath(path)), () => undefined)
      : undefined;
    const entry = MODEL_REGISTRY.find((k) => k.recognises(path, json));
    if (entry === undefined) {
      const kinds = MODEL_REGISTRY.map((k) => k.kind).join(", ");
      const problem = `not a model grood knows (kinds: ${kinds})`;
      return yield* new ModelUnreadable({ model: path, problem });
    }
    return { entry, isDirectory: info.isDirectory };
  });

/** Find the kind of the model at `path` (and its spec, when there is one). */
export const resolveModel = (
  path: string,
  options: OpenOptions = {},
): Effect.Effect<
  { entry: ModelKindEntry; spec: ModelSpec | undefined; specPath: string },
  ModelUnreadable
> =>
  Effect.gen(function* () {
    const info = yield* statModel(path);
    const specPath = specPathFor(path, info.isDirectory);
    // A spec given in code is decoded as strictly as a spec file (a typo used to crash); a
    // missing spec file is only an error for kinds that cannot run without it.
    const spec = options.spec !== undefined
      ? yield* decodeSpec(path, "the model spec given to openModel")(options.spec)
      : (yield* Effect.promise(() => Deno.stat(specPath).then(() => true, () => false)))
      ? yield* readModelSpec(specPath)
      : undefined;
    const entry = spec?.kind !== undefined
      ? MODEL_REGISTRY.find((k) => k.kind === spec.kind)!
      : (yield* recogniseModel(path)).entry;
    if (spec === undefined && !entry.specOptional) {
      const problem = `a ${entry.kind} model needs its input spec and taps in ${specPath} ` +
        "(`deno task inspect --model` proposes the taps)";
      return yield* new ModelUnreadable({ model: path, problem });
    }
    return { entry, spec, specPath };
  });

/** Inspect any model grood knows: its tensors (name, op, shape) and the proposed taps. */
export const inspectModel = (
  path: string,
  options: InspectOptions = {},
): Effect.Effect<
  { inspection: Inspection; specPath: string },
  ModelError,
  Scope.Scope | Compute
> =>
  Effect.gen(function* () {
    const { entry, isDirectory } = yield* recogniseModel(path);
    const inspection = yield* entry.inspect(path, options);
    return { inspection, specPath: specPathFor(path, isDirectory) };
  });

/** Open any model grood knows in the caller's scope; `options.taps` replace the spec's. */
export const openModel = (
  path: string,
  options: OpenOptions = {},
): Effect.Effect<FeatureModel, ModelError, Scope.Scope | Compute> =>
  Effect.flatMap(resolveModel(path, options), ({ entry, spec }) =>
    entry.open(
      path,
      spec === undefined || options.taps === undefined
        ? spec
        : { ...spec, taps: { ...spec.taps, ...options.taps } },
      options,
    ));
