/**
 * One task of the `grood` command: its place in the command tree (`"score"`, `"bench serve"`),
 * its help (summary, description, examples), its flags and positional arguments, and the checks
 * across flags, built as an `effect/cli` `Command`. Running it hands the decoded input to the
 * {@link TaskRunner} in the context: `apps/cli/main.ts` loads the task's module (`tasks/`),
 * which reads the input with `taskInput` (`task_input.ts`).
 *
 * @example
 * ```ts
 * import { flag } from "./flags.ts";
 * import { task } from "./task.ts";
 * const demo = task("demo", {
 *   summary: "A demo.",
 *   flags: { seed: flag.integer("random seed", { min: 0, default: 0 }) },
 * });
 * if (demo.command.name !== "demo") throw new Error("named by the last word of its path");
 * ```
 *
 * @module
 */
import { Context, Effect } from "effect";
import { Argument, CliError, Command } from "effect/cli";
import { flagsConfig, type FlagSpecs, type SpecValue } from "./flags.ts";

/** The decoded flags of a task whose flags are `S`. */
export type FlagValues<S extends FlagSpecs> = { readonly [K in keyof S]: SpecValue<S[K]> };

/** What a task receives: its flags by name and its positional arguments (none if it takes none). */
export interface TaskInput<V> {
  readonly values: V;
  readonly positionals: ReadonlyArray<string>;
}

/** A task's positional arguments: how the help names them and how many it takes. */
export interface Positionals {
  readonly name: string;
  readonly description: string;
  readonly min: number;
  /** `Infinity`: no upper bound. */
  readonly max: number;
}

/** Everything the help shows about a task, and how its input is checked. */
export interface TaskDefinition<S extends FlagSpecs> {
  /** One line, shown in `grood --help`. */
  readonly summary: string;
  /** The task's own help text (default: the summary). */
  readonly description?: string;
  readonly flags: S;
  readonly positionals?: Positionals;
  readonly examples?: ReadonlyArray<{ readonly command: string; readonly description?: string }>;
}

/** Runs a task once its input is decoded: loads its module and hands the input over. */
export class TaskRunner extends Context.Service<TaskRunner, {
  readonly run: (path: string, input: TaskInput<unknown>) => Effect.Effect<void>;
}>()("grood/cli/TaskRunner") {}

/** A command of the `grood` tree: its input decoded, it needs a {@link TaskRunner}. */
export type TaskCommand = Command.Command<string, unknown, Record<never, never>, never, TaskRunner>;

/** A task of the `grood` command, typed by its path and its decoded flags. */
export interface Task<Path extends string, V> {
  readonly path: Path;
  readonly summary: string;
  readonly command: TaskCommand;
  /** Type only: what `taskInput` returns for this task. */
  readonly input?: TaskInput<V>;
}

/** Any task. */
// deno-lint-ignore no-explicit-any
export type AnyTask = Task<string, any>;

/**
 * The positional arguments as an `effect/cli` argument (always a list). Each must be non-empty,
 * as a string flag's value must: `grood score "$DATA"` with `DATA` unset is a usage error, not
 * the current folder.
 */
function argument(p: Positionals): Argument.Argument<ReadonlyArray<string>> {
  const one = Argument.String(p.name).pipe(
    Argument.withDescription(p.description),
    Argument.filter((s) => s !== "", () => "a non-empty value"),
  );
  return p.max === Infinity
    ? one.pipe(Argument.atLeast(p.min))
    : p.min === 1 && p.max === 1
    ? one.pipe(Argument.map((value) => [value]))
    : one.pipe(Argument.between(p.min, p.max));
}

/**
 * Define the task at `path` (its words: `"cache clear"` is `grood cache clear`); `check` finds a
 * problem across flags (`--a and --b exclude each other`), a usage error like any other.
 */
export function task<const Path extends string, S extends FlagSpecs>(
  path: Path,
  definition: TaskDefinition<S>,
  check?: (input: TaskInput<FlagValues<S>>) => string | undefined,
): Task<Path, FlagValues<S>> {
  const name = path.split(" ").at(-1)!;
  const config = {
    values: flagsConfig(definition.flags),
    ...(definition.positionals === undefined
      ? {}
      : { positionals: argument(definition.positionals) }),
  };
  const toInput = (
    raw: { readonly values: unknown; readonly positionals?: ReadonlyArray<string> },
  ): TaskInput<FlagValues<S>> => ({
    values: raw.values as FlagValues<S>,
    positionals: raw.positionals ?? [],
  });
  const command = Command.make(
    name,
    config,
    (raw) => TaskRunner.use((runner) => runner.run(path, toInput(raw))),
  ).pipe(
    Command.withDescription(definition.description ?? definition.summary),
    Command.withShortDescription(definition.summary),
    Command.withExamples(definition.examples ?? []),
    Command.validate((raw) => {
      const problem = check?.(toInput(raw));
      return problem === undefined
        ? Effect.void
        : Effect.fail(new CliError.ValidationError({ message: problem }));
    }),
  );
  return { path, summary: definition.summary, command: command as TaskCommand };
}
