/**
 * `data` task: build the offline OOD sets into `.data/ood/` (idempotent).
 *
 *     npx deno run -A tasks/data.ts [--only <set>[,<set>…]] [--update-manifests] [--quiet]
 *
 * Downloads the Debian source packages into `.data/debs/` (apt-get download) when missing,
 * extracts them into `.data/src/`, builds each set that is missing or stale, checks it against
 * `fixtures/ood/<set>.json`, and writes a contact sheet per set to `.data/ood/contact/`.
 * A second run only hashes the files and skips every set.
 *
 * @module
 */
import { Cause, Effect, Exit } from "effect";
import { buildOodSets, OOD_SET_NAMES, type OodSetName } from "../lib/data/ood/mod.ts";

/** Parsed command line. */
interface Args {
  readonly only?: ReadonlyArray<OodSetName>;
  readonly updateManifests: boolean;
  /** Print only when a set is built (the setup script's second run stays silent). */
  readonly quiet: boolean;
}

function usage(problem: string): never {
  console.error(
    `${problem}\nusage: npx deno run -A tasks/data.ts [--only <set>[,<set>…]] ` +
      `[--update-manifests]\nsets: ${OOD_SET_NAMES.join(", ")}`,
  );
  Deno.exit(2);
}

function parseArgs(argv: ReadonlyArray<string>): Args {
  let only: OodSetName[] | undefined;
  let updateManifests = false;
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--update-manifests") updateManifests = true;
    else if (arg === "--quiet") quiet = true;
    else if (arg === "--only" || arg.startsWith("--only=")) {
      const value = arg === "--only" ? argv[++i] : arg.slice("--only=".length);
      if (!value) usage("--only needs a set name");
      only ??= [];
      for (const name of value.split(",")) {
        if (!(OOD_SET_NAMES as ReadonlyArray<string>).includes(name)) {
          usage(`unknown set "${name}"`);
        }
        only.push(name as OodSetName);
      }
    } else usage(`unknown argument "${arg}"`);
  }
  return only ? { only, updateManifests, quiet } : { updateManifests, quiet };
}

if (import.meta.main) {
  const args = parseArgs(Deno.args);
  const started = performance.now();
  const exit = await Effect.runPromiseExit(
    buildOodSets({
      ...args,
      log: (line) => {
        if (!args.quiet || !line.endsWith("(skipped)")) console.log(line);
      },
    }),
  );
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (Exit.isSuccess(exit)) {
    const built = exit.value.filter((r) => r.status === "built").length;
    if (!args.quiet || built > 0) {
      console.log(`data: ${exit.value.length} sets (${built} built) in ${seconds} s`);
    }
  } else {
    const error = Cause.squash(exit.cause);
    console.error(
      `data: failed after ${seconds} s: ${error instanceof Error ? error.message : String(error)}`,
    );
    Deno.exit(1);
  }
}
