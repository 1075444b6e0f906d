/**
 * Shared plumbing of the `deno task` entry points.
 *
 * - `parseCommandLine`: every task declares its flags once (a type and an Effect Schema check
 *   per value, a description); an unknown flag, a missing or bad value, a wrong number of
 *   arguments prints the problem and the task's usage and exits with code 2, with no stack
 *   trace. `--help` prints the usage and exits 0.
 * - `runTask`: run an Effect program with the compute layer, print a failure as one readable
 *   line (its tagged error's message), exit with code 1.
 *
 * @example
 * ```ts
 * import { flag, parseArgv } from "./command_line.ts";
 * const cli = {
 *   command: "deno task demo",
 *   summary: "A demo.",
 *   flags: { seed: flag.integer("random seed", { min: 0, default: 0 }) },
 * };
 * const parsed = parseArgv(cli, ["--seed", "7"]);
 * if (parsed._tag !== "Parsed" || parsed.values.seed !== 7) throw new Error("not parsed");
 * if (parseArgv(cli, ["--seed", "abc"])._tag !== "UsageError") throw new Error("accepted abc");
 * ```
 *
 * @module
 */
import { resolve } from "node:path";
import { Cause, Effect, Exit, Layer, Logger, Schema, SchemaAST } from "effect";
import { parseArgs } from "node:util";
import { type BackendName, Compute, parseBackend } from "../compute/compute.ts";
import { describeIssue, nearest } from "../decode.ts";

/** One flag: how it is written, what it means, and how its value is checked. */
export interface Flag<A> {
  readonly type: "string" | "boolean";
  readonly multiple: boolean;
  readonly description: string;
  /** Shown in the usage after the flag (`--seed N`). */
  readonly placeholder: string;
  /** Shown in the usage; the value used when the flag is absent. */
  readonly default: A;
  /** Check and convert one written value; a string describing the problem on failure. */
  readonly decode: (raw: string) => { readonly ok: true; readonly value: unknown } | {
    readonly ok: false;
    readonly problem: string;
  };
}

/** What a flag contributes to the parsed values. */
export type FlagValue<F> = F extends Flag<infer A> ? A : never;

/** A task's command line: its name, one line on what it does, its flags and arguments. */
export interface CommandLine<F extends Record<string, Flag<unknown>>> {
  /** How it is called: `deno task train`. */
  readonly command: string;
  readonly summary: string;
  readonly flags: F;
  /** Positional arguments: how the usage names them and how many are allowed. */
  readonly positionals?: {
    readonly usage: string;
    readonly min: number;
    readonly max: number;
    readonly description?: string;
  };
  /** Further lines for the usage (examples, notes). */
  readonly notes?: ReadonlyArray<string>;
}

/** The result of reading a command line. */
export type ParsedCommandLine<F extends Record<string, Flag<unknown>>> =
  | {
    readonly _tag: "Parsed";
    readonly values: { readonly [K in keyof F]: FlagValue<F[K]> };
    readonly positionals: ReadonlyArray<string>;
  }
  | { readonly _tag: "UsageError"; readonly problem: string }
  | { readonly _tag: "Help" };

/** Decode a written value with a Schema from string; the problem as one line. */
function schemaDecoder<A>(
  schema: Schema.Codec<A, string>,
): Flag<A>["decode"] {
  const decode = Schema.decodeUnknownExit(schema);
  return (raw) => {
    const exit = decode(raw, { errors: "all" });
    if (Exit.isSuccess(exit)) return { ok: true, value: exit.value };
    const error = exit.cause.reasons.find(Cause.isFailReason)?.error;
    const problem = Schema.isSchemaError(error)
      ? describeIssue(error.issue).map((p) =>
        p.path === "" ? p.problem : `${p.problem} at ${p.path}`
      ).join("; ")
      : String(error);
    return { ok: false, problem };
  };
}

