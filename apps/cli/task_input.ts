/**
 * How a task's module (`tasks/<name>.ts`) gets its decoded command line.
 *
 * `grood <task> …` (`apps/cli/main.ts`) decodes the whole command line with `effect/cli`, records
 * the chosen task's input here ({@link provideTaskInput}), then loads the task's module, whose
 * first line reads it: `const { values, positionals } = await taskInput(scoreTask)`. A task's
 * module run on its own (`deno run -A tasks/score.ts …`, as some tests do) finds no input
 * recorded: {@link taskInput} then decodes `Deno.args` as `grood score …` would, so the help,
 * the checks and the errors are the same; after the help or a usage error it exits (0 or 2).
 *
 * @module
 */
import { Effect } from "effect";
import { runGrood } from "./app.ts";
import { TASKS } from "./commands/mod.ts";
import type { AnyTask, Task, TaskInput } from "./task.ts";

/** The task chosen in this process, its input, and its arguments after its path. */
let chosen:
  | {
    readonly path: string;
    readonly input: TaskInput<unknown>;
    readonly args: ReadonlyArray<string>;
  }
  | undefined;

/** Record the input of the task at `path` (its command line was `…path args`). */
export function provideTaskInput(
  path: string,
  input: TaskInput<unknown>,
  args: ReadonlyArray<string>,
): void {
  chosen = { path, input, args };
}

/** `argv` without the words of `path` (the subcommand names, in order): the task's own args. */
export function argsAfterPath(argv: ReadonlyArray<string>, path: string): ReadonlyArray<string> {
  const words = path.split(" ");
  const args: Array<string> = [];
  for (const arg of argv) {
    if (words.length > 0 && arg === words[0]) words.shift();
    else args.push(arg);
  }
  return args;
}

/** The version `grood --version` shows when a task's module is run on its own. */
const DIRECT_VERSION = "(a task run on its own)";

/**
 * The decoded command line of `task`: recorded by `grood`, or decoded from `Deno.args` when the
 * task's module is run on its own (exits after its help or a usage error).
 */
export async function taskInput<Path extends string, V>(
  task: Task<Path, V>,
): Promise<TaskInput<V>> {
  if (chosen?.path === task.path) return chosen.input as TaskInput<V>;
  const words = task.path.split(" ");
  const code = await runGrood([...words, ...Deno.args], {
    tasks: TASKS as ReadonlyArray<AnyTask>,
    version: DIRECT_VERSION,
    runner: {
      run: (path, input) => Effect.sync(() => provideTaskInput(path, input, Deno.args)),
    },
  });
  if (chosen?.path === task.path) return chosen.input as TaskInput<V>;
  if (code === 0 && chosen !== undefined) {
    console.error(`error: run "grood ${chosen.path}" for that (this file is grood ${task.path})`);
    Deno.exit(2);
  }
  Deno.exit(code);
}

/** The chosen task's arguments after its path (`--detector d --port 0` of `grood serve …`). */
export function taskArgs(): ReadonlyArray<string> {
  return chosen?.args ?? Deno.args;
}
