/**
 * A distributed-fit job on disk (`grood cluster fit`): the job folder holds `job.json` (the
 * plan: the model and its content hash, the training source, the class order, the held-out
 * images, the mix-up's chosen images, the chunk and batch sizes) and `parts/`, one binary file
 * per chunk and phase, each written atomically (temporary file, then rename), so a chunk mapped
 * twice (redelivery after a runner died) replaces its part: `f-<start>.bin` holds a feature
 * chunk's map result, `d-<start>.bin` the descriptors of its kept rows. `prototypes.bin` holds
 * the reduced class prototypes and the OOD prototype the descriptor chunks are made with.
 *
 * A part file: `GROODPRT`, a little-endian u32 header length, the header (JSON: job, kind,
 * start, size, the arrays' names, types and lengths), then each array, every section padded to
 * 8 bytes. Decoded strictly, checked against the plan and the chunk it must cover.
 *
 * @module
 */
import { join } from "node:path";
import { Effect, Schema } from "effect";
import { type Detectors, Io, Sources } from "../../mod.ts";
import { decodeAs, JOB_FORMAT_VERSION, JobFolderInvalid, readSealedPlan } from "./job.ts";

/** `job.json` of a fit. */
export const FitPlan = Schema.Struct({
  format: Schema.Literal("grood-cluster-fit-job"),
  version: Schema.Literal(JOB_FORMAT_VERSION),
  /** sha256 of everything below: the messages' keys start with it. */
  id: Schema.String,
  nonce: Schema.String,
  model: Schema.Struct({
    path: Schema.String,
    taps: Schema.Record(Schema.String, Schema.String),
    sha256: Schema.String,
  }),
  train: Schema.Struct({
    argument: Schema.String,
    spec: Sources.SourceSpec,
    baseDir: Schema.String,
    /** What its files hold (`sourceContent`): a resumed fit is of the same images. */
    content: Schema.String,
  }),
  classNames: Schema.Array(Schema.String),
  /** Source indices held out as ID validation, ascending. */
  held: Schema.Array(Schema.Int),
  sourceCount: Schema.Int,
  trainCount: Schema.Int,
  chunk: Schema.Int,
  batchSize: Schema.Int,
  /** The mix-up's chosen training images, in mix-up order. */
  chosen: Schema.Array(Schema.Int),
});
/** A decoded fit plan. */
export type FitPlan = typeof FitPlan.Type;

/** Read a fit job's plan (checked against its id). */
export const readFitPlan = (jobDir: string): Effect.Effect<FitPlan, JobFolderInvalid> =>
  readSealedPlan(jobDir, FitPlan as Schema.Codec<FitPlan, unknown>);

/** The chunks of a fit, in chunk order. */
export const fitChunksOf = (
  plan: { readonly trainCount: number; readonly chunk: number },
): ReadonlyArray<{ readonly start: number; readonly end: number }> =>
  Array.from({ length: Math.ceil(plan.trainCount / plan.chunk) }, (_, k) => ({
    start: k * plan.chunk,
    end: Math.min(plan.trainCount, (k + 1) * plan.chunk),
  }));

/** The two maps of a fit. */
export type FitPhase = "features" | "descriptors";

/** The part file of a chunk in a phase. */
export const fitPartName = (phase: FitPhase, start: number): string =>
  `${phase === "features" ? "f" : "d"}-${start}.bin`;

/** Its path. */
export const fitPartPath = (jobDir: string, phase: FitPhase, start: number): string =>
  join(jobDir, "parts", fitPartName(phase, start));

/** The prototypes the descriptor chunks are made with. */
export const prototypesPath = (jobDir: string): string => join(jobDir, "prototypes.bin");

const DTYPES = {
  f64: Float64Array,
  f32: Float32Array,
  i32: Int32Array,
  u32: Uint32Array,
  u8: Uint8Array,
} as const;
type DType = keyof typeof DTYPES;
type Typed = Float64Array | Float32Array | Int32Array | Uint32Array | Uint8Array;

const Header = Schema.Struct({
  job: Schema.String,
  kind: Schema.Literals(["features", "descriptors", "prototypes"]),
  start: Schema.Int,
  size: Schema.Int,
  /** Descriptor parts: the digest of the prototypes they were made with. */
  prototypes: Schema.String,
  temperature: Schema.Finite,
  arrays: Schema.Array(Schema.Struct({
    name: Schema.String,
    dtype: Schema.Literals(["f64", "f32", "i32", "u32", "u8"]),
    length: Schema.Int,
  })),
});
/** A part file's header. */
export type PartHeader = typeof Header.Type;

