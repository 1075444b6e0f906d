/**
 * `deno task notebooks [--dir notebooks] [--out results/notebooks] [--timeout 900] [--kernel-only]
 * [name…]`:
 * execute every notebook headless with the Deno Jupyter kernel and check what it shows.
 *
 * 1. Registers a kernel of this checkout's own: `.jupyter/kernels/deno/kernel.json` (git-ignored)
 *    pointing at this very deno binary, found by Jupyter through `JUPYTER_PATH=<checkout>/.jupyter`
 *    set for nbconvert only. The user-wide `~/.local/share/jupyter/kernels/deno` is never
 *    written, so two checkouts on one machine never run each other's deno. (`--kernel-only`
 *    stops here and prints the `JUPYTER_PATH` to use with an interactive `jupyter lab`.)
 * 2. Runs `jupyter nbconvert --to notebook --execute` on each `<dir>/*.ipynb` (or those whose
 *    name contains one of the given names). The executed copies are one output folder, `--out`:
 *    written beside it and swapped in whole (a run of some notebooks leaves only theirs), never
 *    over the sources or a folder of the user's.
 * 3. Checks each executed notebook shows at least one table (`text/html`) and one plot
 *    (`image/svg+xml` or `image/png`), and prints the time per notebook.
 *
 * Exits with code 1 naming every notebook that failed, after trying them all.
 *
 * @module
 */
import { Cause, Effect, Schema } from "effect";
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { notebooksTask } from "../apps/cli/commands/notebooks.ts";
import { formatSeconds, invocationPath } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { type OutputFolderOptions, writeJsonAtomic, writeOutputFolder } from "../lib/io/mod.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

const { values, positionals } = await taskInput(notebooksTask);

/** Where this checkout's kernelspec lives: Jupyter finds it through `JUPYTER_PATH`. */
const JUPYTER_DIR = join(ROOT, ".jupyter");

/**
 * Write this checkout's Deno kernelspec (what `deno jupyter --install` writes, but into the
 * checkout instead of the user-wide folder).
 */
async function registerKernel(): Promise<string> {
  const dir = join(JUPYTER_DIR, "kernels", "deno");
  await writeJsonAtomic(join(dir, "kernel.json"), {
    argv: [Deno.execPath(), "jupyter", "--kernel", "--conn", "{connection_file}"],
    display_name: "Deno",
    language: "typescript",
  });
  return dir;
}

/** Run a command, capturing its output. */
async function run(
  command: string,
  args: ReadonlyArray<string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const output = await new Deno.Command(command, {
      args: [...args],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      // Plain text in the notebooks' outputs (the kernel inherits this environment), and this
      // checkout's kernelspec ahead of any user-wide one.
      env: {
        NO_COLOR: "1",
        JUPYTER_PATH: [JUPYTER_DIR, Deno.env.get("JUPYTER_PATH")].filter(Boolean).join(":"),
      },
    }).output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { code: 127, stdout: "", stderr: `${command}: command not found` };
    }
    throw error;
  }
}

/** The last lines of a command's output. */
const tail = (text: string, lines = 40) => text.trimEnd().split("\n").slice(-lines).join("\n");

/**
 * What nbconvert says about a failure: the failing cell and its error when it names one
 * (everything after `CellExecutionError`, not the Python traceback before it), else the tail.
 */
function cellError(stderr: string): string {
  const at = stderr.indexOf("CellExecutionError:");
  return at < 0 ? tail(stderr) : tail(stderr.slice(at), 60);
}

/**
 * The part of an executed notebook (nbformat 4) this check reads. It is Jupyter's format, not
 * grood's: keys it does not name are allowed, but what it names must have its type.
 */
const ExecutedNotebook = Schema.Struct({
  cells: Schema.Array(Schema.Struct({
    outputs: Schema.optionalKey(Schema.Array(Schema.Struct({
      output_type: Schema.String,
      ename: Schema.optionalKey(Schema.String),
      evalue: Schema.optionalKey(Schema.String),
      data: Schema.optionalKey(Schema.Record(Schema.String, Schema.Unknown)),
    }))),
  })),
});

/**
 * MIME types of every rich output of the executed notebook `text`, and its error outputs;
 * throws (naming the problem) when it is not JSON or not a notebook.
 */
function outputsOf(text: string): { mimes: Set<string>; errors: Array<string> } {
  const notebook = Schema.decodeUnknownSync(ExecutedNotebook)(JSON.parse(text));
  const mimes = new Set<string>();
  const errors: Array<string> = [];
  for (const cell of notebook.cells) {
    for (const output of cell.outputs ?? []) {
      if (output.output_type === "error") errors.push(`${output.ename}: ${output.evalue}`);
      for (const mime of Object.keys(output.data ?? {})) mimes.add(mime);
    }
  }
  return { mimes, errors };
}

/**
 * Execute `notebooks` of `dir` into `tmp` (which becomes `out`) and check what each shows; prints
 * a line per notebook and a table of times. Returns the exit code: 1 when any failed.
 */
