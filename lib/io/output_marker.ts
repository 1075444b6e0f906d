/**
 * The `.grood-output` marker of every output folder grood makes: what it says, reading it back
 * strictly, and listing a folder's entries as a marker lists them (rules: `output_folder.ts`).
 *
 * @module
 */
import { Effect, Schema } from "effect";
import { dirname, join } from "node:path";
import { decodeJsonText, problemsText } from "../decode.ts";
import { regularFileProblem } from "./files.ts";

/** The file grood writes into every output folder it makes: what lets it replace one later. */
export const OUTPUT_MARKER = ".grood-output";

/** Who wrote the folder, as what, when, and (a unit only, not a root) every entry it held. */
const Marker = Schema.Struct({
  writtenBy: Schema.Literal("grood"),
  kind: Schema.String,
  date: Schema.String,
  files: Schema.optional(Schema.Array(Schema.String)),
});

/** The marker of `dir`: absent, unreadable (and why), or what it says. */
export const readMarker = async (
  dir: string,
): Promise<
  { readonly absent: true } | { readonly problem: string } | { readonly marker: typeof Marker.Type }
> => {
  const path = join(dir, OUTPUT_MARKER);
  let text: string;
  try {
    // Only a regular file is read: a named pipe would wait for a writer forever.
    const notFile = await regularFileProblem(path);
    if (notFile !== undefined) return { problem: `${OUTPUT_MARKER}: ${notFile}` };
    text = await Deno.readTextFile(path);
  } catch (error) {
    const absent = error instanceof Deno.errors.NotFound ||
      error instanceof Deno.errors.NotADirectory;
    return absent ? { absent: true } : { problem: String(error) };
  }
  return Effect.runSync(Effect.match(decodeJsonText(Marker, path)(text), {
    onFailure: (error) => ({ problem: problemsText(error) }),
    onSuccess: (marker) => ({ marker }),
  }));
};

/** Every entry under `dir` (links not followed; the marker aside), relative, sorted. */
export const entriesOf = async (dir: string): Promise<Array<string>> => {
  const out: Array<string> = [];
  const walk = async (rel: string): Promise<void> => {
    for await (const entry of Deno.readDir(rel === "" ? dir : join(dir, rel))) {
      if (rel === "" && entry.name === OUTPUT_MARKER) continue;
      const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
      out.push(path);
      if (entry.isDirectory) await walk(path);
    }
  };
  await walk("");
  return out.sort();
};

/** The folders directly inside `dir` whose markers name `kind` (a root's units), sorted. */
export const unitsInside = async (dir: string, kind: string): Promise<Array<string>> => {
  const units: Array<string> = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isDirectory) continue;
    const read = await readMarker(join(dir, entry.name));
    if ("marker" in read && read.marker.kind === kind) units.push(entry.name);
  }
  return units.sort();
};

/** `paths` named for a message: the first three, and how many more. */
export const someOf = (paths: ReadonlyArray<string>): string =>
  paths.slice(0, 3).map((p) => `"${p}"`).join(", ") +
  (paths.length > 3 ? ` and ${paths.length - 3} more` : "");

/** The nearest folder at or above `dir` that grood wrote as a whole (its marker lists files). */
export const enclosingUnit = async (
  dir: string,
): Promise<{ readonly dir: string; readonly kind: string } | undefined> => {
  for (let up = dir;; up = dirname(up)) {
    const read = await readMarker(up);
    if ("marker" in read && read.marker.files !== undefined) {
      return { dir: up, kind: read.marker.kind };
    }
    if (dirname(up) === up) return undefined;
  }
};

/**
 * When a folder is made: now, or `SOURCE_DATE_EPOCH` (seconds, the reproducible-builds
 * convention) when set, so two runs of the same work write the same bytes.
 */
export const creationTime = (): string => {
  const epoch = Deno.env.get("SOURCE_DATE_EPOCH");
  const fixed = new Date(epoch !== undefined && /^\d+$/.test(epoch) ? Number(epoch) * 1000 : NaN);
  // A value beyond what a Date holds (year 275760) is ignored, as a malformed one is.
  return (Number.isNaN(fixed.getTime()) ? new Date() : fixed).toISOString();
};

/** The marker of a folder of `kind`, with its entries when it was written as a unit. */
export const markerText = (kind: string, files?: ReadonlyArray<string>): string =>
  JSON.stringify({ writtenBy: "grood", kind, date: creationTime(), files }) + "\n";
