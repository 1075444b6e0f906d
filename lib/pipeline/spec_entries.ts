/**
 * Pipeline specs over detector entries besides `DETECTORS` (`[...DETECTORS, mine]`): the spec's
 * type follows the entries, and decoding refuses a kind none of them registers, by name.
 *
 * @module
 */
import { Effect, Schema } from "effect";
import {
  type DetectorEntries,
  DETECTORS,
  type DetectorSpecInputOf,
  type DetectorSpecOf,
  detectorSpecSchema,
  duplicateKinds,
} from "../detectors/registry.ts";
import { decodeStrict, InvalidInput } from "../decode.ts";
import { decodePipeline, PipelineSpec } from "./spec.ts";

/** A pipeline spec as written for the detector entries `Es` (`runPipeline`'s `detectors`). */
export type PipelineSpecInputOf<Es extends DetectorEntries> =
  & Omit<typeof PipelineSpec.Encoded, "detectors">
  & { readonly detectors: ReadonlyArray<DetectorSpecInputOf<Es>> };

/** A decoded pipeline spec for the detector entries `Es`. */
export type PipelineSpecOf<Es extends DetectorEntries> =
  & Omit<PipelineSpec, "detectors">
  & { readonly detectors: readonly [DetectorSpecOf<Es>, ...Array<DetectorSpecOf<Es>>] };

/** Decode a pipeline spec whose detectors are among `entries` (one kind registered twice fails). */
export const decodePipelineWith = <Es extends DetectorEntries>(
  entries: Es,
  input: unknown,
  source = "pipeline spec",
): Effect.Effect<PipelineSpecOf<Es>, InvalidInput> => {
  const twice = duplicateKinds(entries);
  if (twice.length > 0) {
    return Effect.fail(
      new InvalidInput({
        source: "the detector entries",
        problems: twice.map((kind) => ({
          path: "kind",
          problem: `"${kind}" is registered by more than one entry: give yours another kind`,
        })),
      }),
    );
  }
  if ((entries as DetectorEntries) === DETECTORS) return decodePipeline(input, source) as never;
  const schema = Schema.Struct({
    ...PipelineSpec.fields,
    detectors: Schema.NonEmptyArray(detectorSpecSchema(entries)),
  });
  return decodeStrict(schema, source)(input) as never;
};