async function executeAll(
  dir: string,
  notebooks: ReadonlyArray<string>,
  tmp: string,
  out: string,
  timeout: number,
): Promise<number> {
  const failures: Array<string> = [];
  const times: Array<[string, number, string]> = [];
  for (const name of notebooks) {
    console.log(`▶ ${name}`);
    const started = performance.now();
    const execute = async (): Promise<{ problems: Array<string>; missingOutput: boolean }> => {
      const result = await run("jupyter", [
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        `--ExecutePreprocessor.timeout=${timeout}`,
        "--output-dir",
        tmp,
        join(dir, name),
      ]);
      if (result.code !== 0) {
        return {
          problems: [`nbconvert exited with code ${result.code}:\n${cellError(result.stderr)}`],
          missingOutput: false,
        };
      }
      const executed = join(tmp, name);
      try {
        const { mimes, errors } = outputsOf(await Deno.readTextFile(executed));
        const missing: Array<string> = [];
        if (!mimes.has("text/html")) missing.push("no table (no text/html output)");
        if (!mimes.has("image/svg+xml") && !mimes.has("image/png")) {
          missing.push("no plot (no image/svg+xml or image/png output)");
        }
        return {
          problems: [
            ...(errors.length > 0 ? [`error outputs: ${errors.join("; ")}`] : []),
            ...missing,
          ],
          missingOutput: errors.length === 0 && missing.length > 0,
        };
      } catch (error) {
        return {
          problems: [`cannot read the executed notebook "${executed}": ${String(error)}`],
          missingOutput: false,
        };
      }
    };
    let { problems, missingOutput } = await execute();
    if (missingOutput) {
      // The Deno kernel (2.9) now and then loses a cell's displayed result under nbconvert,
      // with no error anywhere; one more run tells that apart from a notebook that shows nothing.
      console.error(`  ${name}: ${problems.join("; ")}; running it once more`);
      ({ problems } = await execute());
    }
    const seconds = (performance.now() - started) / 1000;
    const status = problems.length === 0 ? "ok" : "FAILED";
    times.push([name, seconds, status]);
    if (problems.length === 0) {
      console.log(`✔ ${name}: ${formatSeconds(seconds)} → ${join(out, basename(name))}`);
    } else {
      failures.push(name);
      console.error(`✘ notebook ${name} failed after ${formatSeconds(seconds)}:`);
      for (const problem of problems) console.error(`  ${problem.replaceAll("\n", "\n  ")}`);
    }
  }

  console.log("\nnotebook | time | status");
  for (const [name, seconds, status] of times) {
    console.log(`${name} | ${formatSeconds(seconds)} | ${status}`);
  }
  if (failures.length > 0) {
    console.error(`\nerror: ${failures.length} notebook(s) failed: ${failures.join(", ")}`);
    return 1;
  }
  return 0;
}

async function main(): Promise<number> {
  // A folder given is relative to where the command was typed (it was taken from the checkout:
  // `--out mydocs` typed in a folder holding mydocs wrote the checkout's mydocs); the defaults
  // are the checkout's.
  const dir = values.dir === undefined ? resolve(ROOT, "notebooks") : invocationPath(values.dir);
  const out = values.out === undefined
    ? resolve(ROOT, "results", "notebooks")
    : invocationPath(values.out);
  const timeout = values.timeout;

  let kernel: string;
  try {
    kernel = await registerKernel();
  } catch (error) {
    console.error(
      `error: cannot write the Deno kernelspec into "${JUPYTER_DIR}": ${String(error)}`,
    );
    return 1;
  }
  console.log(`Deno kernel registered in ${kernel} (${Deno.execPath()})`);
  if (values["kernel-only"]) {
    console.log(`Use it with: JUPYTER_PATH=${JUPYTER_DIR} jupyter lab`);
    return 0;
  }
  const version = await run("jupyter", ["nbconvert", "--version"]);
  if (version.code !== 0) {
    console.error(
      "error: `jupyter nbconvert` is not available; install it with " +
        "`apt-get install jupyter-nbconvert python3-nbclient jupyter-client` (scripts/setup.sh " +
        `does).\n${tail(version.stderr, 5)}`,
    );
    return 1;
  }

  console.log(`nbconvert ${version.stdout.trim()}`);

  let notebooks: Array<string>;
  try {
    notebooks = [...Deno.readDirSync(dir)]
      .filter((e) => e.isFile && e.name.endsWith(".ipynb"))
      .map((e) => e.name)
      .filter((name) => positionals.length === 0 || positionals.some((p) => name.includes(p)))
      .sort();
  } catch (error) {
    console.error(`error: cannot list notebooks in "${dir}": ${String(error)}`);
    return 1;
  }
  if (notebooks.length === 0) {
    console.error(
      `error: no notebooks in "${dir}"${
        positionals.length > 0 ? ` matching ${positionals.join(", ")}` : ""
      }`,
    );
    return 1;
  }
  // The executed copies are one output folder (docs/reliability.md, Output folders): checked
  // before anything runs, written beside and swapped in whole, never over a folder of the user's.
  // At the default place only, the folder an older grood wrote there without a marker (holding
  // the executed notebooks) is grood's: elsewhere, a folder holding notebooks of the same names
  // is as likely the user's.
  const rules: OutputFolderOptions = {
    kind: "executed notebooks",
    inputs: [dir],
    recognise: values.out === undefined ? notebooks : [],
  };
  const written = await Effect.runPromiseExit(
    writeOutputFolder(
      out,
      rules,
      (tmp) => Effect.promise(() => executeAll(dir, notebooks, tmp, out, timeout)),
    ),
  );
  if (written._tag === "Success") return written.value;
  const error = Cause.squash(written.cause);
  console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
  return 1;
}

Deno.exit(await main());
