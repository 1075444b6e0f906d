/**
 * Notice when the wrapper processes that started this one die. `npm`, `npx`, the npm `deno`
 * package's launcher and `deno task` start a program as a child and do not pass a SIGTERM sent to
 * them on to it: the wrapper dies and the program runs on, orphaned. A long-running task (the
 * scoring service) watches its chain of wrapper ancestors and treats the death of any of them as
 * a stop signal.
 *
 * Linux only (`/proc`); elsewhere nothing is watched.
 *
 * @module
 */
import { Effect } from "effect";

/** Programs whose processes are wrappers (a shell counts only when running `-c`). */
const WRAPPERS = new Set(["node", "deno", "npm", "npx", "nodejs"]);
const SHELLS = new Set(["sh", "dash", "bash"]);

/** A process, identified by its id and its start time (ids are reused). */
interface ProcessId {
  readonly pid: number;
  readonly start: string;
}

/** `[ppid, start time, command name]` of `pid`, from `/proc/<pid>/stat`; undefined when gone. */
function stat(pid: number): { ppid: number; start: string; comm: string } | undefined {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const open = text.indexOf("(");
    const close = text.lastIndexOf(")");
    const comm = text.slice(open + 1, close);
    const fields = text.slice(close + 2).split(" ");
    return { ppid: Number(fields[1]), start: fields[19] ?? "", comm };
  } catch {
    return undefined;
  }
}

function isWrapper(pid: number, comm: string): boolean {
  if (WRAPPERS.has(comm)) return true;
  if (!SHELLS.has(comm)) return false;
  try {
    const args = Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0");
    return args[1] === "-c";
  } catch {
    return false;
  }
}

/** This process's ancestors that are wrappers, nearest first, up to the first that is not. */
export function wrapperAncestors(): ReadonlyArray<ProcessId> {
  if (Deno.build.os !== "linux") return [];
  const found: Array<ProcessId> = [];
  let pid = stat(Deno.pid)?.ppid ?? 0;
  for (let depth = 0; depth < 8 && pid > 1; depth++) {
    const info = stat(pid);
    if (info === undefined || !isWrapper(pid, info.comm)) break;
    found.push({ pid, start: info.start });
    pid = info.ppid;
  }
  return found;
}

/**
 * The wrapper ancestors when this module was first evaluated: `apps/cli/main.ts` imports it
 * first, so at the process's start. Looked up later (once a server was ready), a wrapper killed
 * while the model loaded was already gone, and its orphaned server, seeing none, ran on.
 */
const atStart = wrapperAncestors();

/**
 * Succeeds with a description once any of this process's wrapper ancestors at its start has died
 * (checked every `everyMs`); never, when there were none.
 */
export const wrapperGone = (everyMs = 250): Effect.Effect<string> => {
  const watched = atStart;
  if (watched.length === 0) return Effect.never;
  return Effect.callback<string>((resume) => {
    const timer = setInterval(() => {
      const gone = watched.find((p) => stat(p.pid)?.start !== p.start);
      if (gone !== undefined) resume(Effect.succeed(`the parent process ${gone.pid} exited`));
    }, everyMs);
    return Effect.sync(() => clearInterval(timer));
  });
};