const MAGIC = new TextEncoder().encode("GROODPRT");
const pad8 = (n: number) => (n + 7) & ~7;

/** The bytes of a part: the header (its `arrays` filled in from `arrays`), then the arrays. */
export const encodePart = (
  header: Omit<PartHeader, "arrays">,
  arrays: ReadonlyArray<readonly [string, DType, Typed]>,
): Uint8Array => {
  const full: PartHeader = {
    ...header,
    arrays: arrays.map(([name, dtype, data]) => ({ name, dtype, length: data.length })),
  };
  const json = new TextEncoder().encode(JSON.stringify(full));
  const headerEnd = pad8(12 + json.length);
  const total = arrays.reduce((n, [, , data]) => n + pad8(data.byteLength), headerEnd);
  const bytes = new Uint8Array(total);
  bytes.set(MAGIC, 0);
  new DataView(bytes.buffer).setUint32(8, json.length, true);
  bytes.set(json, 12);
  let at = headerEnd;
  for (const [, , data] of arrays) {
    bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    at += pad8(data.byteLength);
  }
  return bytes;
};

/** A decoded part: its header and its arrays by name (copies, aligned). */
export interface DecodedPart {
  readonly header: PartHeader;
  readonly arrays: ReadonlyMap<string, Typed>;
}

/** Decode the part file `path` (strictly: magic, header, sizes). */
export const readPartFile = (path: string): Effect.Effect<DecodedPart, JobFolderInvalid> =>
  Effect.gen(function* () {
    const bad = (problem: string) => new JobFolderInvalid({ path, problem });
    const bytes = yield* Effect.tryPromise({
      try: () => Deno.readFile(path),
      catch: (error) => bad(`cannot read: ${error}`),
    });
    if (bytes.length < 12 || MAGIC.some((b, i) => bytes[i] !== b)) {
      return yield* bad("not a grood part file");
    }
    const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
    if (12 + length > bytes.length) return yield* bad("its header is cut short");
    const json = yield* Effect.try({
      try: () => JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + length))) as unknown,
      catch: (error) => bad(`its header is not JSON: ${error}`),
    });
    const header = yield* decodeAs(Header as Schema.Codec<PartHeader, unknown>, path, json);
    const arrays = new Map<string, Typed>();
    let at = pad8(12 + length);
    for (const entry of header.arrays) {
      const Type = DTYPES[entry.dtype];
      const byteLength = entry.length * Type.BYTES_PER_ELEMENT;
      if (entry.length < 0 || at + byteLength > bytes.length) {
        return yield* bad(`array ${entry.name} runs past the end of the file`);
      }
      arrays.set(entry.name, new Type(bytes.slice(at, at + byteLength).buffer));
      at += pad8(byteLength);
    }
    if (at !== bytes.length) return yield* bad(`${bytes.length - at} bytes after the last array`);
    return { header, arrays };
  });

/** Write a part atomically (a chunk mapped again replaces its part). */
export const writePartFile = (
  path: string,
  bytes: Uint8Array,
): Effect.Effect<void, JobFolderInvalid> =>
  Effect.tryPromise({
    try: () => Io.writeFileAtomic(path, bytes),
    catch: (error) => new JobFolderInvalid({ path, problem: `cannot write: ${error}` }),
  });

const FEATURE_ARRAYS = [
  ["earlySums", "f64"],
  ["penultimateSums", "f64"],
  ["counts", "f64"],
  ["kept", "f32"],
  ["keptImages", "i32"],
  ["mixRanks", "u32"],
  ["mixPixels", "u8"],
  ["mixTargets", "u8"],
] as const;

/** A feature chunk's part. */
export const encodeFeaturePart = (job: string, chunk: Detectors.FeatureChunk): Uint8Array =>
  encodePart(
    { job, kind: "features", start: chunk.start, size: chunk.size, prototypes: "", temperature: 1 },
    FEATURE_ARRAYS.map(([name, dtype]) => [name, dtype, chunk[name]] as const),
  );

/** An array of a decoded part, of the type and length asked, or why not. */
const take = <T extends Typed>(
  part: DecodedPart,
  path: string,
  name: string,
  type: new (n: number) => T,
): Effect.Effect<T, JobFolderInvalid> => {
  const data = part.arrays.get(name);
  return data instanceof type
    ? Effect.succeed(data as T)
    : Effect.fail(new JobFolderInvalid({ path, problem: `it has no ${type.name} ${name}` }));
};

