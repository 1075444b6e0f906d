/**
 * A generated OOD set (`lib/data/ood/`, built by `deno task data`), unlabelled 28×28 grey:
 * `{"kind": "ood-set", "name": "letters"}`.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { loadOodSet, OOD_SET_NAMES, type OodSetName } from "../data/ood/mod.ts";
import { inMemorySource } from "./in_memory.ts";
import { GREY_28, type OpenContext, type SourceKind } from "./source.ts";

/** The spec of a generated OOD set. */
export const OodSetSourceSpec: Schema.Struct<{
  readonly kind: Schema.Literal<"ood-set">;
  readonly name: Schema.Literals<readonly [OodSetName, ...OodSetName[]]>;
}> = Schema.Struct({
  kind: Schema.Literal("ood-set"),
  name: Schema.Literals(OOD_SET_NAMES as [OodSetName, ...OodSetName[]]),
});

const open = Effect.fn("openOodSet")(function* (
  spec: typeof OodSetSourceSpec.Type,
  ctx: OpenContext,
) {
  const idx = yield* loadOodSet(spec.name);
  return inMemorySource(
    { description: spec.name, count: idx.dims[0]!, shape: GREY_28, pixels: idx.data },
    ctx,
  );
});

/** A generated OOD set, by name. */
export const oodSetSource: SourceKind<typeof OodSetSourceSpec> = {
  kind: "ood-set",
  schema: OodSetSourceSpec,
  open,
};
