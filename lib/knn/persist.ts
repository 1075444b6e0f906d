/**
 * Save and load indexes: the points as `.npy` (exact, HNSW, IVF), the HNSW graph in hnswlib's
 * format, a usearch index in usearch's (vectors included), and an `index.json` with the kind,
 * shape, parameters and a sha256 of each file, checked on load.
 *
 * @module
 */
import { Effect } from "effect";
import { join } from "node:path";
import type { Matrix } from "../matrix.ts";
import { sha256Hex, writeFileAtomic, writeJsonAtomic } from "../io/files.ts";
import { decodeNpy, encodeNpy } from "../io/npy.ts";
import {
  CorruptIndex,
  type HnswUnavailable,
  IndexIoError,
  type IndexTooLarge,
  type NonFiniteVector,
  type UsearchUnavailable,
} from "./errors.ts";
import { exactIndex } from "./exact.ts";
import { loadHnsw, wrapHnsw, writeHnswGraph } from "./hnsw.ts";
import { ivfIndex } from "./ivf.ts";
import type { HnswParams, IvfSettings, NearestNeighbourIndex } from "./types.ts";
import { loadUsearch, wrapUsearch } from "./usearch.ts";

const METADATA_FILE = "index.json";
const POINTS_FILE = "points.npy";
const GRAPH_FILE = "graph.hnsw";
const USEARCH_FILE = "index.usearch";
const FORMAT = "grood-knn-index";

/** The metadata written next to a saved index. */
export interface IndexMetadata {
  /** Always `grood-knn-index`. */
  readonly format: typeof FORMAT;
  /** Format version. */
  readonly version: 1;
  /** Which index the folder holds. */
  readonly kind: "exact" | "hnsw" | "usearch" | "ivf";
  /** Number of points. */
  readonly size: number;
  /** Columns of each point. */
  readonly dim: number;
  /** HNSW parameters (usearch's as HNSW's); null for the exact index. */
  readonly params: HnswParams | null;
  /** The points file (`.npy`, float32) and its sha256; null for usearch (in its own file). */
  readonly points: { readonly file: string; readonly sha256: string } | null;
  /** The graph file (hnswlib's or usearch's format) and its sha256; null for exact and IVF. */
  readonly graph: { readonly file: string; readonly sha256: string } | null;
  /** An IVF index's settings: loading rebuilds the same lists from the points (deterministic). */
  readonly ivf?: IvfSettings;
}

const io = <A>(path: string, run: () => Promise<A>): Effect.Effect<A, IndexIoError> =>
  Effect.tryPromise({ try: run, catch: (cause) => new IndexIoError({ path, cause }) });

/**
 * Save an index to folder `dir`: `points.npy` (float32, size × dim), for HNSW the graph
 * `graph.hnsw` (hnswlib's own format), and `index.json` (kind, size, dim, params, sha256 of
 * each file). Every file is written atomically and `index.json` last, so a folder with an
 * `index.json` is complete.
 */
