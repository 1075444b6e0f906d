/**
 * The checks that a fitted-detector folder is the one `fit` wrote, before anything in it is
 * used: the manifest decoded strictly and its digest checked, no file or link it does not list,
 * every listed file's size and sha256, and the model's tap shapes.
 *
 * @module
 */
import { join } from "node:path";
import { Effect } from "effect";
import { decodeStrict } from "../decode.ts";
import { decodeDetector } from "../detectors/registry.ts";
import { regularFileProblem, sha256Hex } from "../io/files.ts";
import { OUTPUT_MARKER } from "../io/output_folder.ts";
import type { FeatureModel } from "../models/model.ts";
import { FittedFolderDamaged } from "./errors.ts";
import {
  digestProblem,
  type FileEntry,
  FITTED_MANIFEST_FILE,
  FITTED_VERSION,
  FittedManifest,
} from "./manifest.ts";

/** A `FittedFolderDamaged` naming the folder, the file and what is wrong with it. */
export const damaged = (folder: string, file: string, problem: string) =>
  new FittedFolderDamaged({ folder, file, problem });

const MANIFEST_MISSING = "missing (is this a folder written by `deno task fit`?)";

/**
 * Refuse `path` unless it is a regular file (a named pipe would make the read wait for a writer
 * forever, a device never end) of `bytes` bytes (when given): checked before it is opened.
 */
const checkRegular = (folder: string, path: string, bytes?: number, missing = "missing") =>
  Effect.gen(function* () {
    const info = yield* Effect.tryPromise({
      try: async () => {
        const problem = await regularFileProblem(join(folder, path));
        return problem === undefined ? await Deno.stat(join(folder, path)) : problem;
      },
      catch: (error) =>
        damaged(
          folder,
          path,
          error instanceof Deno.errors.NotFound ? missing : `unreadable (${error})`,
        ),
    });
    if (typeof info === "string") return yield* damaged(folder, path, info);
    if (bytes !== undefined && info.size !== bytes) {
      return yield* damaged(
        folder,
        path,
        `content differs from the manifest (${info.size} bytes; expected ${bytes} bytes)`,
      );
    }
  });

/** The bytes of a listed file, refused unless their size and sha256 are the manifest's. */
export const readChecked = (folder: string, entry: FileEntry) =>
  Effect.gen(function* () {
    yield* checkRegular(folder, entry.path, entry.bytes);
    const bytes = yield* Effect.tryPromise({
      try: () => Deno.readFile(join(folder, entry.path)),
      catch: (error) =>
        damaged(
          folder,
          entry.path,
          error instanceof Deno.errors.NotFound ? "missing" : `unreadable (${error})`,
        ),
    });
    if (bytes.length !== entry.bytes || sha256Hex(bytes) !== entry.sha256) {
      return yield* damaged(
        folder,
        entry.path,
        `content differs from the manifest (sha256 ${sha256Hex(bytes).slice(0, 12)}…, ` +
          `${bytes.length} bytes; expected ${entry.sha256.slice(0, 12)}…, ${entry.bytes} bytes)`,
      );
    }
    return bytes;
  });

/**
 * Read, decode and check `detector.json`: strict Schema (a wrong field or a key it does not
 * declare is named), then its digest (any edit of any byte is refused, see `manifest.ts`).
 */
export const readManifest = (folder: string): Effect.Effect<FittedManifest, FittedFolderDamaged> =>
  Effect.gen(function* () {
    yield* checkRegular(folder, FITTED_MANIFEST_FILE, undefined, MANIFEST_MISSING);
    const text = yield* Effect.tryPromise({
      try: () => Deno.readTextFile(join(folder, FITTED_MANIFEST_FILE)),
      catch: (error) =>
        damaged(
          folder,
          FITTED_MANIFEST_FILE,
          error instanceof Deno.errors.NotFound ? MANIFEST_MISSING : `unreadable (${error})`,
        ),
    });
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) => damaged(folder, FITTED_MANIFEST_FILE, `not JSON (${error})`),
    });
    const version = (json as { version?: unknown } | null)?.version;
    if (typeof version === "number" && version !== FITTED_VERSION) {
      return yield* damaged(
        folder,
        FITTED_MANIFEST_FILE,
        `folder version ${version}; this grood reads version ${FITTED_VERSION} only`,
      );
    }
    const manifest = yield* Effect.mapError(
      decodeStrict(FittedManifest, FITTED_MANIFEST_FILE)(json),
      (error) => damaged(folder, FITTED_MANIFEST_FILE, error.message),
    );
    const problem = digestProblem(text);
    if (problem !== undefined) return yield* damaged(folder, FITTED_MANIFEST_FILE, problem);
    yield* checkConsistent(folder, manifest);
    return manifest;
  });

