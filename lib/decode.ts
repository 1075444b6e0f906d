/**
 * Strict decoding of untrusted input (spec files, notebook cells, command-line values) with any
 * Effect Schema: undeclared keys are errors, every problem is reported at once with where it is,
 * and an unknown key comes with the nearest valid one.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect";
 * import { decodeStrict } from "./decode.ts";
 * const Grid = Schema.Struct({ lambda: Schema.optional(Schema.Array(Schema.Number)) });
 * const exit = Effect.runSyncExit(decodeStrict(Grid, "x.json")({ lamda: [0.3] }));
 * if (exit._tag !== "Failure" || !String(exit.cause).includes("did you mean lambda?")) {
 *   throw new Error("expected a suggestion");
 * }
 * ```
 *
 * @module
 */
import { Data, Effect, Schema, SchemaAST, SchemaIssue } from "effect";

/** One problem of an input: where (a path like `grids[0].k`) and what. */
export interface InputProblem {
  /** Where in the input, e.g. `grids[0].k`; empty for the input as a whole. */
  readonly path: string;
  /** What is wrong there. */
  readonly problem: string;
}

/** An input does not match its schema: names the input and lists every problem. */
export class InvalidInput extends Data.TaggedError("InvalidInput")<{
  /** What was decoded: a file name, "pipeline spec", "--seed". */
  readonly source: string;
  readonly problems: ReadonlyArray<InputProblem>;
}> {
  /** Every problem, each with the input and where in it. */
  override get message(): string {
    // "<problem> in <source> at <path>", the location before any "; did you mean …".
    const lines = this.problems.map((p) => {
      const at = ` in ${this.source}${p.path === "" ? "" : ` at ${p.path}`}`;
      const cut = p.problem.indexOf("; did you mean");
      return cut < 0 ? p.problem + at : p.problem.slice(0, cut) + at + p.problem.slice(cut);
    });
    return lines.length === 1
      ? lines[0]!
      : `${this.source} has ${lines.length} problems:\n  ${lines.join("\n  ")}`;
  }
}

/** `path: problem; …` of an `InvalidInput`, for an error of its own that names the input. */
export function problemsText(error: InvalidInput): string {
  return error.problems.map((p) => (p.path === "" ? p.problem : `${p.path}: ${p.problem}`))
    .join("; ");
}

/** Class names in label order, each at most once (a lookup by a name given twice takes one). */
export const ClassNames: Schema.$Array<Schema.String> = Schema.Array(Schema.String).pipe(
  Schema.check(Schema.makeFilter((names: ReadonlyArray<string>) => {
    const twice = names.find((name, i) => names.indexOf(name) !== i);
    return twice === undefined
      ? undefined
      : `Expected each class name once; ${JSON.stringify(twice)} is given twice`;
  })),
);

type LabelledSpec = {
  readonly labels?: string | undefined;
  readonly classes?: ReadonlyArray<string> | undefined;
};

/** A source spec's `classes` without `labels` would be ignored (unlabelled images): refused. */
export const classesNeedLabels: SchemaAST.Filter<LabelledSpec> = Schema.makeFilter((
  spec: LabelledSpec,
) =>
  spec.classes !== undefined && spec.labels === undefined
    ? "Expected labels with classes: the class names name the labels' values, and there are no labels"
    : undefined
);

/** A decoder for `schema` rejecting undeclared keys, failing with every problem and `source`. */
export const decodeStrict = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S,
  source: string,
): (input: unknown) => Effect.Effect<S["Type"], InvalidInput> => {
  const decode = Schema.decodeUnknownEffect(schema);
  return (input: unknown): Effect.Effect<S["Type"], InvalidInput> =>
    decode(input, { errors: "all", onExcessProperty: "error", reportInput: true }).pipe(
      Effect.mapError((error) =>
        new InvalidInput({ source, problems: describeIssue(error.issue) })
      ),
    ) as Effect.Effect<S["Type"], InvalidInput>;
};

