/**
 * The cluster's one entity: `GroodScoreChunk` scores one chunk of a job (a source of the job's
 * plan and an index range) and writes its part file (`Score`), or maps one chunk of a
 * distributed fit (`Fit`). The message names the chunk, never pixels:
 * a stored message is a few hundred bytes whatever the images are. Messages are persisted in
 * PostgreSQL (`ClusterSchema.Persisted`), so a chunk whose runner dies is delivered again to the
 * shard's next owner; delivery is at least once, and scoring a chunk again rewrites the same part.
 *
 * @module
 */
import { Schema } from "effect";
import { ClusterSchema, Entity } from "effect/cluster";
import { Rpc } from "effect/rpc";

/** What a message names: the job (folder and id), a source of its plan, and images [start, end). */
export const ChunkRequest = {
  /** The job's id (`JobPlan.id`): a runner refuses a chunk of a job whose folder holds another. */
  job: Schema.String,
  /** The job folder (absolute, on storage every runner sees at the same path). */
  jobDir: Schema.String,
  /** Index of the source in the plan's `sources`. */
  source: Schema.Int,
  start: Schema.Int,
  end: Schema.Int,
  /**
   * Raised by the driver only when a stored reply says a chunk was done but its part is missing
   * (deleted by hand): a new primary key, so the chunk is scored again instead of deduplicated.
   */
  attempt: Schema.Int,
  /**
   * The driver run that sent it (random per run; not in the primary key): a runner's failure
   * echoes it, so a driver started again tells a failure stored by an earlier run from its own.
   */
  run: Schema.String,
};

/** The chunk's primary key in PostgreSQL: a message sent twice is stored and answered once. */
export const chunkKey = (
  chunk: { readonly job: string; readonly source: number; readonly start: number },
): string => `${chunk.job}/${chunk.source}/${chunk.start}`;

/** What a runner answers once the part is written. */
export const ChunkDone = Schema.Struct({
  images: Schema.Int,
  invalid: Schema.Int,
  /** The runner that scored it (its address), for the driver's progress and logs. */
  runner: Schema.String,
  /** Seconds spent reading and scoring (not queueing). */
  seconds: Schema.Number,
});
/** A runner's answer for a finished chunk. */
export type ChunkDone = typeof ChunkDone.Type;

/**
 * A chunk that cannot be scored or mapped: the part is not written, and the driver stops with
 * this (`chunk` is a scoring chunk's key, or a fit chunk's `job/phase/prototypes/start`).
 */
export class ChunkFailed extends Schema.TaggedError<ChunkFailed>()("ChunkFailed", {
  chunk: Schema.String,
  problem: Schema.String,
  /** The driver run whose message failed (`ChunkRequest.run`), set by the runner's handler. */
  run: Schema.optional(Schema.String),
}) {
  override get message(): string {
    return `Cannot ${
      this.chunk.includes("/features/") || this.chunk.includes("/descriptors/") ? "map" : "score"
    } chunk ${this.chunk}: ${this.problem}`;
  }
}

/** The `Score` RPC: persisted, deduplicated by chunk (and attempt). */
export const ScoreRpc = Rpc.make("Score", {
  payload: ChunkRequest,
  success: ChunkDone,
  error: ChunkFailed,
  primaryKey: (chunk) => `${chunkKey(chunk)}/${chunk.attempt}`,
}).annotate(ClusterSchema.Persisted, true)
  // The driver's wait for a reply times out (--chunk-timeout) and it asks again: that must not
  // interrupt the chunk on its runner (the stored reply would be the interruption).
  .annotate(ClusterSchema.Uninterruptible, "client");

/**
 * A chunk of a distributed fit (`grood cluster fit`): the job, a phase (`features`: map images
 * [start, end) of the training stream; `descriptors`: the descriptors of that chunk's kept rows
 * with the job's prototypes file, whose digest `prototypes` names), never pixels.
 */
export const FitChunkRequest = {
  job: Schema.String,
  jobDir: Schema.String,
  phase: Schema.Literals(["features", "descriptors"]),
  start: Schema.Int,
  end: Schema.Int,
  /** sha256 of the job's `prototypes.bin` (descriptors), empty for features. */
  prototypes: Schema.String,
  attempt: Schema.Int,
  /** As `ChunkRequest.run`. */
  run: Schema.String,
};

/** What a runner answers once a fit chunk's part is written. */
export const FitChunkDone = Schema.Struct({
  images: Schema.Int,
  /** Correctly classified images of the chunk (the rows it adds to the index). */
  rows: Schema.Int,
  runner: Schema.String,
  seconds: Schema.Number,
});
/** A runner's answer for a finished fit chunk. */
export type FitChunkDone = typeof FitChunkDone.Type;

/** The primary key of a fit chunk: deduplicated by job, phase, prototypes, chunk and attempt. */
export const fitChunkKey = (
  chunk: {
    readonly job: string;
    readonly phase: string;
    readonly prototypes: string;
    readonly start: number;
  },
): string => `${chunk.job}/${chunk.phase}/${chunk.prototypes.slice(0, 16)}/${chunk.start}`;

/** The `Fit` RPC: persisted, deduplicated by chunk (and attempt). */
export const FitRpc = Rpc.make("Fit", {
  payload: FitChunkRequest,
  success: FitChunkDone,
  error: ChunkFailed,
  primaryKey: (chunk) => `${fitChunkKey(chunk)}/${chunk.attempt}`,
}).annotate(ClusterSchema.Persisted, true)
  .annotate(ClusterSchema.Uninterruptible, "client");

/**
 * The entity every runner serves (scoring and fit chunks); one entity id per chunk spreads
 * chunks over the shards.
 */
export const ChunkScorer = Entity.make("GroodScoreChunk", [ScoreRpc, FitRpc]);

/** The entity id of a fit chunk. */
export const fitEntityId = (
  chunk: { readonly job: string; readonly phase: string; readonly start: number },
): string => `${chunk.job.slice(0, 16)}-${chunk.phase[0]}-${chunk.start}`;

/** The entity id of a chunk. */
export const chunkEntityId = (
  chunk: { readonly job: string; readonly source: number; readonly start: number },
): string => `${chunk.job.slice(0, 16)}-${chunk.source}-${chunk.start}`;
