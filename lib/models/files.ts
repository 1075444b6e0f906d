/**
 * What files a model consists of (a file, a folder, or a tfjs `model.json` with its weight
 * files) and its content hash: its identity in every cache key and fitted folder.
 *
 * @module
 */
import { basename, dirname, relative } from "node:path";
import { Effect } from "effect";
import { IoError, osReason, sha256Hex } from "../io/files.ts";
import { insideBase, LinkLeavesRoot, walkFiles } from "../io/paths.ts";
import { ModelUnreadable } from "./errors.ts";

/** One file of a model: its path (relative to the model's root), size and sha256. */
export interface ModelFileEntry {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
}

/** sha256 over the sorted file list (path and sha256 of each): the model's content key. */
export const contentKey = (files: ReadonlyArray<ModelFileEntry>): string =>
  sha256Hex(
    new TextEncoder().encode(
      [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
        .map((f) => `${f.path}:${f.sha256}\n`).join(""),
    ),
  );

/** What is at a model's path (`Deno.stat`); `ModelUnreadable` names it when nothing is. */
export const statModel = (model: string): Effect.Effect<Deno.FileInfo, ModelUnreadable> =>
  Effect.tryPromise({
    try: () => Deno.stat(model),
    catch: () => new ModelUnreadable({ model, problem: "no such file or folder" }),
  });

/** The files a model consists of, their common root, and the path to open relative to it. */
const modelFiles = (model: string) =>
  Effect.gen(function* () {
    const info = yield* statModel(model);
    if (info.isDirectory) {
      // Links inside the folder are followed; one leading outside is refused.
      const files = yield* Effect.tryPromise({
        try: () => walkFiles(model),
        catch: (error) =>
          error instanceof LinkLeavesRoot
            ? error
            : new IoError({ path: model, operation: "list", reason: osReason(error) }),
      });
      return { root: model, files, open: "" };
    }
    if (basename(model) === "model.json") {
      const json = yield* Effect.tryPromise({
        try: async () => JSON.parse(await Deno.readTextFile(model)) as unknown,
        catch: (error) => new ModelUnreadable({ model, problem: `not JSON: ${error}` }),
      });
      const manifest = (json as { weightsManifest?: ReadonlyArray<{ paths?: Array<string> }> })
        .weightsManifest ?? [];
      // Every weight path stays inside the model's folder (never `../../x/weights.bin`).
      const weights = yield* Effect.forEach(
        manifest.flatMap((group, g) =>
          (group.paths ?? []).map((path, i) => ({ path, key: `weightsManifest[${g}].paths[${i}]` }))
        ),
        ({ path, key }) => insideBase(dirname(model), String(path), `${model} at ${key}`),
      );
      return { root: dirname(model), files: [model, ...weights], open: "model.json" };
    }
    return { root: dirname(model), files: [model], open: basename(model) };
  });

/** Read and hash every file of `model` and the whole; `onFile` sees each file's bytes. */
export const hashModel = (
  model: string,
  onFile: (relativePath: string, bytes: Uint8Array) => Effect.Effect<void, IoError> = () =>
    Effect.void,
) =>
  Effect.gen(function* () {
    const { root, files, open } = yield* modelFiles(model);
    const entries: Array<ModelFileEntry> = [];
    for (const file of files) {
      const rel = relative(root, file);
      const bytes = yield* Effect.tryPromise({
        try: () => Deno.readFile(file),
        catch: () => new ModelUnreadable({ model, problem: `cannot read its file ${file}` }),
      });
      yield* onFile(rel, bytes);
      entries.push({ path: rel, bytes: bytes.length, sha256: sha256Hex(bytes) });
    }
    return { files: entries, sha256: contentKey(entries), open };
  });
