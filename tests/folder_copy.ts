/**
 * A fresh copy of a folder (files and subfolders), for tests that tamper with a fitted folder
 * and must leave the original for the next test.
 *
 * @module
 */
import { join } from "node:path";

/** Copy `from` into `to` (removed first when it exists); returns `to`. */
export const copyFolder = async (from: string, to: string): Promise<string> => {
  await Deno.remove(to, { recursive: true }).catch(() => {});
  const copy = async (source: string, into: string) => {
    await Deno.mkdir(into, { recursive: true });
    for await (const entry of Deno.readDir(source)) {
      if (entry.isDirectory) await copy(join(source, entry.name), join(into, entry.name));
      else await Deno.copyFile(join(source, entry.name), join(into, entry.name));
    }
  };
  await copy(from, to);
  return to;
};
