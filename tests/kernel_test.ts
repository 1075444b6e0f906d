import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const CHECKOUT = fileURLToPath(new URL("../", import.meta.url));

Deno.test("the notebooks' Deno kernel is registered in the checkout, never user-wide", async () => {
  const home = await Deno.makeTempDir();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "tasks/notebooks.ts", "--kernel-only"],
    cwd: CHECKOUT,
    env: { HOME: home, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, stdout + new TextDecoder().decode(output.stderr));
  const kernelDir = join(CHECKOUT, ".jupyter", "kernels", "deno");
  const kernel = JSON.parse(await Deno.readTextFile(join(kernelDir, "kernel.json")));
  assert.equal(kernel.argv[0], Deno.execPath(), "this checkout's deno");
  assert.deepEqual(kernel.argv.slice(1), ["jupyter", "--kernel", "--conn", "{connection_file}"]);
  assert.ok(!existsSync(join(home, ".local", "share", "jupyter")), "the home folder is untouched");
  assert.match(stdout, new RegExp(`JUPYTER_PATH=${join(CHECKOUT, ".jupyter")}`));
  // Jupyter resolves the notebooks' kernel name "deno" to this checkout's kernelspec first.
  const list = await new Deno.Command("jupyter", {
    args: ["kernelspec", "list", "--json"],
    env: { HOME: home, JUPYTER_PATH: join(CHECKOUT, ".jupyter") },
    stdout: "piped",
    stderr: "piped",
  }).output().catch(() => undefined);
  if (list === undefined || list.code !== 0) return; // jupyter-client not installed: set-up does it
  const specs = JSON.parse(new TextDecoder().decode(list.stdout)).kernelspecs;
  assert.equal(specs.deno.resource_dir, kernelDir);
});

Deno.test("the executed notebooks are an output folder: a folder of the user's is refused before any runs", async () => {
  const mine = await Deno.makeTempDir();
  await Deno.writeTextFile(join(mine, "01-quickstart.ipynb"), "my own notes");
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "apps/cli/main.ts", "notebooks", "--out", mine, "01"],
    cwd: CHECKOUT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 1, stderr);
  assert.match(stderr, /Refusing to write ".*": it holds files grood did not write/);
  assert.doesNotMatch(new TextDecoder().decode(output.stdout), /▶ 01-quickstart/, "nothing ran");
  assert.equal(await Deno.readTextFile(join(mine, "01-quickstart.ipynb")), "my own notes");
  await Deno.remove(mine, { recursive: true });
});
