/**
 * A batch-scoring job on disk: the job folder holds `job.json` (the plan: detector version,
 * sources with their image counts, chunk size) and `parts/`, one JSON file per finished chunk,
 * each written atomically (temporary file, then rename) so a chunk scored twice (redelivery after
 * a runner died) replaces its part instead of adding a second. What is finished is what is on
 * disk: the driver resumes from it after its own restart.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Data, Effect, Schema } from "effect";
import { Io, Sources } from "../../mod.ts";

/** The file naming a folder as a grood cluster job (and holding its plan). */
export const JOB_FILE = "job.json";
/** Images per model batch inside a chunk: the same batches as one-process `deno task score`. */
export const SCORE_BATCH = 512;

/**
 * One source of a job: its spec (strict Schema of `lib/sources`), where paths start, its size,
 * and its content ({@link sourceContent}).
 */
const PlannedSource = Schema.Struct({
  argument: Schema.String,
  spec: Sources.SourceSpec,
  baseDir: Schema.String,
  count: Schema.Int,
  content: Schema.String,
});

/**
 * The format version of `job.json` (a score or a fit job). 2 since sources hold their `content`:
 * a plan of version 1 cannot tell whether its images changed, so it is refused as an older job.
 */
export const JOB_FORMAT_VERSION = 2;

/** `job.json`. */
export const JobPlan = Schema.Struct({
  format: Schema.Literal("grood-cluster-score-job"),
  version: Schema.Literal(JOB_FORMAT_VERSION),
  /** sha256 of everything below: the messages' keys start with it. */
  id: Schema.String,
  /** Random, drawn when the folder is created: two job folders never share message keys. */
  nonce: Schema.String,
  detector: Schema.Struct({ folder: Schema.String, version: Schema.String }),
  chunkSize: Schema.Int,
  sources: Schema.Array(PlannedSource),
});
/** A decoded `job.json`. */
export type JobPlan = typeof JobPlan.Type;

/**
 * One image in a part (the class as an index: names come from the detector): a scored image has
 * a finite score and a class, an invalid one neither but its problem; nothing in between.
 */
const PartRow = Schema.Union([
  Schema.Struct({
    image: Schema.String,
    verdict: Schema.Literals(["in", "ood"]),
    score: Schema.Finite,
    predicted: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  }),
  Schema.Struct({
    image: Schema.String,
    verdict: Schema.Literal("invalid"),
    score: Schema.Null,
    predicted: Schema.Null,
    problem: Schema.String,
  }),
]);
/** A scored image as a part stores it. */
export type PartRow = typeof PartRow.Type;

/** `parts/s<source>-<start>.json`. */
export const Part = Schema.Struct({
  job: Schema.String,
  detector: Schema.String,
  source: Schema.Int,
  start: Schema.Int,
  end: Schema.Int,
  runner: Schema.String,
  rows: Schema.Array(PartRow),
});
/** A decoded part. */
export type Part = typeof Part.Type;

/** A job folder or one of its files that cannot be used, and why. */
export class JobFolderInvalid extends Data.TaggedError("JobFolderInvalid")<{
  readonly path: string;
  readonly problem: string;
}> {
  override get message(): string {
    return `Cannot use the job folder file "${this.path}": ${this.problem}`;
  }
}

const strict = { onExcessProperty: "error" } as const;

/** A job file's JSON, or why it cannot be read. */
export const readRaw = (path: string): Effect.Effect<unknown, JobFolderInvalid> =>
  Effect.tryPromise({
    try: async () => JSON.parse(await Deno.readTextFile(path)) as unknown,
    catch: (error) => new JobFolderInvalid({ path, problem: `not readable JSON: ${error}` }),
  });

/** `json` decoded strictly as `schema`; the issue names the file `path`. */
export const decodeAs = <A>(
  schema: Schema.Codec<A, unknown>,
  path: string,
  json: unknown,
): Effect.Effect<A, JobFolderInvalid> =>
  Effect.mapError(
    Schema.decodeUnknownEffect(schema)(json, strict),
    (issue) => new JobFolderInvalid({ path, problem: String(issue) }),
  );

/** The chunks of a plan, in output order. */
export const chunksOf = (
  plan: JobPlan,
): ReadonlyArray<{ readonly source: number; readonly start: number; readonly end: number }> =>
  plan.sources.flatMap((source, s) =>
    Array.from({ length: Math.ceil(source.count / plan.chunkSize) }, (_, k) => ({
      source: s,
      start: k * plan.chunkSize,
      end: Math.min(source.count, (k + 1) * plan.chunkSize),
    }))
  );

/** The part file of a chunk. */
export const partPath = (jobDir: string, chunk: { source: number; start: number }): string =>
  join(jobDir, "parts", `s${chunk.source}-${chunk.start}.json`);