/** Read a feature chunk's part, checked against the job and the chunk. */
export const readFeaturePart = (
  jobDir: string,
  job: string,
  chunk: { readonly start: number; readonly end: number },
): Effect.Effect<Detectors.FeatureChunk, JobFolderInvalid> =>
  Effect.gen(function* () {
    const path = fitPartPath(jobDir, "features", chunk.start);
    const part = yield* readPartFile(path);
    const h = part.header;
    if (
      h.job !== job || h.kind !== "features" || h.start !== chunk.start ||
      h.size !== chunk.end - chunk.start
    ) {
      return yield* new JobFolderInvalid({
        path,
        problem:
          `it is not the feature part of images [${chunk.start}, ${chunk.end}) of job ${job}`,
      });
    }
    return {
      start: h.start,
      size: h.size,
      earlySums: yield* take(part, path, "earlySums", Float64Array),
      penultimateSums: yield* take(part, path, "penultimateSums", Float64Array),
      counts: yield* take(part, path, "counts", Float64Array),
      kept: yield* take(part, path, "kept", Float32Array),
      keptImages: yield* take(part, path, "keptImages", Int32Array),
      mixRanks: yield* take(part, path, "mixRanks", Uint32Array),
      mixPixels: yield* take(part, path, "mixPixels", Uint8Array),
      mixTargets: yield* take(part, path, "mixTargets", Uint8Array),
    };
  });

/** The descriptors of a chunk's kept rows, made with the prototypes of digest `prototypes`. */
export const encodeDescriptorPart = (
  job: string,
  chunk: { readonly start: number; readonly size: number },
  prototypes: string,
  descriptors: Float32Array,
): Uint8Array =>
  encodePart(
    { job, kind: "descriptors", start: chunk.start, size: chunk.size, prototypes, temperature: 1 },
    [["descriptors", "f32", descriptors]],
  );

/** Read a chunk's descriptors, checked against the job, the chunk and the prototypes. */
export const readDescriptorPart = (
  jobDir: string,
  job: string,
  chunk: { readonly start: number; readonly end: number },
  prototypes: string,
): Effect.Effect<Float32Array, JobFolderInvalid> =>
  Effect.gen(function* () {
    const path = fitPartPath(jobDir, "descriptors", chunk.start);
    const part = yield* readPartFile(path);
    const h = part.header;
    if (
      h.job !== job || h.kind !== "descriptors" || h.start !== chunk.start ||
      h.size !== chunk.end - chunk.start || h.prototypes !== prototypes
    ) {
      return yield* new JobFolderInvalid({
        path,
        problem: `it is not the descriptor part of images [${chunk.start}, ${chunk.end}) of ` +
          `job ${job} with prototypes ${prototypes.slice(0, 12)}`,
      });
    }
    return yield* take(part, path, "descriptors", Float32Array);
  });

/** The prototypes file: C × D class prototypes, the OOD prototype and the temperature. */
export const encodePrototypes = (
  job: string,
  prototypes: { readonly classes: { readonly rows: number; readonly data: Float32Array } },
  ood: Float32Array,
  temperature: number,
): Uint8Array =>
  encodePart(
    {
      job,
      kind: "prototypes",
      start: 0,
      size: prototypes.classes.rows,
      prototypes: "",
      temperature,
    },
    [["classes", "f32", prototypes.classes.data], ["ood", "f32", ood]],
  );

/** Read the prototypes file of a job. */
export const readPrototypes = (
  jobDir: string,
  job: string,
): Effect.Effect<
  {
    readonly classes: Float32Array;
    readonly rows: number;
    readonly ood: Float32Array;
    readonly temperature: number;
  },
  JobFolderInvalid
> =>
  Effect.gen(function* () {
    const path = prototypesPath(jobDir);
    const part = yield* readPartFile(path);
    if (part.header.job !== job || part.header.kind !== "prototypes") {
      return yield* new JobFolderInvalid({ path, problem: `it is not job ${job}'s prototypes` });
    }
    const classes = yield* take(part, path, "classes", Float32Array);
    const ood = yield* take(part, path, "ood", Float32Array);
    if (classes.length !== part.header.size * ood.length) {
      return yield* new JobFolderInvalid({ path, problem: "its prototypes disagree in size" });
    }
    return { classes, rows: part.header.size, ood, temperature: part.header.temperature };
  });
