/**
 * Copy a model into a fitted-detector folder and hash what was copied, so the folder runs
 * without the original and a changed byte is caught on load. A model is a file (`x.onnx`), a
 * folder (grood's own, a tfjs model folder) or a tfjs `model.json` with the weight files its
 * manifest lists.
 *
 * @module
 */
import { basename, dirname, join, relative } from "node:path";
import { Effect } from "effect";
import { type IoError, sha256Hex, tryIo } from "../io/files.ts";
import { ModelUnreadable } from "../models/errors.ts";
import type { FileEntry } from "./manifest.ts";

/** The copied files and the path `openModel` opens, relative to the folder. */
export interface CopiedModel {
  readonly path: string;
  readonly files: ReadonlyArray<FileEntry>;
  readonly sha256: string;
}

/** sha256 over the sorted file list (path and sha256 of each): the model's content key. */
export const contentKey = (files: ReadonlyArray<FileEntry>): string =>
  sha256Hex(
    new TextEncoder().encode(
      [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
        .map((f) => `${f.path}:${f.sha256}\n`).join(""),
    ),
  );

const walk = async (root: string): Promise<Array<string>> => {
  const out: Array<string> = [];
  for await (const entry of Deno.readDir(root)) {
    const path = join(root, entry.name);
    if (entry.isDirectory) out.push(...(await walk(path)));
    else if (entry.isFile) out.push(path);
  }
  return out.sort();
};

/** The files a model consists of (absolute), and the path to open relative to their root. */
const modelFiles = (model: string) =>
  Effect.gen(function* () {
    const info = yield* Effect.tryPromise({
      try: () => Deno.stat(model),
      catch: () => new ModelUnreadable({ model, problem: "no such file or folder" }),
    });
    if (info.isDirectory) {
      const files = yield* tryIo(model, "list", () => walk(model));
      return { root: model, files, open: "" };
    }
    if (basename(model) === "model.json") {
      // A tfjs model.json: itself and the weight files its manifest names, nothing else.
      const json = yield* Effect.tryPromise({
        try: async () => JSON.parse(await Deno.readTextFile(model)) as unknown,
        catch: (error) => new ModelUnreadable({ model, problem: `not JSON: ${error}` }),
      });
      const manifest = (json as { weightsManifest?: ReadonlyArray<{ paths?: Array<string> }> })
        .weightsManifest ?? [];
      const weights = manifest.flatMap((group) => group.paths ?? []);
      return {
        root: dirname(model),
        files: [model, ...weights.map((w) => join(dirname(model), w))],
        open: "model.json",
      };
    }
    return { root: dirname(model), files: [model], open: basename(model) };
  });

/**
 * Copy the model at `model` into `into` and hash every file (`into` undefined: only hash).
 * `prefix` is the copy's path relative to the fitted folder (recorded in the file list).
 */
export const copyModel = (
  model: string,
  into: string | undefined,
  prefix: string,
): Effect.Effect<CopiedModel, ModelUnreadable | IoError> =>
  Effect.gen(function* () {
    const { root, files, open } = yield* modelFiles(model);
    const entries: Array<FileEntry> = [];
    for (const file of files) {
      const rel = relative(root, file);
      const bytes = yield* Effect.tryPromise({
        try: () => Deno.readFile(file),
        catch: () => new ModelUnreadable({ model, problem: `cannot read its file ${file}` }),
      });
      if (into !== undefined) {
        const target = join(into, rel);
        yield* tryIo(target, "write", async () => {
          await Deno.mkdir(dirname(target), { recursive: true });
          await Deno.writeFile(target, bytes);
        });
      }
      entries.push({ path: join(prefix, rel), bytes: bytes.length, sha256: sha256Hex(bytes) });
    }
    return {
      path: open === "" ? prefix : join(prefix, open),
      files: entries,
      sha256: contentKey(entries),
    };
  });
