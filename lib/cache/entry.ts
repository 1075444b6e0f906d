/**
 * The `entry.json` of a stage-cache entry, decoded strictly: an undeclared key, a wrong type or
 * text that is not JSON is refused, naming the file (the cache then recomputes the entry).
 *
 * @example An extra key is refused by name
 * ```ts
 * import { Effect } from "effect";
 * import { decodeEntryJson } from "./entry.ts";
 * const text = JSON.stringify({ stage: "s", key: "k", parts: {}, arrays: {}, extra: 1 });
 * const exit = Effect.runSyncExit(decodeEntryJson("/cache/s/k/entry.json")(text));
 * if (exit._tag !== "Failure" || !String(exit.cause).includes("unknown key extra")) {
 *   throw new Error("expected the extra key refused");
 * }
 * ```
 *
 * @module
 */
import { type Effect, Schema } from "effect";
import { decodeJsonText, type InvalidInput } from "../decode.ts";

const Count = Schema.Int.pipe(Schema.check(Schema.isGreaterThanOrEqualTo(0)));

/** One stored array: its `.npy` file (inside the entry), its shape and the file's sha256. */
const CacheArray = Schema.Struct({
  file: Schema.String,
  shape: Schema.Array(Count),
  sha256: Schema.String,
});

/** The content of an entry's `entry.json`. */
export const CacheEntry = Schema.Struct({
  stage: Schema.String,
  key: Schema.String,
  /** The key's parts (what the output depends on), for people reading the cache. */
  parts: Schema.Unknown,
  /** Rows (images, samples) the output holds, when the codec counts them. */
  rows: Schema.optionalKey(Count),
  /** The codec's meta data (absent when the codec stores none). */
  meta: Schema.optionalKey(Schema.Unknown),
  arrays: Schema.Record(Schema.String, CacheArray),
});

/** The content of an entry's `entry.json`. */
export type CacheEntry = typeof CacheEntry.Type;

/** A decoder of the text of the `entry.json` at `path`, failing with an error naming it. */
export const decodeEntryJson = (
  path: string,
): (text: string) => Effect.Effect<CacheEntry, InvalidInput> => decodeJsonText(CacheEntry, path);