export const saveIndex = (
  index: NearestNeighbourIndex,
  dir: string,
): Effect.Effect<IndexMetadata, IndexIoError> =>
  Effect.gen(function* () {
    if (index.kind === "ivf" && index.points === undefined) {
      return yield* Effect.fail(
        new IndexIoError({
          path: dir,
          cause: new Error(`${index.name} was built from chunks and keeps no points to save`),
        }),
      );
    }
    yield* io(dir, () => Deno.mkdir(dir, { recursive: true }));
    let pointsEntry: IndexMetadata["points"] = null;
    if (index.points !== undefined) {
      const pointsPath = join(dir, POINTS_FILE);
      const pointsBytes = yield* encodeNpy(index.points.data, [index.size, index.dim], pointsPath)
        .pipe(Effect.mapError((cause) => new IndexIoError({ path: pointsPath, cause })));
      yield* io(pointsPath, () => writeFileAtomic(pointsPath, pointsBytes));
      pointsEntry = { file: POINTS_FILE, sha256: sha256Hex(pointsBytes) };
    }
    let graphEntry: IndexMetadata["graph"] = null;
    if (index.kind === "hnsw" || index.kind === "usearch") {
      const graphPath = join(dir, index.kind === "usearch" ? USEARCH_FILE : GRAPH_FILE);
      const tmp = `${graphPath}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
      yield* io(graphPath, async () => {
        try {
          await writeHnswGraph(index, tmp);
          const file = await Deno.open(tmp, { write: true });
          try {
            await file.sync(); // as writeFileAtomic: data on disk before the rename
          } finally {
            file.close();
          }
          await Deno.rename(tmp, graphPath);
        } catch (error) {
          await Deno.remove(tmp).catch(() => {});
          throw error;
        }
      });
      const bytes = yield* io(graphPath, () => Deno.readFile(graphPath));
      graphEntry = {
        file: index.kind === "usearch" ? USEARCH_FILE : GRAPH_FILE,
        sha256: sha256Hex(bytes),
      };
    }
    const metadata: IndexMetadata = {
      format: FORMAT,
      version: 1,
      kind: index.kind,
      size: index.size,
      dim: index.dim,
      params: index.params ?? null,
      points: pointsEntry,
      graph: graphEntry,
      ...(index.ivf === undefined ? {} : { ivf: index.ivf }),
    };
    const metadataPath = join(dir, METADATA_FILE);
    yield* io(metadataPath, () => writeJsonAtomic(metadataPath, metadata));
    return metadata;
  });

/** Check the parsed `index.json`; a string is the problem. */
function checkMetadata(value: unknown): IndexMetadata | string {
  if (typeof value !== "object" || value === null) return "index.json is not an object";
  const m = value as Record<string, unknown>;
  if (m.format !== FORMAT || m.version !== 1) {
    return `index.json format is ${JSON.stringify(m.format)} v${m.version}, expected ${FORMAT} v1`;
  }
  if (m.kind !== "exact" && m.kind !== "hnsw" && m.kind !== "usearch" && m.kind !== "ivf") {
    return `unknown kind ${JSON.stringify(m.kind)}`;
  }
  const count = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  if (!count(m.size) || !count(m.dim)) return "size and dim must be non-negative integers";
  const file = (v: unknown) =>
    typeof v === "object" && v !== null &&
    typeof (v as Record<string, unknown>).file === "string" &&
    /^[0-9a-f]{64}$/.test(String((v as Record<string, unknown>).sha256));
  if (m.kind !== "usearch" && !file(m.points)) return "points entry needs a file name and a sha256";
  if (m.kind === "ivf") {
    const v = m.ivf as Record<string, unknown> | undefined;
    if (
      typeof v !== "object" || v === null ||
      !["lists", "nprobe", "iterations"].every((key) => count(v[key])) ||
      !Number.isSafeInteger(v.seed)
    ) {
      return "ivf settings need integer lists, nprobe, iterations and seed";
    }
  } else if (m.kind !== "exact") {
    const p = m.params as Record<string, unknown> | null;
    if (
      p === null || typeof p !== "object" ||
      !["M", "efConstruction", "efSearch"].every((key) => count(p[key])) ||
      !Number.isSafeInteger(p.seed)
    ) {
      return `${m.kind} params need integer M, efConstruction, efSearch and seed`;
    }
    if (!file(m.graph)) return `${m.kind} graph entry needs a file name and a sha256`;
  }
  return m as unknown as IndexMetadata;
}

/**
 * Load an index saved by {@link saveIndex}, verifying the checksums and shapes recorded in
 * `index.json`. The loaded index is named by `dir` in errors.
 */
export const loadIndex = (
  dir: string,
): Effect.Effect<
  NearestNeighbourIndex,
  | CorruptIndex
  | IndexIoError
  | HnswUnavailable
  | UsearchUnavailable
  | NonFiniteVector
  | IndexTooLarge
> =>
  Effect.gen(function* () {
    const corrupt = (problem: string) => Effect.fail(new CorruptIndex({ path: dir, problem }));
    const metadataPath = join(dir, METADATA_FILE);
    const text = yield* io(metadataPath, () => Deno.readTextFile(metadataPath));
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      return yield* corrupt(`index.json is not JSON (${String(error)})`);
    }
    const metadata = checkMetadata(parsed);
    if (typeof metadata === "string") return yield* corrupt(metadata);
    if (metadata.kind === "usearch") return yield* loadUsearchFile(dir, metadata);

    const pointsPath = join(dir, metadata.points!.file);
    const pointsBytes = yield* io(pointsPath, () => Deno.readFile(pointsPath));
    if (sha256Hex(pointsBytes) !== metadata.points!.sha256) {
      return yield* corrupt(`${metadata.points!.file} does not match its sha256 in index.json`);
    }
    const array = yield* decodeNpy(pointsBytes, pointsPath).pipe(
      Effect.mapError((error) => new CorruptIndex({ path: dir, problem: error.message })),
    );
    if (
      array.dtype !== "<f4" || array.shape.length !== 2 || array.shape[0] !== metadata.size ||
      array.shape[1] !== metadata.dim
    ) {
      return yield* corrupt(
        `${metadata.points!.file} is ${array.dtype} (${
          array.shape.join(", ")
        }), index.json says <f4 (${metadata.size}, ${metadata.dim})`,
      );
    }
    const points: Matrix = {
      rows: metadata.size,
      cols: metadata.dim,
      data: array.data as Float32Array,
    };
    if (metadata.kind === "exact") return yield* exactIndex(points, { name: dir });
    if (metadata.kind === "ivf") {
      return yield* ivfIndex(points, { ...metadata.ivf!, name: dir }).pipe(
        Effect.catchTag(
          "InvalidParameter",
          (error) => corrupt(`index.json's ivf settings: ${error.message}`),
        ),
      );
    }

    const graphEntry = metadata.graph!;
    const params = metadata.params!;
    const graphPath = join(dir, graphEntry.file);
    const graphBytes = yield* io(graphPath, () => Deno.readFile(graphPath));
    if (sha256Hex(graphBytes) !== graphEntry.sha256) {
      return yield* corrupt(`${graphEntry.file} does not match its sha256 in index.json`);
    }
    const hnsw = yield* loadHnsw;
    const graph = new hnsw.HierarchicalNSW("l2", metadata.dim);
    try {
      graph.readIndexSync(graphPath);
    } catch (error) {
      return yield* corrupt(`${graphEntry.file} is not a readable HNSW graph (${String(error)})`);
    }
    if (graph.getCurrentCount() !== metadata.size || graph.getNumDimensions() !== metadata.dim) {
      return yield* corrupt(
        `${graphEntry.file} holds ${graph.getCurrentCount()} points of dim ${graph.getNumDimensions()}, index.json says ${metadata.size} of ${metadata.dim}`,
      );
    }
    graph.setEf(params.efSearch);
    return wrapHnsw(graph, points, params, dir);
  });