/**
 * Refuse a manifest whose parts disagree, even when sealed (a re-sealed hand edit): the kind
 * that is loaded must be the spec's kind, the spec must decode strictly as that kind's options,
 * and there must be one class name per logit (answers name the predicted class by it).
 */
const checkConsistent = (folder: string, manifest: FittedManifest) =>
  Effect.gen(function* () {
    const { kind, spec } = manifest.detector;
    if (spec.kind !== kind) {
      return yield* damaged(
        folder,
        FITTED_MANIFEST_FILE,
        `detector.kind is ${JSON.stringify(kind)} but detector.spec.kind is ` +
          `${JSON.stringify(spec.kind)}`,
      );
    }
    yield* Effect.mapError(
      decodeDetector(spec, `${FITTED_MANIFEST_FILE} at detector.spec`),
      (error) => damaged(folder, FITTED_MANIFEST_FILE, error.message),
    );
    const logits = manifest.model.shapes.logits.reduce((a, b) => a * b, 1);
    if (manifest.model.classNames.length !== logits) {
      return yield* damaged(
        folder,
        FITTED_MANIFEST_FILE,
        `model.classNames holds ${manifest.model.classNames.length} names for ${logits} logits`,
      );
    }
  });

/** Every file and link under `folder` (relative paths), for the check that each is listed. */
const listEntries = (folder: string) =>
  Effect.tryPromise({
    try: async () => {
      const out: Array<{ readonly path: string; readonly link: boolean }> = [];
      const walk = async (rel: string): Promise<void> => {
        for await (const entry of Deno.readDir(rel === "" ? folder : join(folder, rel))) {
          const path = rel === "" ? entry.name : `${rel}/${entry.name}`;
          if (entry.isDirectory) await walk(path);
          else out.push({ path, link: entry.isSymlink });
        }
      };
      await walk("");
      return out;
    },
    catch: (error) => damaged(folder, ".", `cannot be listed (${error})`),
  });

/**
 * Refuse a file the manifest does not list (added after fit; the output-folder marker aside) and
 * a link in place of a file.
 */
export const checkListed = (folder: string, manifest: FittedManifest) =>
  Effect.gen(function* () {
    // The output-folder marker says only that grood wrote the folder; it steers nothing.
    const listed = new Set([
      OUTPUT_MARKER,
      FITTED_MANIFEST_FILE,
      ...manifest.model.files.map((f) => f.path),
      ...manifest.state.map((s) => s.file.path),
    ]);
    for (const entry of yield* listEntries(folder)) {
      if (!listed.has(entry.path)) {
        return yield* damaged(
          folder,
          entry.path,
          "not listed in detector.json (added after the folder was written)",
        );
      }
      if (entry.link) {
        return yield* damaged(folder, entry.path, "a link; a fitted folder holds regular files");
      }
    }
  });

/**
 * Refuse a model whose tap shapes, or whose input (size, channels, layout, scale, mean, std),
 * differ from those the manifest recorded at fit: images are decoded to the manifest's size, and
 * a model that keeps its own preprocessing (grood's CNN) would not apply the manifest's.
 */
export const checkShapes = (folder: string, manifest: FittedManifest, model: FeatureModel) =>
  Effect.gen(function* () {
    const recorded = manifest.model.input;
    for (const key of ["height", "width", "channels", "layout", "scale", "mean", "std"] as const) {
      const [said, own] = [JSON.stringify(recorded[key]), JSON.stringify(model.input[key])];
      if (said !== own) {
        return yield* damaged(
          folder,
          FITTED_MANIFEST_FILE,
          `model.input.${key} is ${said}, the model's own is ${own}`,
        );
      }
    }
    for (const point of ["input", "early", "penultimate", "logits"] as const) {
      const recorded = manifest.model.shapes[point].join(",");
      const actual = model.shapes[point].join(",");
      if (recorded !== actual) {
        return yield* damaged(
          folder,
          manifest.model.path,
          `the model's ${point} shape is [${actual}], the manifest says [${recorded}]`,
        );
      }
    }
  });
