import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect } from "effect";
import { writeNpyAtomic } from "../lib/io/npy.ts";
import { GREY_28, openSource, readSource } from "../lib/sources/mod.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

Deno.test("a script in a folder outside the checkout runs with `deno run -A --config <grood>/deno.json`", async () => {
  const dir = await Deno.makeTempDir({ prefix: "grood-anywhere-" });
  assert.ok(!dir.startsWith(root), "the folder must be outside the checkout");
  await Deno.copyFile(join(root, "fixtures", "anywhere.ts"), join(dir, "anywhere.ts"));
  const pixels = Uint8Array.from({ length: 3 * 784 }, (_, i) => (i * 13) % 256);
  await Effect.runPromise(writeNpyAtomic(join(dir, "images.npy"), pixels, [3, 28, 28]));
  const expected = await Effect.runPromise(
    Effect.flatMap(
      openSource({ kind: "npy", images: "images.npy" }, { baseDir: dir, shape: GREY_28 }),
      readSource,
    ),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", join(root, "deno.json"), "anywhere.ts"],
    cwd: dir,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  assert.deepEqual(stdout.trim().split("\n"), ["2", `3 ${expected.checksum} fashion-mnist`]);

  // Without the config line, the bare imports cannot resolve: the line is what makes it work.
  const bare = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "anywhere.ts"],
    cwd: dir,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.notEqual(bare.code, 0);
  assert.match(new TextDecoder().decode(bare.stderr), /not a dependency|grood/);
  await Deno.remove(dir, { recursive: true });
});