/**
 * sha256 of what a source's files hold: each file it reads (an `.npy`, its labels, an IDX file; a
 * folder's images, as `Sources.listImages` finds them), in order, each with its path and size.
 * It is in the plan, so a job whose images changed since it was planned (the same count, other
 * pixels) is another job: its parts are never merged as the new images' rows. A built-in set has
 * no files here: the registry checks its checksums on load.
 */
export const sourceContent = (
  source: { readonly spec: Sources.SourceSpec; readonly baseDir: string },
): Effect.Effect<string, Io.IoError | Sources.SourceError> =>
  Effect.gen(function* () {
    const files: Array<string> = [];
    for (const path of Sources.sourcePaths(source.spec, source.baseDir)) {
      const info = yield* Io.tryIo(path, "read", () => Deno.stat(path));
      if (!info.isDirectory) files.push(path);
      else files.push(...(yield* Sources.listImages(path)).map((image) => join(path, image)));
    }
    const hash = createHash("sha256");
    for (const file of files) {
      yield* Io.tryIo(file, "read", async () => {
        // Only a regular file is opened (a named pipe would wait for a writer).
        const info = await Io.statRegularFile(file);
        hash.update(`${JSON.stringify(file)} ${info.size}\n`);
        const handle = await Deno.open(file);
        for await (const chunk of handle.readable) hash.update(chunk);
      });
    }
    return hash.digest("hex");
  });

/** A plan with its id filled in (the id hashes every other field, a fresh nonce included). */
export const sealPlan = <P extends { readonly id: string; readonly nonce: string }>(
  plan: Omit<P, "id" | "nonce">,
): P => {
  const withNonce = { ...plan, nonce: crypto.randomUUID() };
  const id = createHash("sha256").update(JSON.stringify(withNonce)).digest("hex");
  return { ...withNonce, id } as unknown as P;
};

/** Two plans of the same job: equal but for what differs between two runs (id and nonce). */
export const sameJob = <P extends { readonly id: string; readonly nonce: string }>(
  a: P,
  b: P,
): boolean => {
  const strip = ({ id: _, nonce: __, ...rest }: P) => JSON.stringify(rest);
  return strip(a) === strip(b);
};

/** Read `job.json` of a job folder as `schema` (strictly), checked against its id. */
export const readSealedPlan = <P extends { readonly id: string }>(
  jobDir: string,
  schema: Schema.Codec<P, unknown>,
): Effect.Effect<P, JobFolderInvalid> =>
  Effect.gen(function* () {
    const path = join(jobDir, JOB_FILE);
    const raw = yield* readRaw(path);
    const version = (raw as { readonly version?: unknown } | null)?.version;
    if (typeof version === "number" && version < JOB_FORMAT_VERSION) {
      return yield* new JobFolderInvalid({
        path,
        problem: `it was planned by an older grood (job format ${version}; this one reads ` +
          `${JOB_FORMAT_VERSION}): start the job in a new folder`,
      });
    }
    const plan = yield* decodeAs(schema, path, raw);
    // The id is checked on the file's own JSON (decoding could fill in a source's defaults).
    const { id: _, ...rest } = raw as Record<string, unknown>;
    if (createHash("sha256").update(JSON.stringify(rest)).digest("hex") !== plan.id) {
      return yield* new JobFolderInvalid({ path, problem: "its id does not match its contents" });
    }
    return plan;
  });

/** Read the `job.json` of a scoring job. */
export const readPlan = (jobDir: string): Effect.Effect<JobPlan, JobFolderInvalid> =>
  readSealedPlan(jobDir, JobPlan as Schema.Codec<JobPlan, unknown>);

/**
 * Create the job folder with `plan`, or resume it: an existing folder must hold the same plan
 * (same detector, sources and chunk size), and a folder that holds something else is refused,
 * never overwritten. Returns the plan in force (the existing one when resuming).
 */
export const createOrResumeJob = (
  jobDir: string,
  plan: JobPlan,
  inputs: ReadonlyArray<string> = [],
): Effect.Effect<
  { readonly state: "created" | "resumed"; readonly plan: JobPlan },
  JobFolderInvalid
> => openJobFolder(jobDir, plan, { read: readPlan, same: sameJob<JobPlan>, inputs });

/**
 * Create or resume a job folder under the output-folder rule (`Io.checkOutputFolder`): only an
 * absent or empty folder, or one grood made (its marker, or a plan file from before the marker),
 * never the current folder, an input or a link; created with the marker and `plan`. An existing
 * plan is resumed only when `same` says it is the job asked for.
 */
