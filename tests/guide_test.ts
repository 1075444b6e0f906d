/**
 * `docs/guide.md` works as written: its `sh` blocks, run in order by bash from the checkout (the
 * guide's first block defines `GROOD` and `grood` there), in a shell with no `deno` on its
 * `PATH`, an empty home folder and the guide's folder and port moved to a temporary folder and a
 * free port, exit 0; and every line of its `text` blocks (what the guide says a command prints,
 * `…` standing for anything) is in what they printed (stdout or stderr).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const guide = await Deno.readTextFile(join(root, "docs/guide.md"));

/** The bodies of the guide's fenced blocks of one language, in order. */
const blocks = (language: string): ReadonlyArray<string> =>
  [...guide.matchAll(new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, "gm"))]
    .map((match) => match[1]!);

/** A port no one listens on now. */
const freePort = (): number => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
};

/** A `text` line as a pattern: `…` stands for anything, the rest literally. */
const pattern = (line: string): RegExp =>
  new RegExp(line.split("…").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*"));

Deno.test("docs/guide.md: every command runs as written and prints what the guide shows", async () => {
  const home = await Deno.makeTempDir({ prefix: "grood-guide-" });
  const port = String(freePort());
  const commands = blocks("sh").join("\n");
  assert.match(commands, /~\/ood-guide/);
  assert.match(commands, /8080/);
  // Output to files, not pipes: a process the guide started and that outlived it (a bug) must
  // not hold the test open.
  const [stdoutFile, stderrFile] = [join(home, "stdout.txt"), join(home, "stderr.txt")];
  const script = `exec >"${stdoutFile}" 2>"${stderrFile}"\nset -e\n` +
    commands.replaceAll("~/ood-guide", join(home, "ood-guide")).replaceAll("8080", port);
  const out = await new Deno.Command("timeout", {
    args: ["600", "bash", "-c", script],
    cwd: root,
    clearEnv: true,
    env: { HOME: home, PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", NO_COLOR: "1" },
    stdout: "null",
    stderr: "null",
  }).output();
  const stdout = await Deno.readTextFile(stdoutFile);
  const stderr = await Deno.readTextFile(stderrFile);
  assert.equal(out.code, 0, `the guide's commands failed:\n${stdout}\n${stderr}`);
  const shown = blocks("text").flatMap((block) => block.split("\n")).filter((l) => l.trim());
  assert.ok(shown.length >= 30, `${shown.length} output lines in the guide`);
  // `score` writes its summary to stderr (its stdout is the CSV when there is no --out).
  const printed = `${stdout}\n${stderr}`;
  const missing = shown.filter((line) => !pattern(line).test(printed));
  assert.deepEqual(missing, [], "lines the guide shows but its commands did not print");
  await Deno.remove(home, { recursive: true });
});
