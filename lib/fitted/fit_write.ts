/**
 * The contents of a fitted folder, written into the temporary folder `writeOutputFolder`
 * renames into place: the model copy, the state as `.npy` files, the sealed manifest.
 *
 * @module
 */
import { join } from "node:path";
import { Effect, Schema } from "effect";
import { type IoError, sha256Hex, tryIo } from "../io/files.ts";
import { encodeNpy } from "../io/npy.ts";
import type { LinkLeavesRoot, PathOutsideBase } from "../io/paths.ts";
import type { ModelUnreadable } from "../models/errors.ts";
import { FitDataInvalid } from "./errors.ts";
import { FITTED_MANIFEST_FILE, FittedManifest, sealManifest, type StateEntry } from "./manifest.ts";
import { copyModel } from "./model_files.ts";
import type { StateArray } from "./persist.ts";

/**
 * Fill `tmp`: a copy of `model` (still `modelSha256`, the one fitted on), `state/<name>.npy`
 * for each of `arrays`, and the manifest `manifestOf` builds, sealed. Returns it.
 */
export const fillFittedFolder = (
  tmp: string,
  model: string,
  modelSha256: string,
  arrays: ReadonlyArray<StateArray>,
  manifestOf: (state: ReadonlyArray<StateEntry>) => FittedManifest,
): Effect.Effect<
  FittedManifest,
  FitDataInvalid | ModelUnreadable | IoError | LinkLeavesRoot | PathOutsideBase
> =>
  Effect.gen(function* () {
    const copy = yield* copyModel(model, join(tmp, "model"), "model");
    if (copy.sha256 !== modelSha256) {
      return yield* new FitDataInvalid({
        source: model,
        problem: "the model's files changed while fitting",
      });
    }
    yield* tryIo(join(tmp, "state"), "create", () => Deno.mkdir(join(tmp, "state")));
    const state: Array<StateEntry> = [];
    for (const array of arrays) {
      const file = `state/${array.name}.npy`;
      const bytes = yield* Effect.orDie(encodeNpy(array.data, array.shape, file));
      yield* tryIo(join(tmp, file), "write", () => Deno.writeFile(join(tmp, file), bytes));
      state.push({
        name: array.name,
        description: array.description,
        shape: [...array.shape],
        file: { path: file, bytes: bytes.length, sha256: sha256Hex(bytes) },
      });
    }
    const sealed = sealManifest(Schema.decodeUnknownSync(FittedManifest)(manifestOf(state)));
    yield* tryIo(
      join(tmp, FITTED_MANIFEST_FILE),
      "write",
      () => Deno.writeTextFile(join(tmp, FITTED_MANIFEST_FILE), sealed.text),
    );
    return sealed.manifest;
  });
