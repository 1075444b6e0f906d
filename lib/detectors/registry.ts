/**
 * The detector registry: one table ({@link DETECTORS}) from which the spec union, the baseline
 * list, `deno task reproduce`'s detectors, the CLI's `--detector` choices and the docs' table
 * derive. Adding a detector: its file exports the detector and its entry, plus one line here.
 *
 * @module
 */
import { decodeStrict, type InvalidInput } from "../decode.ts";
import { type InputCheckError, withInputChecks } from "./checks.ts";
import { Effect, Schema } from "effect";
import { ashBinaryEntry, ashEntry, ashPruneEntry } from "./ash.ts";
import type { Detector, TaggedFailure } from "./detector.ts";
import { energyEntry } from "./energy.ts";
import type { AnyDetectorEntry, DetectorEntry, EntryError } from "./entry.ts";
import { gradNormEntry } from "./gradnorm.ts";
import {
  groodDistanceEntry,
  groodEntry,
  groodNoMixupEntry,
  groodTunedTemperatureEntry,
  groodValidationBatchEntry,
  groodValidationEntry,
} from "./grood_variants.ts";
import { knnEntry } from "./knn.ts";
import { mahalanobisEntry } from "./mahalanobis.ts";
import { maxLogitEntry } from "./maxlogit.ts";
import { mspEntry } from "./msp.ts";
import { odinEntry } from "./odin.ts";
import { reactEntry, reactValidationEntry } from "./react.ts";
import { vimEntry } from "./vim.ts";
import { genEntry } from "./gen.ts";
import { rmdsEntry } from "./rmds.ts";
import { scaleEntry } from "./scale.ts";
import { fdbdEntry } from "./fdbd.ts";
import { nnGuideEntry } from "./nnguide.ts";
import { sheEntry } from "./she.ts";
import { klmEntry } from "./klm.ts";
import { diceEntry } from "./dice.ts";

/** Every registered detector, in report order. */
export const DETECTORS = [
  groodEntry,
  groodNoMixupEntry,
  groodDistanceEntry,
  groodTunedTemperatureEntry,
  groodValidationBatchEntry,
  groodValidationEntry,
  mspEntry,
  maxLogitEntry,
  energyEntry,
  odinEntry,
  mahalanobisEntry,
  knnEntry,
  vimEntry,
  reactEntry,
  reactValidationEntry,
  gradNormEntry,
  ashEntry,
  ashBinaryEntry,
  ashPruneEntry,
  genEntry,
  rmdsEntry,
  scaleEntry,
  fdbdEntry,
  nnGuideEntry,
  sheEntry,
  klmEntry,
  diceEntry,
] as const;

type Entries = typeof DETECTORS;

/** The spec schema of one entry: its kind, an optional table name, and its options. */
export type SpecSchemaOf<E> = E extends DetectorEntry<infer K, infer F, TaggedFailure>
  ? Schema.Struct<
    { readonly kind: Schema.Literal<K>; readonly name: Schema.optionalKey<Schema.String> } & F
  >
  : never;

/** `{ kind, name?, ...options }` for one registered detector. */
export function specSchema<
  K extends string,
  F extends Schema.Struct.Fields,
  E extends TaggedFailure,
>(
  entry: DetectorEntry<K, F, E>,
): SpecSchemaOf<DetectorEntry<K, F, E>> {
  return Schema.Struct({
    kind: Schema.Literal(entry.kind),
    name: Schema.optionalKey(Schema.String),
    ...entry.options.fields,
  }) as unknown as SpecSchemaOf<DetectorEntry<K, F, E>>;
}

/** Any detector with its options, as a spec (options left out take their defaults). */
export const DetectorSpec: Schema.Union<
  { readonly [I in keyof typeof DETECTORS]: SpecSchemaOf<(typeof DETECTORS)[I]> }
> = Schema.Union(
  DETECTORS.map((entry) => specSchema(entry as AnyDetectorEntry)) as unknown as {
    readonly [I in keyof Entries]: SpecSchemaOf<Entries[I]>;
  },
);
/** A decoded detector spec: every option with a default is filled in. */
export type DetectorSpec = typeof DetectorSpec.Type;
/** A detector spec as written (options may be left out). */
export type DetectorSpecInput = typeof DetectorSpec.Encoded;
/** The kind of a registered detector. */
export type DetectorKind = (typeof DETECTORS)[number]["kind"];

/** Every registered kind, in report order (the CLI's `--detector` choices). */
export const DETECTOR_KINDS: ReadonlyArray<DetectorKind> = DETECTORS.map((e) => e.kind);

/** The baselines (other methods than GROOD and its variants), by kind. */
export const BASELINES: ReadonlyArray<DetectorKind> = DETECTORS
  .filter((e) => e.family === "baseline").map((e) => e.kind);

