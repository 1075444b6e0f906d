/**
 * Debian source packages for the OOD sets: download with `apt-get download` into
 * `.data/debs/` and extract with `dpkg-deb -x` into `.data/src/<package>/`.
 *
 * Why `apt-get download` + `dpkg-deb -x` rather than `apt-get install`: we only need the data
 * files, not the dependency tree (python3-sklearn alone would pull in scipy and numpy), and
 * nothing is installed system-wide. Both steps are idempotent: a package whose `.deb` is
 * already in `.data/debs/` is not downloaded again, and a package already extracted from that
 * same `.deb` is not extracted again.
 *
 * @module
 */
import { join } from "node:path";
import { Data, Effect } from "effect";
import { exists, osReason, writeFileAtomic } from "../../lib/io/mod.ts";
import { lineLogger, type LogLine } from "../../mod.ts";

/** Where downloaded `.deb` files and their extracted trees live (gitignored). */
export const DATA_DIR = ".data";

/** A Debian package, downloaded and extracted. */
export interface DebianSource {
  /** Package name, e.g. `gimp-data`. */
  readonly name: string;
  /** Version taken from the `.deb` file name (epoch included, e.g. `1:0.18+dfsg-19`). */
  readonly version: string;
  /** Path of the `.deb` file. */
  readonly deb: string;
  /** Folder the package was extracted into: `<dataDir>/src/<name>`. */
  readonly root: string;
}

/** `apt-get download` failed: names the packages and shows what apt said. */
export class SourceDownloadFailed extends Data.TaggedError("SourceDownloadFailed")<{
  readonly packages: ReadonlyArray<string>;
  readonly detail: string;
}> {
  override get message(): string {
    return `Cannot download Debian package(s) ${this.packages.join(", ")} with apt-get ` +
      `(run "apt-get update" first if the package lists are missing): ${this.detail}`;
  }
}

/** `dpkg-deb -x` failed, or a `.deb` is missing or ambiguous: names the package. */
export class SourceExtractFailed extends Data.TaggedError("SourceExtractFailed")<{
  readonly package: string;
  readonly detail: string;
}> {
  override get message(): string {
    return `Cannot extract Debian package "${this.package}": ${this.detail}`;
  }
}

