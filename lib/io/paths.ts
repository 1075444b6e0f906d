/**
 * Names and paths that come from files: a name that becomes a path is an identifier
 * ({@link Identifier}), and a path read from a file stays inside its base ({@link insideBase}):
 * the only two ways a spec's text becomes a place on disk, so `"name": "../victim"` is refused
 * where it enters, with a typed error naming the key and what is wrong.
 *
 * @module
 */
import { Data, Effect, Schema } from "effect";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";

/**
 * Why `name` is not an identifier, or undefined when it is one: a letter, digit or `_` first,
 * then letters, digits, `_`, `-`, `+` and `.`, never `..`, at most 100 characters.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { identifierProblem } from "./paths.ts";
 * strictEqual(identifierProblem("fashion-mnist"), undefined);
 * strictEqual(identifierProblem("../victim"), "it contains a path separator");
 * ```
 */
export function identifierProblem(name: string): string | undefined {
  if (name.length === 0) return "it is empty";
  if (/[/\\]/.test(name)) return "it contains a path separator";
  if (name.includes("..")) return "it contains ..";
  if (name.startsWith(".")) return "it starts with a dot";
  // File systems take 255 bytes per name, and suffixes are added.
  if (name.length > 100) return "it is longer than 100 characters";
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/.test(name)) {
    return "it may hold only letters, digits, _, -, + and . (and start with a letter, digit or _)";
  }
  return undefined;
}

/** A string Schema refusing what `problem` finds wrong, as "Expected <expected>, not …: why". */
const checked = (problem: (text: string) => string | undefined, expected: string) =>
  Schema.String.pipe(Schema.check(Schema.makeFilter((text: string) => {
    const found = problem(text);
    return found === undefined
      ? true
      : `Expected ${expected}, not ${JSON.stringify(text)}: ${found}`;
  })));

/** A name that becomes a file or folder name: refuses what {@link identifierProblem} does. */
export const Identifier: Schema.String = checked(
  identifierProblem,
  "a name usable as a folder name",
);

/** A path a file records inside its folder: never empty, absolute, with a backslash or `..`. */
export const InsidePath: Schema.String = checked((path) => {
  if (path === "") return "it is empty";
  if (path.startsWith("/") || /^[A-Za-z]:/.test(path)) return "it is absolute";
  if (path.includes("\\")) return "it contains a backslash";
  if (path.split("/").some((part) => part === "..")) return "it leaves its folder (..)";
  return undefined;
}, "a path inside the folder");

/** A name that is not an identifier: names the key it came from and what is wrong. */
export class InvalidName extends Data.TaggedError("InvalidName")<{
  /** Where the name comes from, e.g. `ablations/x.json at name`. */
  readonly key: string;
  readonly name: string;
  readonly problem: string;
}> {
  /** Names the key, the name and the problem. */
  override get message(): string {
    return `Invalid name ${JSON.stringify(this.name)} in ${this.key}: ${this.problem}`;
  }
}

/** `name` when it is an identifier, else an {@link InvalidName} naming `key`. */
export const checkIdentifier = (name: string, key: string): Effect.Effect<string, InvalidName> => {
  const problem = identifierProblem(name);
  return problem === undefined
    ? Effect.succeed(name)
    : Effect.fail(new InvalidName({ key, name, problem }));
};

/** A path read from a file leads outside the folder it must stay in. */
export class PathOutsideBase extends Data.TaggedError("PathOutsideBase")<{
  /** Where the path comes from, e.g. `model.json weightsManifest[0].paths[1]`. */
  readonly key: string;
  readonly path: string;
  readonly base: string;
}> {
  /** Names the key, the path and the folder it must stay in. */
  override get message(): string {
    return `The path ${JSON.stringify(this.path)} in ${this.key} leads outside "${this.base}"; ` +
      "paths read from a file must stay inside its folder";
  }
}

/** `path` with links resolved as far as it exists (the rest appended as given). */
export const realPathSoFar = async (path: string): Promise<string> => {
  const rest: Array<string> = [];
  for (let at = resolve(path);; at = dirname(at)) {
    try {
      return join(await Deno.realPath(at), ...rest.reverse());
    } catch {
      if (dirname(at) === at) return resolve(path);
      rest.push(basename(at));
    }
  }
};

/** True when `path` is `base` or lies under it (both absolute, lexically). */
export function isWithin(base: string, path: string): boolean {
  const rel = relative(base, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/**
 * Resolve `path` (read from a file, at `key`) against `base` and check it stays inside,
 * lexically and once links are followed; throws a {@link PathOutsideBase} otherwise (for plain
 * promise readers, e.g. a tfjs IO handler). {@link insideBase} is the same as an Effect.
 */
export async function resolveInside(base: string, path: string, key: string): Promise<string> {
  const root = resolve(base);
  const target = resolve(root, path);
  const refused = new PathOutsideBase({ key, path, base: root });
  if (path === "" || !isWithin(root, target)) throw refused;
  // Missing: the reader reports that, naming the file.
  const real = await Promise.all([Deno.realPath(root), Deno.realPath(target)]).catch(() => []);
  if (real.length === 2 && !isWithin(real[0]!, real[1]!)) throw refused;
  return target;
}

/**
 * {@link resolveInside} as an Effect failing with a typed {@link PathOutsideBase}.
 *
 * @example A weight path leading out of the model's folder is refused
 * ```ts
 * import { Effect } from "effect";
 * import { insideBase } from "./paths.ts";
 * const error = await Effect.runPromise(
 *   Effect.flip(insideBase("/models/m", "../../x/weights.bin", "model.json paths[0]")),
 * );
 * if (error._tag !== "PathOutsideBase") throw error;
 * ```
 */
export const insideBase = (
  base: string,
  path: string,
  key: string,
): Effect.Effect<string, PathOutsideBase> =>
  Effect.tryPromise({
    try: () => resolveInside(base, path, key),
    catch: (error) =>
      error instanceof PathOutsideBase
        ? error
        : new PathOutsideBase({ key, path, base: resolve(base) }),
  });

/** A symbolic link inside a folder grood walks points outside that folder. */
export class LinkLeavesRoot extends Data.TaggedError("LinkLeavesRoot")<{
  readonly link: string;
  readonly target: string;
  readonly root: string;
}> {
  /** Names the link, its target and the folder it must stay in. */
  override get message(): string {
    return `The link "${this.link}" points to "${this.target}", outside "${this.root}": ` +
      "links inside a model folder must stay inside it (copy the file in instead)";
  }
}

/**
 * Every regular file under `root` (paths through `root`, sorted), following symbolic links whose
 * target stays inside `root` (each real folder once); a link leading outside fails with
 * {@link LinkLeavesRoot}, a dangling one with `Deno.realPath`'s rejection, its `link` set to the
 * link's path. Pipes and sockets are not listed.
 */
export async function walkFiles(root: string): Promise<Array<string>> {
  const realRoot = await Deno.realPath(root);
  const seen = new Set<string>([realRoot]);
  const out: Array<string> = [];
  const visit = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      let isDirectory = entry.isDirectory;
      let isFile = entry.isFile;
      if (entry.isSymlink) {
        const target = await Deno.realPath(path).catch((error) => {
          throw Object.assign(error, { link: path });
        });
        if (!isWithin(realRoot, target)) throw new LinkLeavesRoot({ link: path, target, root });
        ({ isDirectory, isFile } = await Deno.stat(target));
        if (isDirectory && seen.has(target)) continue; // A link back up: listed already.
        seen.add(target);
      }
      if (isDirectory) await visit(path);
      else if (isFile) out.push(path);
    }
  };
  await visit(root);
  return out.sort();
}