export const openJobFolder = <P>(
  jobDir: string,
  plan: P,
  how: {
    readonly read: (jobDir: string) => Effect.Effect<P, JobFolderInvalid>;
    readonly same: (existing: P, plan: P) => boolean;
    readonly inputs: ReadonlyArray<string>;
  },
): Effect.Effect<{ readonly state: "created" | "resumed"; readonly plan: P }, JobFolderInvalid> =>
  Effect.gen(function* () {
    const rules = { kind: "grood cluster job", recognise: [JOB_FILE], inputs: how.inputs };
    yield* Effect.mapError(
      Io.checkOutputFolder(jobDir, rules),
      (error) =>
        new JobFolderInvalid({
          path: jobDir,
          problem: error._tag === "OutputFolderRefused" ? error.reason : error.message,
        }),
    );
    const entries = yield* Effect.promise(() =>
      Array.fromAsync(Deno.readDir(jobDir)).catch(() => [] as Array<Deno.DirEntry>)
    );
    // Parts are written into `parts/`: a link there would have them written (and files of the
    // same names replaced) outside the job folder.
    const parts = entries.find((e) => e.name === "parts");
    if (parts !== undefined && (parts.isSymlink || !parts.isDirectory)) {
      return yield* new JobFolderInvalid({
        path: join(jobDir, "parts"),
        problem: "it is a link or a file, not a folder of this job (parts are written there)",
      });
    }
    if (entries.some((e) => e.name === JOB_FILE)) {
      const existing = yield* how.read(jobDir);
      if (!how.same(existing, plan)) {
        return yield* new JobFolderInvalid({
          path: join(jobDir, JOB_FILE),
          problem: "it holds another job (other detector, model, sources, source contents or " +
            "chunk size): give another --job folder, or delete this one",
        });
      }
      return { state: "resumed", plan: existing } as const;
    }
    // The marker and an empty `parts/` are what a creation killed before its plan leaves.
    if (entries.some((e) => e.name !== Io.OUTPUT_MARKER && e.name !== "parts")) {
      return yield* new JobFolderInvalid({
        path: jobDir,
        problem: "the folder is not empty and is not a grood job folder",
      });
    }
    yield* Effect.mapError(
      Io.prepareOutputRoot(jobDir, rules),
      (error) => new JobFolderInvalid({ path: jobDir, problem: `cannot create: ${error.message}` }),
    );
    yield* Effect.tryPromise({
      try: () => Deno.mkdir(join(jobDir, "parts"), { recursive: true }),
      catch: (error) => new JobFolderInvalid({ path: jobDir, problem: `cannot create: ${error}` }),
    });
    yield* Effect.tryPromise({
      try: () => Io.writeJsonAtomic(join(jobDir, JOB_FILE), plan),
      catch: (error) => new JobFolderInvalid({ path: jobDir, problem: `cannot write: ${error}` }),
    });
    return { state: "created", plan } as const;
  });

/** Write a part atomically (a chunk scored again replaces its part). */
export const writePart = (jobDir: string, part: Part): Effect.Effect<void, JobFolderInvalid> =>
  Effect.tryPromise({
    try: () => Io.writeFileAtomic(partPath(jobDir, part), JSON.stringify(part)),
    catch: (error) =>
      new JobFolderInvalid({ path: partPath(jobDir, part), problem: `cannot write: ${error}` }),
  });

/** Read a part, checked against the plan and the chunk it must cover. */
export const readPart = (
  jobDir: string,
  plan: JobPlan,
  chunk: { readonly source: number; readonly start: number; readonly end: number },
): Effect.Effect<Part, JobFolderInvalid> =>
  Effect.gen(function* () {
    const path = partPath(jobDir, chunk);
    const part = yield* Effect.flatMap(
      readRaw(path),
      (raw) => decodeAs(Part as Schema.Codec<Part, unknown>, path, raw),
    );
    const problem = part.job !== plan.id
      ? "it belongs to another job"
      : part.detector !== plan.detector.version
      ? "it was scored by another detector version"
      : part.source !== chunk.source || part.start !== chunk.start || part.end !== chunk.end ||
          part.rows.length !== chunk.end - chunk.start
      ? `it does not cover images [${chunk.start}, ${chunk.end}) of source ${chunk.source}`
      : undefined;
    if (problem !== undefined) return yield* new JobFolderInvalid({ path, problem });
    return part;
  });

/** The chunks whose part is on disk (named as `partPath` names them). */
export const finishedChunks = (jobDir: string): Effect.Effect<ReadonlySet<string>> =>
  Effect.promise(async () => {
    const names = new Set<string>();
    try {
      for await (const entry of Deno.readDir(join(jobDir, "parts"))) {
        if (entry.isFile && /^s\d+-\d+\.json$/.test(entry.name)) names.add(entry.name);
      }
    } catch { /* no parts folder yet: nothing finished */ }
    return names;
  });

/** The name `finishedChunks` lists for a chunk. */
export const partName = (chunk: { source: number; start: number }): string =>
  `s${chunk.source}-${chunk.start}.json`;
