/**
 * The checks that a fitted-detector folder is the one `fit` wrote, before anything in it is
 * used: the manifest (strict, its digest), no unlisted file or link, each listed file's size
 * and sha256, the model's input and tap shapes.
 *
 * @module
 */
import { join } from "node:path";
import { Effect } from "effect";
import { decodeStrict } from "../decode.ts";
import { decodeDetector } from "../detectors/registry.ts";
import { NotRegularFile, sha256Hex, statRegularFile } from "../io/files.ts";
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

class Refused extends Error {}

/** `read` of `path` once a regular file (a named pipe would hang the read) of `bytes` bytes. */
const readRegular = <A>(
  folder: string,
  path: string,
  read: (path: string) => Promise<A>,
  bytes?: number,
) =>
  Effect.tryPromise({
    try: async () => {
      const { size } = await statRegularFile(join(folder, path));
      if (bytes !== undefined && size !== bytes) {
        throw new Refused(
          `content differs from the manifest (${size} bytes; expected ${bytes} bytes)`,
        );
      }
      return await read(join(folder, path));
    },
    catch: (error) =>
      damaged(
        folder,
        path,
        error instanceof Refused || error instanceof NotRegularFile
          ? error.message
          : !(error instanceof Deno.errors.NotFound)
          ? `unreadable (${error})`
          : path === FITTED_MANIFEST_FILE
          ? "missing (is this a folder written by `deno task fit`?)"
          : "missing",
      ),
  });

/** The bytes of a listed file, refused unless their size and sha256 are the manifest's. */
export const readChecked = (folder: string, entry: FileEntry) =>
  Effect.gen(function* () {
    const bytes = yield* readRegular(folder, entry.path, Deno.readFile, entry.bytes);
    const sha256 = sha256Hex(bytes);
    if (bytes.length !== entry.bytes || sha256 !== entry.sha256) {
      return yield* damaged(
        folder,
        entry.path,
        `content differs from the manifest (sha256 ${sha256.slice(0, 12)}…, ` +
          `${bytes.length} bytes; expected ${entry.sha256.slice(0, 12)}…, ${entry.bytes} bytes)`,
      );
    }
    return bytes;
  });

/** Read `detector.json`, decoded strictly, its digest and its parts' agreement checked. */
export const readManifest = (folder: string): Effect.Effect<FittedManifest, FittedFolderDamaged> =>
  Effect.gen(function* () {
    const damagedManifest = (problem: string) => damaged(folder, FITTED_MANIFEST_FILE, problem);
    const text = yield* readRegular(folder, FITTED_MANIFEST_FILE, Deno.readTextFile);
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) => damagedManifest(`not JSON (${error})`),
    });
    const version = (json as { version?: unknown } | null)?.version;
    if (typeof version === "number" && version !== FITTED_VERSION) {
      return yield* damagedManifest(
        `folder version ${version}; this grood reads version ${FITTED_VERSION} only`,
      );
    }
    const manifest = yield* Effect.mapError(
      decodeStrict(FittedManifest, FITTED_MANIFEST_FILE)(json),
      (error) => damagedManifest(error.message),
    );
    const problem = digestProblem(text);
    if (problem !== undefined) return yield* damagedManifest(problem);
    // Parts that disagree are refused even when sealed (a re-sealed hand edit): the loaded kind
    // must be the spec's, the spec must decode as its options, one class name per logit.
    const { kind, spec } = manifest.detector;
    if (spec.kind !== kind) {
      return yield* damagedManifest(
        `detector.kind is ${JSON.stringify(kind)} but detector.spec.kind is ` +
          `${JSON.stringify(spec.kind)}`,
      );
    }
    yield* Effect.mapError(
      decodeDetector(spec, `${FITTED_MANIFEST_FILE} at detector.spec`),
      (error) => damagedManifest(error.message),
    );
    const logits = manifest.model.shapes.logits.reduce((a, b) => a * b, 1);
    if (manifest.model.classNames.length !== logits) {
      return yield* damagedManifest(
        `model.classNames holds ${manifest.model.classNames.length} names for ${logits} logits`,
      );
    }
    return manifest;
  });

/** Refuse a file the manifest does not list (but the output marker) and any link. */
export const checkListed = (folder: string, manifest: FittedManifest) =>
  Effect.gen(function* () {
    const listed = new Set([
      OUTPUT_MARKER,
      FITTED_MANIFEST_FILE,
      ...manifest.model.files.map((f) => f.path),
      ...manifest.state.map((s) => s.file.path),
    ]);
    const entries = yield* Effect.tryPromise({
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
    for (const { path, link } of entries) {
      if (!listed.has(path)) {
        return yield* damaged(
          folder,
          path,
          "not listed in detector.json (added after the folder was written)",
        );
      }
      if (link) return yield* damaged(folder, path, "a link; a fitted folder holds regular files");
    }
  });

/** Refuse a model whose input or tap shapes are not the manifest's (its preprocessing too). */
export const checkShapes = (folder: string, manifest: FittedManifest, model: FeatureModel) =>
  Effect.gen(function* () {
    for (const key of ["height", "width", "channels", "layout", "scale", "mean", "std"] as const) {
      const said = JSON.stringify(manifest.model.input[key]);
      const own = JSON.stringify(model.input[key]);
      if (said !== own) {
        return yield* damaged(
          folder,
          FITTED_MANIFEST_FILE,
          `model.input.${key} is ${said}, the model's own is ${own}`,
        );
      }
    }
    for (const point of ["input", "early", "penultimate", "logits"] as const) {
      const [said, own] = [manifest.model.shapes[point].join(), model.shapes[point].join()];
      if (said !== own) {
        return yield* damaged(
          folder,
          manifest.model.path,
          `the model's ${point} shape is [${own}], the manifest says [${said}]`,
        );
      }
    }
  });