/**
 * A decoder of JSON text for `schema`: text that is not JSON and a value that does not match
 * both fail with an `InvalidInput` naming `source`.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect";
 * import { decodeJsonText } from "./decode.ts";
 * const Memo = Schema.Struct({ size: Schema.Number });
 * const exit = Effect.runSyncExit(decodeJsonText(Memo, "memo.json")('{"size": "3"}'));
 * if (exit._tag !== "Failure" || !String(exit.cause).includes("memo.json")) {
 *   throw new Error("expected the file named");
 * }
 * ```
 */
export const decodeJsonText = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S,
  source: string,
): (text: string) => Effect.Effect<S["Type"], InvalidInput> => {
  const decode = decodeStrict(schema, source);
  return (text: string): Effect.Effect<S["Type"], InvalidInput> =>
    Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) =>
        new InvalidInput({
          source,
          problems: [{ path: "", problem: `not JSON (${(error as Error).message})` }],
        }),
    }).pipe(Effect.flatMap(decode));
};

const formatLeaf = SchemaIssue.makeFormatterDefault();

/** Flatten an issue tree into one problem per leaf, with its path. */
export function describeIssue(
  issue: SchemaIssue.Issue,
  path: ReadonlyArray<PropertyKey> = [],
): Array<InputProblem> {
  switch (issue._tag) {
    case "Pointer":
      return describeIssue(issue.issue, [...path, ...issue.path]);
    case "Composite":
      return issue.issues.flatMap((i) => describeIssue(i, path));
    case "AnyOf":
      return describeUnion(issue, path);
    case "Encoding":
      return describeIssue(issue.issue, path);
    case "UnexpectedKey": {
      const key = String(path[path.length - 1]);
      const declared = SchemaAST.isObjects(issue.ast)
        ? issue.ast.propertySignatures.map((p) => String(p.name))
        : [];
      // A plain name bare, any other quoted (`"a b"`, `""`).
      const name = /^[A-Za-z_$][\w$-]*$/.test(key) ? key : JSON.stringify(key);
      return [{
        path: formatPath(path.slice(0, -1)),
        problem: `unknown key ${name}${suggestion(key, declared)}`,
      }];
    }
    case "MissingKey":
      return [{ path: formatPath(path), problem: "missing required key" }];
    default:
      return [{ path: formatPath(path), problem: formatLeaf(issue) }];
  }
}

/**
 * A union that matched no member. Members rejected by a discriminating literal (a `kind` of
 * another value) are left out; when every member is, the discriminator itself is the problem.
 */
function describeUnion(
  issue: SchemaIssue.AnyOf,
  path: ReadonlyArray<PropertyKey>,
): Array<InputProblem> {
  const tag = discriminator(issue.ast);
  const candidates = issue.issues.filter((i) => !rejectedByLiteral(i, tag?.key));
  if (candidates.length > 0) return dedupe(candidates.flatMap((i) => describeIssue(i, path)));
  const input = issue.input;
  if (tag === undefined || typeof input !== "object" || input === null) {
    return issue.issues.length === 0
      ? [{ path: formatPath(path), problem: formatLeaf(issue) }]
      : dedupe(issue.issues.flatMap((i) => describeIssue(i, path)));
  }
  const got = (input as Record<string, unknown>)[tag.key];
  if (got === undefined) {
    return [{
      path: formatPath(path),
      problem: `missing key ${tag.key} (one of ${tag.allowed.join(", ")})`,
    }];
  }
  return [{
    path: formatPath([...path, tag.key]),
    problem: `unknown ${tag.key} ${JSON.stringify(got)}${
      typeof got === "string" ? suggestion(got, tag.allowed) : ""
    } (one of ${tag.allowed.join(", ")})`,
  }];
}

const suggestion = (key: string, candidates: ReadonlyArray<string>): string => {
  const near = nearest(key, candidates);
  return near === undefined ? "" : `; did you mean ${near}?`;
};

/** A union's members, the members of a union among them included (`held-out` | a source). */
const flatMembers = (types: ReadonlyArray<SchemaAST.AST>): Array<SchemaAST.AST> =>
  types.flatMap((t) => SchemaAST.isUnion(t) ? flatMembers(t.types) : [t]);