/** Load a saved usearch index (its file holds the vectors and the graph). */
const loadUsearchFile = (
  dir: string,
  metadata: IndexMetadata,
): Effect.Effect<NearestNeighbourIndex, CorruptIndex | IndexIoError | UsearchUnavailable> =>
  Effect.gen(function* () {
    const corrupt = (problem: string) => Effect.fail(new CorruptIndex({ path: dir, problem }));
    const entry = metadata.graph!;
    const params = metadata.params!;
    const path = join(dir, entry.file);
    const bytes = yield* io(path, () => Deno.readFile(path));
    if (sha256Hex(bytes) !== entry.sha256) {
      return yield* corrupt(`${entry.file} does not match its sha256 in index.json`);
    }
    const { Index, MetricKind, ScalarKind } = yield* loadUsearch;
    const native = new Index({
      dimensions: Math.max(metadata.dim, 1),
      metric: MetricKind.L2sq,
      quantization: ScalarKind.F32,
      connectivity: params.M,
      expansion_add: params.efConstruction,
      expansion_search: params.efSearch,
      multi: false,
    });
    try {
      native.load(path);
    } catch (error) {
      return yield* corrupt(`${entry.file} is not a readable usearch index (${String(error)})`);
    }
    if (native.size() !== metadata.size || native.dimensions() !== metadata.dim) {
      return yield* corrupt(
        `${entry.file} holds ${native.size()} points of dim ${native.dimensions()}, index.json says ${metadata.size} of ${metadata.dim}`,
      );
    }
    const usearch = {
      connectivity: params.M,
      expansionAdd: params.efConstruction,
      expansionSearch: params.efSearch,
      threads: 0,
    };
    return wrapUsearch(native, metadata.size, metadata.dim, usearch, dir);
  });
