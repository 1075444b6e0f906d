/**
 * A named pipe in place of a file a loader reads, for the tests that check that a loader refuses
 * one rather than wait on it for a writer forever.
 *
 * @module
 */

/**
 * Replace the file at `path` with a named pipe, run `load`, and tell whether it opened the pipe
 * to read. A writer hands the pipe the file's own bytes if anything opens it to read: a loader
 * that reads the pipe gets the right content (and loads); one that checks first never opens it,
 * and the writer is then released by a reader of this helper's own.
 */
export async function loadWithPipeAt<T>(
  path: string,
  load: () => Promise<T>,
): Promise<{ readonly result: T; readonly opened: boolean }> {
  const bytes = await Deno.readFile(path);
  await Deno.remove(path);
  const made = await new Deno.Command("mkfifo", { args: [path] }).output();
  if (made.code !== 0) throw new Error(`mkfifo ${path} failed`);
  let opened = false;
  let released = false;
  const writer = Deno.open(path, { write: true }).then(async (pipe) => {
    if (!released) {
      opened = true;
      await pipe.write(bytes);
    }
    pipe.close();
  });
  const result = await load();
  if (!opened) {
    released = true;
    const own = await Deno.open(path, { read: true });
    await writer;
    own.close();
  }
  await writer;
  return { result, opened };
}