/** Run a command; resolve with its exit code and combined output (never rejects on exit). */
async function run(
  cmd: string,
  args: ReadonlyArray<string>,
  cwd?: string,
): Promise<{ code: number; output: string }> {
  const out = await new Deno.Command(cmd, {
    args: [...args],
    ...(cwd === undefined ? {} : { cwd }),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, output: decoder.decode(out.stdout) + decoder.decode(out.stderr) };
}

/**
 * Parse `name_version_arch.deb` (apt escapes `:` in the epoch as `%3a`).
 *
 * @example
 * ```ts
 * import { parseDebFileName } from "./debian.ts";
 * const d = parseDebFileName("openclipart-png_1%3a0.18+dfsg-19_all.deb");
 * if (d?.version !== "1:0.18+dfsg-19") throw new Error("bad parse");
 * ```
 */
export function parseDebFileName(
  file: string,
): { name: string; version: string; arch: string } | undefined {
  const m = /^([^_]+)_([^_]+)_([^_]+)\.deb$/.exec(file);
  if (!m) return undefined;
  return { name: m[1]!, version: decodeURIComponent(m[2]!), arch: m[3]! };
}

/** The `.deb` files in `debDir` for package `name` (exact name match). */
async function debsOf(debDir: string, name: string): Promise<string[]> {
  const found: string[] = [];
  if (!(await exists(debDir))) return found;
  for await (const entry of Deno.readDir(debDir)) {
    if (entry.isFile && parseDebFileName(entry.name)?.name === name) found.push(entry.name);
  }
  return found.sort();
}

/**
 * Make sure every package in `names` is downloaded and extracted; return them in the same
 * order. Downloads all missing packages in one `apt-get download` call.
 */
export const ensurePackages = (
  names: ReadonlyArray<string>,
  options: { readonly dataDir?: string } = {},
): Effect.Effect<ReadonlyArray<DebianSource>, SourceDownloadFailed | SourceExtractFailed> =>
  Effect.gen(function* () {
    const dataDir = options.dataDir ?? DATA_DIR;
    const log = yield* lineLogger;
    const debDir = join(dataDir, "debs");
    const unique = [...new Set(names)];
    const missing: string[] = [];
    for (const name of unique) {
      const debs = yield* Effect.tryPromise({
        try: () => debsOf(debDir, name),
        catch: (cause) =>
          new SourceDownloadFailed({
            packages: [name],
            detail: `cannot list "${debDir}" (${osReason(cause)})`,
          }),
      });
      if (debs.length === 0) missing.push(name);
    }
    if (missing.length > 0) {
      log(`apt-get download ${missing.join(" ")}`);
      yield* Effect.tryPromise({
        try: async () => {
          await Deno.mkdir(debDir, { recursive: true });
          // apt-get warns "Download is performed unsandboxed as root" when _apt cannot write
          // to the folder; the warning is harmless, so only the exit code is checked.
          const { code, output } = await run("apt-get", ["download", ...missing], debDir);
          if (code !== 0) throw new Error(output.trim().split("\n").slice(-5).join(" | "));
        },
        catch: (error) =>
          new SourceDownloadFailed({
            packages: missing,
            detail: error instanceof Error ? error.message : String(error),
          }),
      });
    }
    const out: DebianSource[] = [];
    for (const name of unique) {
      out.push(yield* extractOne(dataDir, debDir, name, log));
    }
    const byName = new Map(out.map((s) => [s.name, s]));
    return names.map((n) => byName.get(n)!);
  });

/** Marker written inside an extracted tree: the `.deb` it came from. */
const MARKER = ".extracted-from";

const extractOne = (
  dataDir: string,
  debDir: string,
  name: string,
  log: LogLine,
): Effect.Effect<DebianSource, SourceExtractFailed> =>
  Effect.tryPromise({
    try: async () => {
      const debs = await debsOf(debDir, name);
      if (debs.length === 0) throw new Error(`no ${name}_*.deb in ${debDir}`);
      if (debs.length > 1) {
        // Two versions side by side would make the build depend on directory order.
        throw new Error(`several .deb files in ${debDir}: ${debs.join(", ")}; delete the old one`);
      }
      const file = debs[0]!;
      const parsed = parseDebFileName(file)!;
      const root = join(dataDir, "src", name);
      const marker = join(root, MARKER);
      const done = (await exists(marker)) && (await Deno.readTextFile(marker)).trim() === file;
      if (!done) {
        log(`dpkg-deb -x ${file}`);
        // Extract into a temporary sibling and rename, so a half-extracted tree is never
        // mistaken for a complete one.
        const tmp = `${root}.tmp`;
        await Deno.remove(tmp, { recursive: true }).catch(() => {});
        await Deno.mkdir(tmp, { recursive: true });
        const { code, output } = await run("dpkg-deb", ["-x", join(debDir, file), tmp]);
        if (code !== 0) throw new Error(`dpkg-deb -x ${file} failed: ${output.trim()}`);
        await writeFileAtomic(join(tmp, MARKER), file + "\n");
        await Deno.remove(root, { recursive: true }).catch(() => {});
        await Deno.rename(tmp, root);
      }
      return { name, version: parsed.version, deb: join(debDir, file), root };
    },
    catch: (error) =>
      new SourceExtractFailed({
        package: name,
        detail: error instanceof Error ? error.message : String(error),
      }),
  });

/**
 * List regular files under `dir` recursively (relative paths with `/`, sorted so the order
 * does not depend on the file system). Symlinks are skipped: in Debian packages they point to
 * absolute system paths (dangling once extracted) or duplicate a file that is listed anyway.
 * A missing folder gives [].
 */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(rel === "" ? dir : join(dir, rel)));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const e of entries) {
      const path = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.isFile) out.push(path);
    }
  };
  await walk("");
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