/** A number written in decimal or scientific notation (not "", " ", "0x10", "Infinity"). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const Numeric = Schema.String.pipe(
  Schema.check(Schema.isPattern(DECIMAL, { message: "Expected a number" })),
);
const numberFrom = (checks: ReadonlyArray<SchemaAST.Check<number>>) => {
  const value = checks.length === 0 ? Schema.NumberFromString : Schema.NumberFromString.pipe(
    Schema.check(...(checks as [SchemaAST.Check<number>, ...Array<SchemaAST.Check<number>>])),
  );
  const pattern = schemaDecoder(Numeric);
  const decode = schemaDecoder(value);
  return (raw: string) => {
    const shape = pattern(raw);
    return shape.ok ? decode(raw) : shape;
  };
};

/** One word of `choices`; a miss names them and the nearest. */
const choiceDecoder = <C extends string>(choices: ReadonlyArray<C>): Flag<C>["decode"] => {
  const decode = schemaDecoder(Schema.Literals(choices) as unknown as Schema.Codec<C, string>);
  return (raw) => {
    const result = decode(raw);
    if (result.ok) return result;
    const near = nearest(raw, choices);
    return {
      ok: false,
      problem: `expected one of ${choices.join(", ")}${
        near === undefined ? "" : `; did you mean ${near}?`
      }`,
    };
  };
};

type Optional<A, D> = D extends undefined ? A | undefined : A;

/** Flag constructors. */
export const flag = {
  /** A free string (a path, a name). */
  string<D extends string | undefined = undefined>(
    description: string,
    options: { readonly default?: D; readonly placeholder?: string } = {},
  ): Flag<Optional<string, D>> {
    return {
      type: "string",
      multiple: false,
      description,
      placeholder: options.placeholder ?? "VALUE",
      default: options.default as Optional<string, D>,
      decode: (raw) =>
        raw === ""
          ? { ok: false, problem: "Expected a non-empty value" }
          : { ok: true, value: raw },
    };
  },
  /** Free strings, repeatable (`--benchmark a --benchmark b`); absent = undefined. */
  strings(
    description: string,
    options: { readonly placeholder?: string } = {},
  ): Flag<ReadonlyArray<string> | undefined> {
    return { ...flag.string(description, options), multiple: true, default: undefined };
  },
  /** A switch: present or absent. */
  boolean(description: string): Flag<boolean> {
    return {
      type: "boolean",
      multiple: false,
      description,
      placeholder: "",
      default: false,
      decode: () => ({ ok: true, value: true }),
    };
  },
  /** A whole number, optionally bounded. */
  integer<D extends number | undefined = undefined>(
    description: string,
    options: {
      readonly min?: number;
      readonly max?: number;
      readonly default?: D;
      readonly placeholder?: string;
    } = {},
  ): Flag<Optional<number, D>> {
    return {
      type: "string",
      multiple: false,
      description,
      placeholder: options.placeholder ?? "N",
      default: options.default as Optional<number, D>,
      decode: numberFrom([
        Schema.isInt(),
        ...(options.min === undefined ? [] : [Schema.isGreaterThanOrEqualTo(options.min)]),
        ...(options.max === undefined ? [] : [Schema.isLessThanOrEqualTo(options.max)]),
      ]),
    };
  },
  /** A finite number, optionally required to be positive. */
  number<D extends number | undefined = undefined>(
    description: string,
    options: { readonly positive?: boolean; readonly default?: D; readonly placeholder?: string } =
      {},
  ): Flag<Optional<number, D>> {
    return {
      type: "string",
      multiple: false,
      description,
      placeholder: options.placeholder ?? "X",
      default: options.default as Optional<number, D>,
      decode: numberFrom([
        Schema.isFinite(),
        ...(options.positive ? [Schema.isGreaterThan(0)] : []),
      ]),
    };
  },
  /** One of a fixed set of words. */
  choice<const C extends string, D extends C | undefined = undefined>(
    choices: ReadonlyArray<C>,
    description: string,
    options: { readonly default?: D } = {},
  ): Flag<Optional<C, D>> {
    return {
      type: "string",
      multiple: false,
      description,
      placeholder: choices.join("|"),
      default: options.default as Optional<C, D>,
      decode: choiceDecoder(choices),
    };
  },
  /**
   * Words of a fixed set, repeatable or comma-separated (`--set a --set b`, `--set a,b`);
   * absent = undefined (the task's "all").
   */
  choices<const C extends string>(
    choices: ReadonlyArray<C>,
    description: string,
  ): Flag<ReadonlyArray<C> | undefined> {
    const one = choiceDecoder(choices);
    return {
      type: "string",
      multiple: true,
      description,
      placeholder: choices.join("|"),
      default: undefined,
      decode: (raw) => {
        const values: Array<unknown> = [];
        for (const word of raw.split(",")) {
          const result = one(word);
          if (!result.ok) {
            return raw.includes(",")
              ? { ok: false, problem: `${JSON.stringify(word)}: ${result.problem}` }
              : result;
          }
          values.push(result.value);
        }
        return { ok: true, value: values };
      },
    };
  },
};

