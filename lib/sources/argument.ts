/**
 * A data source as written on a command line (`--train`, `--val-ood`, `score`'s arguments): a
 * folder, `x.npy`, an IDX file, a source spec `.json`, `dataset:NAME:SPLIT` or `ood-set:NAME`
 * (the forms: `docs/internals/io.md`), each decoded strictly through the sources' own Schemas.
 *
 * @module
 */
import { basename, dirname, extname, resolve } from "node:path";
import { Data, Effect } from "effect";
import { decodeStrict } from "../decode.ts";
import { readRegularText } from "../io/files.ts";
import { SourceSpec } from "./mod.ts";

/** How a source argument is written, for the help of the tasks that take one. */
export const SOURCE_ARGUMENT_HELP: string =
  "an image folder (labelled: one subfolder per class), " +
  "x.npy (labels from x.labels.npy), an IDX file, a source spec .json, dataset:NAME:SPLIT or " +
  "ood-set:NAME";

/** A source argument that names no readable source. */
export class SourceArgumentInvalid extends Data.TaggedError("SourceArgumentInvalid")<{
  readonly argument: string;
  readonly problem: string;
}> {
  /** Names the argument and why no source was found. */
  override get message(): string {
    return `Cannot read the data source "${this.argument}": ${this.problem}`;
  }
}

/** A decoded source argument: the spec and the folder its relative paths start from. */
export interface SourceArgument {
  /** The argument as given (a path, `dataset:NAME:SPLIT`, …). */
  readonly argument: string;
  /** The source spec it stands for. */
  readonly spec: SourceSpec;
  /** The folder the spec's relative paths start from. */
  readonly baseDir: string;
  /** The source spec file the argument names (`x.json`), when it names one. */
  readonly file?: string;
}

const statOf = (path: string) => Effect.promise(() => Deno.stat(path).catch(() => undefined));

/** Decoded strictly: a key the source kind does not declare is refused by name. */
const decode = (argument: string, json: unknown, baseDir: string) =>
  Effect.mapError(
    decodeStrict(SourceSpec, argument)(json),
    (error) => new SourceArgumentInvalid({ argument, problem: error.message }),
  ).pipe(Effect.map((spec): SourceArgument => ({ argument, spec, baseDir })));

/**
 * Decode one source argument, relative to `cwd`; `labelled` asks for a labelled folder.
 *
 * @example
 * ```ts
 * import { Effect } from "effect";
 * import { parseSourceArgument } from "./argument.ts";
 * const { spec } = Effect.runSync(parseSourceArgument("dataset:mnist:test", "/"));
 * if (spec.kind !== "dataset" || spec.split !== "test") throw new Error("not decoded");
 * ```
 */
export const parseSourceArgument = (
  argument: string,
  cwd: string,
  options: { readonly labelled?: boolean } = {},
): Effect.Effect<SourceArgument, SourceArgumentInvalid> =>
  Effect.gen(function* () {
    const builtIn = /^(dataset|ood-set):(.+)$/.exec(argument);
    if (builtIn !== null) {
      const [, kind, rest] = builtIn;
      if (kind === "ood-set") return yield* decode(argument, { kind, name: rest }, cwd);
      const [name, split, ...extra] = rest!.split(":");
      if (extra.length > 0) {
        return yield* new SourceArgumentInvalid({
          argument,
          problem: `"${extra.join(":")}" follows the split; a built-in set is written ` +
            "dataset:NAME:SPLIT",
        });
      }
      return yield* decode(argument, { kind, name, split }, cwd);
    }
    const path = resolve(cwd, argument);
    const info = yield* statOf(path);
    if (info === undefined) {
      return yield* new SourceArgumentInvalid({
        argument,
        problem: `no such file or folder (${path}); built-in sets are written ` +
          "dataset:NAME:SPLIT or ood-set:NAME",
      });
    }
    if (info.isDirectory) {
      return yield* decode(argument, { kind: "folder", path, labelled: !!options.labelled }, cwd);
    }
    if (extname(path).toLowerCase() === ".json") {
      const json = yield* Effect.tryPromise({
        try: async () => JSON.parse(await readRegularText(path)) as unknown,
        catch: (error) =>
          new SourceArgumentInvalid({ argument, problem: `not a JSON source spec: ${error}` }),
      });
      return { ...yield* decode(argument, json, dirname(path)), file: path };
    }
    // Labels next to the images when that file exists; IDX raw or gzip (as Debian ships).
    const npy = extname(path).toLowerCase() === ".npy";
    if (!npy && !/(\.idx|-idx3-ubyte)(\.gz)?$/.test(basename(path))) {
      return yield* new SourceArgumentInvalid({
        argument,
        problem: "not a folder, .npy, IDX or .json source spec (see `deno task fit --help`)",
      });
    }
    const labels = npy
      ? path.slice(0, -4) + ".labels.npy"
      : path.replace(/-idx3-ubyte(\.gz)?$/, "-idx1-ubyte$1").replace(
        /\.idx(\.gz)?$/,
        ".labels.idx$1",
      );
    const hasLabels = labels !== path && (yield* statOf(labels)) !== undefined;
    const spec = { kind: npy ? "npy" : "idx", images: path, ...(hasLabels ? { labels } : {}) };
    return yield* decode(argument, spec, cwd);
  });

/**
 * The files and folders a source argument reads (its spec file too): what an output of the run
 * must never be, hold or lie inside (`score spec.json --out spec.json` would replace its spec).
 */
export const argumentPaths = (source: SourceArgument): ReadonlyArray<string> => [
  ...(source.file === undefined ? [] : [source.file]),
  ...sourcePaths(source.spec, source.baseDir),
];

/**
 * The files and folders a source spec reads (absolute; none for the built-in sets).
 *
 * @example
 * ```ts
 * import { deepStrictEqual } from "node:assert/strict";
 * import { sourcePaths } from "./argument.ts";
 * deepStrictEqual(sourcePaths({ kind: "folder", path: "imgs" }, "/data"), ["/data/imgs"]);
 * ```
 */
export function sourcePaths(spec: SourceSpec, baseDir: string): ReadonlyArray<string> {
  const record = spec as unknown as Record<string, unknown>;
  return ["path", "images", "labels", "features", "files"].flatMap((key) =>
    [record[key]].flat().filter((item) => typeof item === "string").map((item) =>
      resolve(baseDir, item)
    )
  );
}
