/**
 * Copy a model (a file, a folder, or a tfjs `model.json` with its weight files) into a fitted
 * folder and hash what was copied, so the folder runs alone and a changed byte is caught.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { Effect } from "effect";
import { type IoError, tryIo } from "../io/files.ts";
import type { LinkLeavesRoot, PathOutsideBase } from "../io/paths.ts";
import type { ModelUnreadable } from "../models/errors.ts";
import { contentKey, hashModel } from "../models/files.ts";
import type { FileEntry } from "./manifest.ts";

/** The copied files and the path `openModel` opens, relative to the folder. */
export interface CopiedModel {
  readonly path: string;
  readonly files: ReadonlyArray<FileEntry>;
  readonly sha256: string;
}

/**
 * Copy the model at `model` into `into` and hash every file (`into` undefined: only hash).
 * `prefix` is the copy's path relative to the fitted folder (recorded in the file list).
 */
export const copyModel = (
  model: string,
  into: string | undefined,
  prefix: string,
): Effect.Effect<CopiedModel, ModelUnreadable | IoError | LinkLeavesRoot | PathOutsideBase> =>
  Effect.gen(function* () {
    const hashed = yield* hashModel(model, (rel, bytes) => {
      if (into === undefined) return Effect.void;
      const target = join(into, rel);
      return tryIo(target, "write", async () => {
        await Deno.mkdir(dirname(target), { recursive: true });
        await Deno.writeFile(target, bytes);
      });
    });
    const entries = hashed.files.map((f) => ({ ...f, path: join(prefix, f.path) }));
    return {
      path: hashed.open === "" ? prefix : join(prefix, hashed.open),
      files: entries,
      sha256: contentKey(entries),
    };
  });