/** The literal field every object member of a union has (`kind`), with all its values. */
function discriminator(
  union: SchemaAST.Union,
): { key: string; allowed: Array<string> } | undefined {
  const all = flatMembers(union.types);
  const members = all.filter(SchemaAST.isObjects);
  if (members.length === 0 || members.length !== all.length) return undefined;
  for (const p of members[0]!.propertySignatures) {
    const key = String(p.name);
    const values = members.map((m) =>
      literalValues(m.propertySignatures.find((q) => q.name === p.name)?.type)
    );
    if (values.every((v) => v.length > 0)) return { key, allowed: [...new Set(values.flat())] };
  }
  return undefined;
}

/**
 * Whether `issue` rejects an object for a literal field (`kind` of another value). With the
 * union's discriminator `key`, only that field counts: the member whose `kind` matched but whose
 * other literal (a dataset's `split`) did not is the one to report, not "unknown kind". A nested
 * union is rejected when each of its members is.
 */
function rejectedByLiteral(issue: SchemaIssue.Issue, key?: string): boolean {
  if (issue._tag === "AnyOf") {
    // No member issue: the union was discriminated and no member has that literal.
    if (issue.issues.length === 0) return discriminator(issue.ast) !== undefined;
    const inner = discriminator(issue.ast)?.key;
    return issue.issues.every((i) => rejectedByLiteral(i, inner));
  }
  const children = issue._tag === "Composite" ? issue.issues : [issue];
  return children.some((child) => {
    if (child._tag !== "Pointer" || child.path.length !== 1) return false;
    const leaf = child.issue;
    return (key === undefined || String(child.path[0]) === key) &&
      (leaf._tag === "InvalidType" || (leaf._tag === "AnyOf" && leaf.issues.length === 0)) &&
      literalValues(leaf.ast).length > 0;
  });
}

/** The values of a literal or a union of literals (none for other schemas). */
const literalValues = (ast: SchemaAST.AST | undefined): Array<string> =>
  (ast === undefined ? [] : SchemaAST.isUnion(ast) ? ast.types : [ast])
    .filter(SchemaAST.isLiteral).map((l) => String(l.literal));

const dedupe = (problems: ReadonlyArray<InputProblem>): Array<InputProblem> => [
  ...new Map(problems.map((p) => [`${p.path}\u0000${p.problem}`, p])).values(),
];

/** `grids[0].lambda` from `["grids", 0, "lambda"]`. */
function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((k, i) =>
    typeof k === "number" ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`
  ).join("");
}

/**
 * The candidate closest to `key` by edit distance (insertions, deletions, substitutions and
 * swaps of neighbours), if it is close enough to be a plausible typo.
 *
 * @example
 * ```ts
 * import { nearest } from "./decode.ts";
 * if (nearest("lamda", ["lambda", "k"]) !== "lambda") throw new Error("no suggestion");
 * if (nearest("zzzzzz", ["lambda", "k"]) !== undefined) throw new Error("bad suggestion");
 * ```
 */
export function nearest(key: string, candidates: ReadonlyArray<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** Optimal-string-alignment distance. */
function editDistance(a: string, b: string): number {
  const d = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i === 0 ? j : j === 0 ? i : 0),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * `true` when `A` and `B` are the same type (fields, optionality and `readonly` alike): with
 * {@link Expect}, a documented interface is checked against its Schema's type, so neither drifts.
 *
 * @example
 * ```ts
 * import { Schema } from "effect";
 * import type { Expect, SameFields } from "./decode.ts";
 * const Point = Schema.Struct({ x: Schema.Number });
 * interface PointFields {
 *   readonly x: number;
 * }
 * type _Checked = Expect<SameFields<PointFields, typeof Point.Type>>;
 * ```
 */
export type SameFields<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2)
  ? true
  : false;

/** Compiles only for `true`: `Expect<SameFields<A, B>>` fails the build when `A` is not `B`. */
export type Expect<T extends true> = T;