/** The detectors `deno task reproduce` runs, each with its defaults. */
export const REPRODUCE_DETECTORS: ReadonlyArray<DetectorSpecInput> = DETECTORS
  .filter((e) => e.reproduce).map((e) => ({ kind: e.kind }) as DetectorSpecInput);

/** The registry entry of a kind. */
export function detectorEntry(kind: DetectorKind): AnyDetectorEntry {
  return DETECTORS.find((e) => e.kind === kind)! as AnyDetectorEntry;
}

/**
 * Build the detector a decoded spec describes, its inputs checked at the edge
 * (`withInputChecks`). GROOD's stages use the context's `StageCache` (off unless provided).
 */
export function makeDetector(spec: DetectorSpec): Detector {
  return makeDetectorIn(DETECTORS, spec) as Detector;
}

/** A list of detector entries: `DETECTORS`, or `[...DETECTORS, mine]` with a user's own. */
export type DetectorEntries = ReadonlyArray<AnyDetectorEntry>;

/** A detector spec as written, for the entries `Es` (the kinds they register, their options). */
export type DetectorSpecInputOf<Es extends DetectorEntries> = SpecSchemaOf<Es[number]>["Encoded"];

/** A decoded detector spec for the entries `Es`. */
export type DetectorSpecOf<Es extends DetectorEntries> = SpecSchemaOf<Es[number]>["Type"];

/** The spec schema of any detector among `entries` (`DetectorSpec` for `DETECTORS`). */
export function detectorSpecSchema<Es extends DetectorEntries>(
  entries: Es,
): Schema.Codec<DetectorSpecOf<Es>, DetectorSpecInputOf<Es>> {
  if ((entries as DetectorEntries) === DETECTORS) return DetectorSpec as never;
  return Schema.Union(entries.map((entry) => specSchema(entry))) as never;
}

/** Kinds registered more than once among `entries`. */
export function duplicateKinds(entries: DetectorEntries): ReadonlyArray<string> {
  const kinds = entries.map((e) => e.kind);
  return [...new Set(kinds.filter((kind, i) => kinds.indexOf(kind) !== i))];
}

/** {@link makeDetector} over `entries` (grood's and a user's), behind the same edge checks. */
export function makeDetectorIn<Es extends DetectorEntries>(
  entries: Es,
  spec: DetectorSpecOf<Es>,
): Detector<EntryError<Es[number]> | InputCheckError> {
  const { kind, name, ...options } = spec as { kind: string; readonly name?: string };
  const entry = entries.find((e) => e.kind === kind)!;
  return withInputChecks(entry.make(options, name ?? entry.title)) as never;
}

/**
 * Decode a detector spec (defaults filled in), strictly: a wrong value or an undeclared key
 * (`{"kind":"grood","kk":5}`) fails with an `InvalidInput` naming it and the nearest valid one.
 */
export const decodeDetector = (
  input: unknown,
  source = "the detector spec",
): Effect.Effect<DetectorSpec, InvalidInput> => decodeStrict(DetectorSpec, source)(input);

/**
 * Decode a spec and build its detector.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { buildDetector } from "./registry.ts";
 * const knn = Effect.runSync(buildDetector({ kind: "knn", k: 5, name: "KNN k=5" }));
 * if (knn.name !== "KNN k=5" || !knn.description.includes("k = 5")) throw new Error("wrong");
 * ```
 */
export const buildDetector = (input: unknown): Effect.Effect<Detector, InvalidInput> =>
  Effect.map(decodeDetector(input), makeDetector);

/** The defaults of an entry's options (decoding an empty object fills them in). */
export function optionDefaults(entry: AnyDetectorEntry): Readonly<Record<string, unknown>> {
  const options = entry.options as unknown as Schema.Struct<Record<never, never>>;
  return Schema.decodeUnknownSync(options)({}) as Record<string, unknown>;
}

/** The docs' detector table (Markdown): kind, name, family, source, options with defaults. */
export function detectorTableMarkdown(): string {
  const format = (value: unknown) => JSON.stringify(value).replaceAll("|", "\\|");
  const rows = (DETECTORS as DetectorEntries).map((entry) => {
    const defaults = optionDefaults(entry);
    const options = Object.keys(entry.options.fields).map((key) =>
      key in defaults ? `\`${key}\` = \`${format(defaults[key])}\`` : `\`${key}\` (optional)`
    );
    return `| \`${entry.kind}\` | ${entry.title} | ${entry.family} | ${entry.source} | ${
      options.length === 0 ? "—" : options.join(", ")
    } |`;
  });
  return [
    "| kind | name | family | source | options (defaults) |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
  ].join("\n");
}
