/**
 * The one `grood` command: every task (`commands/mod.ts`) as a subcommand, placed by its path
 * (`bench serve` under `bench`, `cache clear` under `cache`). `effect/cli` gives the help of
 * every level (`--help`, `-h`), `--version`, shell completions (`--completions bash|zsh|fish`)
 * and the usage errors: an unknown subcommand or flag is refused by name with the
 * nearest known one ("Did you mean this?"), a bad value names the flag and what it expects.
 *
 * {@link runGrood} runs a command line and returns the exit code: 0 after a task or the help,
 * 2 after a usage error (the help and the problem printed on stderr, no stack trace). A task
 * that fails prints its own typed error and exits 1 (`runTask`).
 *
 * @module
 */
import { Cause, ConfigProvider, Effect, Exit, Layer } from "effect";
import { CliConfig, CliError, CliOutput, Command, GlobalFlag } from "effect/cli";
import { denoCliEnvironment } from "./environment.ts";
import { type AnyTask, type TaskCommand, TaskRunner } from "./task.ts";

/** The one-line help of the folders of the tree that are not tasks themselves. */
const GROUPS: Readonly<Record<string, string>> = {
  cache: "The stage cache (cache clear: remove every entry).",
  cluster: "Batch scoring across machines on Effect Cluster with PostgreSQL (cluster runner: " +
    "join and score chunks; cluster score: split a job into chunks and merge the rows).",
};

/** A level of the command tree: the task there (if any) and the levels below. */
interface Node {
  task: AnyTask | undefined;
  readonly children: Map<string, Node>;
}

/** The `effect/cli` command of `node` (named `word`), its subcommands attached. */
function commandOf(word: string, node: Node): Command.Command.Any {
  const own: Command.Command.Any = node.task?.command ??
    Command.make(word).pipe(
      Command.withDescription(GROUPS[word] ?? word),
      Command.withShortDescription(GROUPS[word] ?? word),
    );
  const children = [...node.children].map(([w, n]) => commandOf(w, n));
  return children.length === 0
    ? own
    : Command.withSubcommands(own as Command.Command<string, unknown>, children);
}

/** The `grood` command with `tasks` as its subcommands. */
export function groodCommand(
  tasks: ReadonlyArray<AnyTask>,
): TaskCommand {
  const root: Node = { task: undefined, children: new Map() };
  for (const task of tasks) {
    let node = root;
    for (const word of task.path.split(" ")) {
      let next = node.children.get(word);
      if (next === undefined) {
        next = { task: undefined, children: new Map() };
        node.children.set(word, next);
      }
      node = next;
    }
    node.task = task;
  }
  return Command.make("grood").pipe(
    Command.withDescription(
      "grood: gradient-aware out-of-distribution detection (GROOD) and 20+ baselines. " +
        "Run `grood <command> --help` for a command's flags.",
    ),
    Command.withSubcommands([...root.children].map(([w, n]) => commandOf(w, n))),
  ) as unknown as TaskCommand;
}

/**
 * Help on stdout; a usage error's help and problem on stderr (stdout may be a task's data, as
 * `grood score`'s CSV).
 */
const presenter: CliOutput.Presenter = {
  present: (event) =>
    Effect.gen(function* () {
      const formatter = yield* CliOutput.Formatter;
      switch (event._tag) {
        case "Help":
          return yield* Effect.sync(() => console.log(formatter.formatHelpDoc(event.helpDoc)));
        case "Version":
          return yield* Effect.sync(() =>
            console.log(formatter.formatVersion(event.name, event.version))
          );
        case "InvalidInvocation":
          return yield* Effect.sync(() =>
            console.error(
              `${formatter.formatHelpDoc(event.helpDoc)}\n${formatter.formatErrors(event.errors)}`,
            )
          );
      }
    }),
};

/**
 * The built-in flags: help, version, completions. Not the interactive wizard (grood never
 * prompts), nor `--log-level`: a task runs its own Effect runtime (`runTask`), which that
 * setting would not reach, and a flag that does nothing is not offered.
 */
const BUILT_INS = [GlobalFlag.Help, GlobalFlag.Version, GlobalFlag.Completions];

/** What {@link runGrood} needs: the tasks, the version shown, and what runs a chosen task. */
export interface GroodCli {
  readonly tasks: ReadonlyArray<AnyTask>;
  readonly version: string;
  readonly runner: TaskRunner["Service"];
  /** The environment flags fall back to (`--pg`: `$GROOD_CLUSTER_PG`); default: the process's. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Run the command line `argv`; the exit code (0 done, 2 usage error, 1 failure). */
export async function runGrood(argv: ReadonlyArray<string>, cli: GroodCli): Promise<number> {
  const program = Command.runWith(groodCommand(cli.tasks), { version: cli.version })(argv);
  const exit = await Effect.runPromiseExit(program.pipe(
    Effect.provide(Layer.mergeAll(
      denoCliEnvironment(argv),
      CliConfig.layer({ builtIns: BUILT_INS }),
      CliOutput.layerPresenter(presenter),
      Layer.succeed(TaskRunner, cli.runner),
      cli.env === undefined
        ? Layer.empty
        : ConfigProvider.layer(ConfigProvider.fromEnv({ env: cli.env })),
    )),
  ));
  if (Exit.isSuccess(exit)) return 0;
  const error: unknown = exit.cause.reasons.find(Cause.isFailReason)?.error;
  if (CliError.isCliError(error)) {
    // A bare group (`grood`, `grood cache`) shows its help: not an error.
    return error._tag === "ShowHelp" && error.errors.length === 0 ? 0 : 2;
  }
  console.error(`error: ${error instanceof Error ? error.message : Cause.pretty(exit.cause)}`);
  return 1;
}