/** The `--detector DIR` flag of the tasks that use a fitted-detector folder. */
export const detectorFolderFlag = flag.string(
  "the fitted detector folder (written by `deno task fit`)",
  { placeholder: "DIR" },
);

/** The `--backend` flag every computing task takes. */
export const backendFlag = flag.choice(
  ["auto", "tensorflow", "wasm", "cpu", "webgpu"] as const,
  "tfjs backend (default: GROOD_BACKEND or auto)",
);

/** The task's usage text: the call, the summary, each flag with its description and default. */
export function usage<F extends Record<string, Flag<unknown>>>(cli: CommandLine<F>): string {
  const rows = Object.entries(cli.flags).map(([name, f]) => {
    const left = `--${name}${f.placeholder === "" ? "" : ` ${f.placeholder}`}`;
    const fallback = f.default === undefined || f.default === false
      ? ""
      : ` (default ${String(f.default)})`;
    return [left, `${f.description}${f.multiple ? " (repeatable)" : ""}${fallback}`] as const;
  });
  const width = Math.max(0, ...rows.map(([left]) => left.length));
  const positional = cli.positionals === undefined ? "" : ` ${cli.positionals.usage}`;
  return [
    `usage: ${cli.command}${positional}${rows.length > 0 ? " [flags]" : ""}`,
    "",
    cli.summary,
    ...(cli.positionals?.description === undefined ? [] : ["", cli.positionals.description]),
    ...(rows.length === 0 ? [] : ["", "flags:"]),
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`),
    `  ${"--help".padEnd(width)}  print this and exit`,
    ...(cli.notes === undefined ? [] : ["", ...cli.notes]),
  ].join("\n");
}

/** Read `argv` against the task's flags, without side effects. */
export function parseArgv<F extends Record<string, Flag<unknown>>>(
  cli: CommandLine<F>,
  argv: ReadonlyArray<string>,
): ParsedCommandLine<F> {
  if (argv.includes("--help") || argv.includes("-h")) return { _tag: "Help" };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: Object.fromEntries(
        Object.entries(cli.flags).map((
          [name, f],
        ) => [name, { type: f.type, multiple: f.multiple }]),
      ),
    });
  } catch (error) {
    return { _tag: "UsageError", problem: parseArgsProblem(error, Object.keys(cli.flags)) };
  }
  const values: Record<string, unknown> = {};
  const problems: Array<string> = [];
  for (const [name, f] of Object.entries(cli.flags)) {
    const raw = parsed.values[name];
    if (raw === undefined) {
      values[name] = f.default;
    } else if (f.type === "boolean") {
      values[name] = raw;
    } else {
      const written = (Array.isArray(raw) ? raw : [raw]) as ReadonlyArray<string>;
      const decoded: Array<unknown> = [];
      for (const w of written) {
        const result = f.decode(w);
        if (result.ok) decoded.push(result.value);
        else problems.push(`bad value ${JSON.stringify(w)} for --${name}: ${result.problem}`);
      }
      values[name] = f.multiple ? decoded.flat() : decoded[0];
    }
  }
  const positionals = parsed.positionals;
  const expected = cli.positionals ?? { usage: "", min: 0, max: 0 };
  if (positionals.length < expected.min) problems.push(`missing ${expected.usage}`);
  if (positionals.length > expected.max) {
    const extra = positionals.slice(expected.max).map((p) => JSON.stringify(p)).join(" ");
    problems.push(`unexpected argument ${extra}`);
  }
  if (problems.length > 0) return { _tag: "UsageError", problem: problems.join("\nerror: ") };
  return {
    _tag: "Parsed",
    values: values as { readonly [K in keyof F]: FlagValue<F[K]> },
    positionals,
  };
}

/** node:util's parse errors, as one line naming the flag (and the nearest known one). */
function parseArgsProblem(error: unknown, flags: ReadonlyArray<string>): string {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = /^Unknown option '-{1,2}([^']*)'/.exec(message);
  if (unknown !== null) {
    const near = nearest(unknown[1]!, flags) ??
      flags.find((f) => unknown[1]!.startsWith(f) || f.startsWith(unknown[1]!));
    return `unknown flag --${unknown[1]}${near === undefined ? "" : `; did you mean --${near}?`}`;
  }
  return message.split("\n")[0]!.replace(/\. To specify a positional argument.*$/, "");
}

/**
 * Read the task's command line (default `Deno.args`). On `--help` print the usage and exit 0;
 * on any problem print it, then the usage, to stderr and exit 2.
 */
export function parseCommandLine<F extends Record<string, Flag<unknown>>>(
  cli: CommandLine<F>,
  argv: ReadonlyArray<string> = Deno.args,
): {
  readonly values: { readonly [K in keyof F]: FlagValue<F[K]> };
  readonly positionals: ReadonlyArray<string>;
} {
  const parsed = parseArgv(cli, argv);
  if (parsed._tag === "Help") {
    console.log(usage(cli));
    Deno.exit(0);
  }
  if (parsed._tag === "UsageError") usageError(cli, parsed.problem);
  return parsed;
}

/** Print `problem` and the usage to stderr and exit with code 2. */
export function usageError<F extends Record<string, Flag<unknown>>>(
  cli: CommandLine<F>,
  problem: string,
): never {
  console.error(`error: ${problem}\n\n${usage(cli)}`);
  Deno.exit(2);
}

/** The `--detector DIR` folder, absolute; a usage error (exit 2) when it is missing. */
export function detectorFolder<F extends Record<string, Flag<unknown>>>(
  cli: CommandLine<F>,
  value: string | undefined,
): string {
  return invocationPath(value ?? usageError(cli, "say which fitted detector: --detector DIR"));
}

/**
 * Run a task's program; on failure print the error's message and exit with code 1.
 * `logs: "stderr"` sends the log lines to stderr, for tasks whose stdout is data (`score`).
 */
export async function runTask<A, E>(
  program: Effect.Effect<A, E, Compute>,
  backend?: string,
  options: {
    readonly logs?: "stdout" | "stderr";
    /** The task's loggers (over `logs`); a failure is logged through them too. */
    readonly logger?: Layer.Layer<never>;
  } = {},
): Promise<A> {
  const parsed = parseBackend(backend);
  const layer: Layer.Layer<Compute, unknown> = Compute.layer(
    parsed === undefined ? (backend as BackendName) : parsed,
  );
  const provided = Effect.provide(program, layer);
  const exit = await Effect.runPromiseExit(
    options.logger !== undefined
      ? Effect.provide(provided, options.logger)
      : options.logs === "stderr"
      ? Effect.provide(provided, Logger.layer([Logger.withConsoleError(Logger.formatSimple)]))
      : provided,
  );
  if (Exit.isSuccess(exit)) return exit.value;
  const failure = exit.cause.reasons.find(Cause.isFailReason);
  const error = failure?.error;
  const text = error instanceof Error ? error.message : Cause.pretty(exit.cause);
  if (options.logger !== undefined) {
    await Effect.runPromise(Effect.logError(`error: ${text}`).pipe(Effect.provide(options.logger)));
  } else console.error(`error: ${text}`);
  Deno.exit(1);
}

/** Format seconds as `1m 23s` / `4.2s`. */
export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  return `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`;
}

/**
 * A path the user typed, made absolute. `deno task` runs tasks in the checkout's folder and
 * records where it was typed in `INIT_CWD`; relative paths are taken from there.
 */
export function invocationPath(path: string): string {
  return resolve(Deno.env.get("INIT_CWD") ?? Deno.cwd(), path);
}
