/**
 * The k-NN index kinds a spec can name: one line each in {@link INDEX_KINDS}, one file each in
 * `kinds/`; saving and loading (`persist.ts`) go through the same list. A user's own index needs
 * no entry: pass an `IndexBuilder` value as GROOD's `index` instead.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { decodeStrict } from "../decode.ts";
import { InvalidParameter } from "../errors.ts";
import type { Matrix } from "../matrix.ts";
import type { AnyIndexKind, BuildContext, IndexBuildError } from "./kind.ts";
import { exactKind } from "./kinds/exact.ts";
import { hnswKind } from "./kinds/hnsw.ts";
import { ivfKind } from "./kinds/ivf.ts";
import type { NearestNeighbourIndex } from "./types.ts";

/** Every index kind a spec can name. */
export const INDEX_KINDS = [
  exactKind,
  ivfKind,
  hnswKind,
] as const satisfies ReadonlyArray<AnyIndexKind>;

/**
 * A registered index kind and its options, tagged by `kind`: `{ "kind": "exact" }`,
 * `{ "kind": "ivf", "nprobe"?, … }`, `{ "kind": "hnsw", "m"?, "efConstruction"?, "efSearch"?,
 * … }`. Decode it strictly (`decodeStrict`): an unknown kind or option is refused by name.
 */
export const IndexSpec: Schema.Union<
  {
    readonly [I in keyof typeof INDEX_KINDS]: (typeof INDEX_KINDS)[I] extends
      { readonly spec: infer S } ? S : never;
  }
> = Schema.Union(INDEX_KINDS.map((kind) => kind.spec) as unknown as typeof IndexSpec.members);
/** A registered index kind and its options. */
export type IndexSpec = typeof IndexSpec.Type;

/** The registered kind named `kind`, if any. */
export const indexKind = (kind: string): AnyIndexKind | undefined =>
  INDEX_KINDS.find((k) => k.kind === kind);

/**
 * Build an index of a registered kind over the rows of `points`. The spec is decoded strictly
 * first: an unknown kind or option is an `InvalidParameter` naming it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { buildIndex } from "./registry.ts";
 * import { matrix } from "../matrix.ts";
 * const points = matrix(4, 2, [0, 0, 0, 1, 9, 9, 9, 10]);
 * const index = Effect.runSync(
 *   buildIndex({ kind: "ivf", lists: 2, nprobe: 2 }, points, { name: "demo", seed: 0 }),
 * );
 * const { indices } = Effect.runSync(index.search(matrix(1, 2, [9, 8]), 1));
 * index.dispose();
 * if (indices[0] !== 2) throw new Error("wrong neighbour");
 * ```
 */
export const buildIndex = (
  spec: IndexSpec,
  points: Matrix,
  context: BuildContext,
): Effect.Effect<NearestNeighbourIndex, IndexBuildError> =>
  // Decoded here, whoever calls: untyped code (a notebook, JSON.parse) may pass anything.
  decodeStrict(IndexSpec, "index spec")(spec).pipe(
    Effect.mapError((error) =>
      new InvalidParameter({
        name: "index spec",
        value: spec,
        expected: `the spec of a registered kind (${error.message})`,
      })
    ),
    Effect.flatMap((decoded) => indexKind(decoded.kind)!.build(points, decoded, context)),
  );
