/**
 * The flags of grood's command line, built on `effect/cli`'s `Flag`: each constructor takes
 * what the help shows (a description, a placeholder, the default) and how a value is checked,
 * and returns a {@link FlagSpec} (a flag still to be named). {@link flagsConfig} names a task's
 * flags by their keys, so a key is always the flag's name (`values["no-cache"]` is `--no-cache`).
 *
 * Values are decoded strictly: numbers by `effect/cli`'s primitives (no hex, no `Infinity`, no
 * `2.5` for a whole number, nothing past 2^53), bounds checked, never clamped; an optional flag
 * that is absent is `undefined`; repeatable flags are `undefined` when absent (the task's "all").
 *
 * @example
 * ```ts
 * import { Flag } from "effect/cli";
 * import { flag, flagsConfig } from "./flags.ts";
 * const config = flagsConfig({ seed: flag.integer("random seed", { min: 0, default: 0 }) });
 * const seed: Flag.Flag<number> = config.seed;
 * ```
 *
 * @module
 */
import { Config, Effect, Option } from "effect";
import { CliError, Flag } from "effect/cli";
import { nearest } from "../../mod.ts";

/** A flag still to be named: {@link flagsConfig} gives it its key as its name. */
export type FlagSpec<A> = (name: string) => Flag.Flag<A>;

/** The value a {@link FlagSpec} decodes to. */
export type SpecValue<S> = S extends FlagSpec<infer A> ? A : never;

/** A task's flags, by name (`any`: a flag's value type is invariant, and each differs). */
// deno-lint-ignore no-explicit-any
export type FlagSpecs = Readonly<Record<string, FlagSpec<any>>>;

/** The `effect/cli` flags of `specs`, each named by its key. */
export type FlagsConfig<S extends FlagSpecs> = {
  readonly [K in keyof S]: Flag.Flag<SpecValue<S[K]>>;
};

/** Name each flag of `specs` by its key. */
export function flagsConfig<S extends FlagSpecs>(specs: S): FlagsConfig<S> {
  return Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [name, spec(name)]),
  ) as FlagsConfig<S>;
}

type Optional<A, D> = D extends undefined ? A | undefined : A;

/** `(default X)` after a description, when there is a default worth showing. */
const withDefaultNote = (description: string, value: unknown): string =>
  value === undefined || value === false ? description : `${description} (default ${value})`;

/** Describe, name the placeholder, and apply the default (or make the flag optional). */
function finish<A, D extends A | undefined>(
  base: Flag.Flag<A>,
  description: string,
  placeholder: string,
  fallback: D,
): Flag.Flag<Optional<A, D>> {
  const described = base.pipe(
    Flag.withDescription(withDefaultNote(description, fallback)),
    Flag.withMetavar(placeholder),
  );
  return (fallback === undefined
    ? described.pipe(Flag.optional, Flag.map(Option.getOrUndefined))
    : described.pipe(Flag.withDefault(fallback as A))) as Flag.Flag<Optional<A, D>>;
}

/** A bounds check's message, as the old parser wrote it. */
const bounds = (min: number | undefined, max: number | undefined) => (n: number): boolean =>
  (min === undefined || n >= min) && (max === undefined || n <= max);

const boundsText = (min: number | undefined, max: number | undefined): string =>
  min !== undefined && max !== undefined
    ? `a number from ${min} to ${max}`
    : min !== undefined
    ? `a number greater than or equal to ${min}`
    : `a number less than or equal to ${max}`;

/** One word of `choices`; a miss names them and the nearest. */
const checkChoice = <C extends string>(choices: ReadonlyArray<C>) => (raw: string) =>
  (choices as ReadonlyArray<string>).includes(raw) ? Option.some(raw as C) : Option.none<C>();

const choiceProblem = (choices: ReadonlyArray<string>) => (raw: string): string => {
  const bad = raw.split(",").find((word) => !choices.includes(word)) ?? raw;
  const near = nearest(bad, choices);
  return `one of ${choices.join(", ")}${near === undefined ? "" : `; did you mean ${near}?`}`;
};

