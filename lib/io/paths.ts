/**
 * Names and paths that come from files: a name that becomes a path is an identifier
 * ({@link Identifier}), and a path read from a file stays inside its base ({@link insideBase}).
 * These are the only two ways a spec's text turns into a place on disk, so a hostile or
 * careless file (`"name": "../victim"`, a weight path `../../x/weights.bin`) is refused where
 * it enters, with a typed error naming the key and what is wrong.
 *
 * @module
 */
import { Data, Effect, Schema } from "effect";
import { isAbsolute, relative, resolve, sep } from "node:path";

/** Longest identifier accepted (file systems take 255 bytes per name; suffixes are added). */
export const MAX_IDENTIFIER_LENGTH = 100;

const IDENTIFIER_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;

/**
 * Why `name` is not an identifier, or undefined when it is one: a letter, digit or `_` first,
 * then letters, digits, `_`, `-`, `+` and `.`, never `..`, at most
 * {@link MAX_IDENTIFIER_LENGTH} characters. So no separator, no leading dot (hidden files, `.`,
 * `..`), no empty name, no space or control character.
 *
 * @example
 * ```ts
 * import { strictEqual } from "node:assert/strict";
 * import { identifierProblem } from "./paths.ts";
 * strictEqual(identifierProblem("fashion-mnist"), undefined);
 * strictEqual(identifierProblem("../victim"), "it starts with a dot");
 * ```
 */
export function identifierProblem(name: string): string | undefined {
  if (name.length === 0) return "it is empty";
  if (name.length > MAX_IDENTIFIER_LENGTH) {
    return `it is longer than ${MAX_IDENTIFIER_LENGTH} characters`;
  }
  if (name.startsWith(".")) return "it starts with a dot";
  if (/[/\\]/.test(name)) return "it contains a path separator";
  if (name.includes("..")) return "it contains ..";
  if (!IDENTIFIER_PATTERN.test(name)) {
    return "it may hold only letters, digits, _, -, + and . (and start with a letter, digit or _)";
  }
  return undefined;
}

/**
 * A name that becomes a file or folder name (a benchmark's, an ablation's, an OOD set's):
 * decoding refuses anything {@link identifierProblem} finds wrong, with its reason.
 */
export const Identifier = Schema.String.pipe(
  Schema.check(
    Schema.makeFilter((name: string) => {
      const problem = identifierProblem(name);
      return problem === undefined ? true : `Expected a name usable as a folder name: ${problem}`;
    }),
  ),
);

/** A name that is not an identifier: names the key it came from and what is wrong. */
export class InvalidName extends Data.TaggedError("InvalidName")<{
  /** Where the name comes from, e.g. `ablations/x.json at name`. */
  readonly key: string;
  readonly name: string;
  readonly problem: string;
}> {
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
  override get message(): string {
    return `The path ${JSON.stringify(this.path)} in ${this.key} leads outside "${this.base}"; ` +
      "paths read from a file must stay inside its folder";
  }
}

/** True when `path` is `base` or lies under it (both absolute, lexically). */
export function isWithin(base: string, path: string): boolean {
  const rel = relative(base, path);
  return rel === "" || (!rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel));
}

/**
 * Resolve `path` (read from a file, at `key`) against `base` and check it stays inside:
 * lexically, and once links are followed when it exists. Returns the absolute path.
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
  Effect.gen(function* () {
    const root = resolve(base);
    const target = resolve(root, path);
    const refused = new PathOutsideBase({ key, path, base: root });
    if (path === "" || !isWithin(root, target)) return yield* Effect.fail(refused);
    const real = yield* Effect.promise(async () => {
      try {
        return { root: await Deno.realPath(root), target: await Deno.realPath(target) };
      } catch {
        return undefined; // Missing: the reader reports that, naming the file.
      }
    });
    if (real !== undefined && !isWithin(real.root, real.target)) return yield* Effect.fail(refused);
    return target;
  });
