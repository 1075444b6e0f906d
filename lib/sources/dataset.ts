/**
 * A split of a registered ID dataset (`lib/data/datasets.ts`), checksummed, labelled:
 * `{"kind": "dataset", "name": "mnist", "split": "train"}`.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { type DatasetName, datasets, loadSplit } from "../data/datasets.ts";
import { inMemorySource } from "./in_memory.ts";
import { GREY_28, type OpenContext, type SourceKind } from "./source.ts";

/** The spec of a registered dataset's split. */
export const DatasetSourceSpec: Schema.Struct<{
  readonly kind: Schema.Literal<"dataset">;
  readonly name: Schema.Literals<readonly [DatasetName, ...DatasetName[]]>;
  readonly split: Schema.Literals<readonly ["train", "test"]>;
}> = Schema.Struct({
  kind: Schema.Literal("dataset"),
  name: Schema.Literals(Object.keys(datasets) as [DatasetName, ...DatasetName[]]),
  split: Schema.Literals(["train", "test"]),
});

const open = Effect.fn("openDataset")(function* (
  spec: typeof DatasetSourceSpec.Type,
  ctx: OpenContext,
) {
  const set = yield* loadSplit(spec.name, spec.split);
  return inMemorySource({ ...set, description: set.name, shape: GREY_28 }, ctx);
});

/** A registered ID dataset's split (checksummed by the registry). */
export const datasetSource: SourceKind<typeof DatasetSourceSpec> = {
  kind: "dataset",
  schema: DatasetSourceSpec,
  open,
};