/** Flag constructors. */
export const flag = {
  /** A free, non-empty string (a path, a name); `required` makes it compulsory. */
  string<D extends string | undefined = undefined>(
    description: string,
    options: { readonly default?: D; readonly placeholder?: string } = {},
  ): FlagSpec<Optional<string, D>> {
    return (name) =>
      finish(
        Flag.String(name).pipe(Flag.filter((s) => s !== "", () => "a non-empty value")),
        description,
        options.placeholder ?? "VALUE",
        options.default as D,
      );
  },
  /** A compulsory, non-empty string: its absence is a usage error naming it. */
  required(description: string, options: { readonly placeholder?: string } = {}): FlagSpec<string> {
    return (name) =>
      Flag.String(name).pipe(
        Flag.filter((s) => s !== "", () => "a non-empty value"),
        Flag.withDescription(`${description} (required)`),
        Flag.withMetavar(options.placeholder ?? "VALUE"),
      );
  },
  /**
   * A compulsory, non-empty string that falls back to the environment variable `env` (read
   * through Effect's `ConfigProvider`; an empty variable counts as unset). Neither given is a
   * usage error naming both.
   */
  requiredOrEnv(
    description: string,
    env: string,
    options: { readonly placeholder?: string } = {},
  ): FlagSpec<string> {
    return (name) =>
      Flag.String(name).pipe(
        Flag.filter((s) => s !== "", () => "a non-empty value"),
        Flag.withFallbackConfig(Config.String(env)),
        Flag.optional,
        Flag.mapEffect(Option.match({
          onSome: Effect.succeed,
          onNone: () =>
            Effect.fail(
              new CliError.ValidationError({
                message: `give --${name} ${options.placeholder ?? "VALUE"} or set $${env}`,
              }),
            ),
        })),
        Flag.withDescription(`${description} (default: $${env}; one of them is required)`),
        Flag.withMetavar(options.placeholder ?? "VALUE"),
      );
  },
  /** Free strings, repeatable (`--benchmark a --benchmark b`); absent = undefined. */
  strings(
    description: string,
    options: { readonly placeholder?: string } = {},
  ): FlagSpec<ReadonlyArray<string> | undefined> {
    return (name) =>
      Flag.String(name).pipe(
        Flag.filter((s) => s !== "", () => "a non-empty value"),
        Flag.atLeast(0),
        Flag.map((list) => list.length === 0 ? undefined : list),
        Flag.withDescription(`${description} (repeatable)`),
        Flag.withMetavar(options.placeholder ?? "VALUE"),
      );
  },
  /** Free strings, repeatable, at least one: its absence is a usage error naming it. */
  someStrings(
    description: string,
    options: { readonly placeholder?: string } = {},
  ): FlagSpec<ReadonlyArray<string>> {
    return (name) =>
      Flag.String(name).pipe(
        Flag.filter((s) => s !== "", () => "a non-empty value"),
        Flag.atLeast(1),
        Flag.withDescription(`${description} (repeatable; required)`),
        Flag.withMetavar(options.placeholder ?? "VALUE"),
      );
  },
  /** A switch: present (`--x`, `--x=true`) or absent. */
  boolean(description: string): FlagSpec<boolean> {
    return (name) =>
      Flag.Boolean(name).pipe(Flag.withDefault(false), Flag.withDescription(description));
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
  ): FlagSpec<Optional<number, D>> {
    const { min, max } = options;
    return (name) =>
      finish(
        min === undefined && max === undefined
          ? Flag.Int(name)
          : Flag.Int(name).pipe(Flag.filter(bounds(min, max), () => boundsText(min, max))),
        description,
        options.placeholder ?? "N",
        options.default as D,
      );
  },
  /** A finite number, optionally required to be positive. */
  number<D extends number | undefined = undefined>(
    description: string,
    options: { readonly positive?: boolean; readonly default?: D; readonly placeholder?: string } =
      {},
  ): FlagSpec<Optional<number, D>> {
    return (name) =>
      finish(
        options.positive
          ? Flag.Finite(name).pipe(Flag.filter((x) => x > 0, () => "a number greater than 0"))
          : Flag.Finite(name),
        description,
        options.placeholder ?? "X",
        options.default as D,
      );
  },
  /** One of a fixed set of words. */
  choice<const C extends string, D extends C | undefined = undefined>(
    choices: ReadonlyArray<C>,
    description: string,
    options: { readonly default?: D } = {},
  ): FlagSpec<Optional<C, D>> {
    return (name) =>
      finish(
        Flag.String(name).pipe(Flag.filterMap(checkChoice(choices), choiceProblem(choices))),
        description,
        choices.join("|"),
        options.default as D,
      );
  },
  /**
   * Words of a fixed set, repeatable or comma-separated (`--set a --set b`, `--set a,b`);
   * absent = undefined (the task's "all").
   */
  choices<const C extends string>(
    choices: ReadonlyArray<C>,
    description: string,
  ): FlagSpec<ReadonlyArray<C> | undefined> {
    const one = checkChoice(choices);
    return (name) =>
      Flag.String(name).pipe(
        Flag.filterMap((raw) => {
          const words = raw.split(",").map(one);
          return words.every(Option.isSome)
            ? Option.some(words.map((w) => w.value))
            : Option.none();
        }, choiceProblem(choices)),
        Flag.atLeast(0),
        Flag.map((lists) => lists.length === 0 ? undefined : lists.flat()),
        Flag.withDescription(`${description} (repeatable or comma-separated)`),
        Flag.withMetavar(choices.join("|")),
      );
  },
};
