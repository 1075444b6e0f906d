/**
 * The k-NN index kinds a spec can name (GROOD's `index` option, the ablation grid's `index`):
 * one line each in {@link INDEX_KINDS}. The specs' choices derive from this list. A user's own
 * index needs no entry: pass an `IndexBuilder` value as GROOD's `index` instead.
 *
 * @module
 */
import type { Effect } from "effect";
import type { InvalidParameter } from "../errors.ts";
import type { Matrix } from "../matrix.ts";
import type {
  HnswUnavailable,
  IndexTooLarge,
  NonFiniteVector,
  UsearchUnavailable,
} from "./errors.ts";
import { exactIndex } from "./exact.ts";
import { hnswIndex } from "./hnsw.ts";
import { ivfIndex, type IvfOptions } from "./ivf.ts";
import type { HnswParams, NearestNeighbourIndex } from "./types.ts";
import { usearchIndex, type UsearchOptions } from "./usearch.ts";

/** What building an index of a registered kind can fail with. */
export type IndexBuildError =
  | NonFiniteVector
  | IndexTooLarge
  | HnswUnavailable
  | UsearchUnavailable
  | InvalidParameter;

/** What every kind's build is given besides the points. */
export interface IndexBuildOptions {
  /** Names the index in errors. */
  readonly name: string;
  /** Seed of a randomised build (HNSW's levels); ignored by deterministic kinds. */
  readonly seed: number;
  /**
   * HNSW's graph parameters (defaults: `HNSW_DEFAULTS`; without `efSearch`, efSearch is
   * calibrated to reach `recallTarget`, default 0.995, see `calibrate.ts`); ignored by other kinds.
   */
  readonly hnsw?: Partial<Omit<HnswParams, "seed">> & { readonly recallTarget?: number };
  /** usearch's graph parameters and threads (defaults: `USEARCH_DEFAULTS`, every core). */
  readonly usearch?: Omit<UsearchOptions, "name">;
  /** IVF's lists and nprobe (defaults: √n lists, nprobe calibrated; see `ivf.ts`). */
  readonly ivf?: Omit<IvfOptions, "name" | "seed">;
}

/** One registered index kind. */
export interface IndexKind {
  /** The name a spec uses. */
  readonly kind: string;
  /** What it is, for the docs. */
  readonly description: string;
  /** Build an index over the rows of `points`. */
  readonly build: (
    points: Matrix,
    options: IndexBuildOptions,
  ) => Effect.Effect<NearestNeighbourIndex, IndexBuildError>;
}

/** Every index kind a spec can name. */
export const INDEX_KINDS = [
  {
    kind: "exact",
    description: "brute force over a WebAssembly SIMD kernel, norm-pruned, float64 re-ranking",
    build: (points, options) => exactIndex(points, { name: options.name }),
  },
  {
    kind: "hnsw",
    description:
      "hnswlib-node's HNSW graph (approximate), efSearch calibrated to a recall@1 target, float64 re-ranking",
    build: (points, options) => {
      const { recallTarget, ...graph } = options.hnsw ?? {};
      return hnswIndex(points, {
        ...graph,
        ...(graph.efSearch === undefined
          ? { calibrate: recallTarget === undefined ? {} : { recallTarget } }
          : {}),
        seed: options.seed,
        name: options.name,
      });
    },
  },
  {
    kind: "usearch",
    description:
      "npm usearch's HNSW graph over float32, built on every core (for large sets), float32 distances",
    build: (points, options) => usearchIndex(points, { ...options.usearch, name: options.name }),
  },
  {
    kind: "ivf",
    description:
      "k-means lists searched exactly by the SIMD kernel (approximate), nprobe calibrated to a recall@1 target",
    build: (points, options) =>
      ivfIndex(points, { ...options.ivf, seed: options.seed, name: options.name }),
  },
] as const satisfies ReadonlyArray<IndexKind>;

/** The name of a registered index kind. */
export type IndexKindName = (typeof INDEX_KINDS)[number]["kind"];

/** The registered kinds' names, for spec Schemas (`Schema.Literals(INDEX_KIND_NAMES)`). */
export const INDEX_KIND_NAMES: readonly [IndexKindName, ...Array<IndexKindName>] = INDEX_KINDS.map((
  k,
) => k.kind) as unknown as readonly [IndexKindName, ...Array<IndexKindName>];

/** Build an index of a registered kind. */
export const buildIndex = (
  kind: IndexKindName,
  points: Matrix,
  options: IndexBuildOptions,
): Effect.Effect<NearestNeighbourIndex, IndexBuildError> =>
  INDEX_KINDS.find((k) => k.kind === kind)!.build(points, options);
