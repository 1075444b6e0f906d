/**
 * `deno task score --detector DIR SRC… [--out FILE]`: score data with a fitted-detector folder
 * (`deno task fit`). Writes one row per image: the source, the image (its file for folder
 * sources, else its index), the score (higher = more OOD), the OOD flag at the folder's
 * threshold and the predicted class. `--out x.json` writes JSON, any other name CSV; without
 * `--out` the CSV goes to stdout.
 *
 * @module
 */
import { Effect } from "effect";
import {
  detectorFolder,
  detectorFolderFlag,
  flag,
  invocationPath,
  parseCommandLine,
  runTask,
} from "../lib/cli/command_line.ts";
import { scoreSource } from "../lib/fitted/score_source.ts";
import { openFittedDetector } from "../lib/fitted/open.ts";
import { tryIo, writeFile } from "../lib/io/files.ts";
import { parseSourceArgument, SOURCE_ARGUMENT_HELP, sourcePaths } from "../lib/sources/argument.ts";
import { checkOutputFile } from "../lib/io/output_folder.ts";

const cli = {
  command: "deno task score",
  summary: "Score images with a fitted detector folder: score, OOD flag, predicted class.",
  flags: {
    detector: detectorFolderFlag,
    out: flag.string("write the rows here (.json: JSON, else CSV); default: CSV on stdout", {
      placeholder: "FILE",
    }),
  },
  positionals: {
    usage: "SRC…",
    min: 1,
    max: Infinity,
    description: `data to score: ${SOURCE_ARGUMENT_HELP}`,
  },
};

const { values, positionals } = parseCommandLine(cli);
const folder = detectorFolder(cli, values.detector);

const csvField = (text: string) => /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;

const program = Effect.scoped(Effect.gen(function* () {
  const rows: Array<{
    source: string;
    image: string;
    score: number;
    ood: boolean;
    predicted: string;
  }> = [];
  const detector = yield* openFittedDetector(folder);
  const classNames = detector.manifest.model.classNames;
  const sources = yield* Effect.forEach(
    positionals,
    (argument) => parseSourceArgument(argument, invocationPath(".")),
  );
  const out = values.out === undefined ? undefined : invocationPath(values.out);
  // The rows never replace what is scored, nor a file of the detector: checked before scoring.
  if (out !== undefined) {
    yield* checkOutputFile(out, {
      inputs: [folder, ...sources.flatMap((s) => sourcePaths(s.spec, s.baseDir))],
    });
  }
  for (const [k, argument] of positionals.entries()) {
    const source = sources[k]!;
    const scored = yield* scoreSource(detector, source);
    for (let i = 0; i < scored.scores.length; i++) {
      rows.push({
        source: argument,
        image: scored.images[i]!,
        score: scored.scores[i]!,
        ood: scored.isOod[i]!,
        predicted: classNames[scored.predicted[i]!] ?? String(scored.predicted[i]),
      });
    }
  }
  const csv = ["source,image,score,ood,predicted"].concat(
    rows.map((r) =>
      [csvField(r.source), csvField(r.image), r.score, r.ood, csvField(r.predicted)].join(",")
    ),
  ).join("\n") + "\n";
  if (out === undefined) {
    yield* tryIo("stdout", "write", () => Deno.stdout.write(new TextEncoder().encode(csv)));
    return;
  }
  yield* writeFile(
    out,
    out.toLowerCase().endsWith(".json")
      ? JSON.stringify(
        { detector: folder, threshold: detector.manifest.threshold, rows },
        null,
        2,
      ) + "\n"
      : csv,
  );
  const flagged = rows.filter((r) => r.ood).length;
  console.error(`${rows.length} images scored, ${flagged} flagged OOD → ${out}`);
}));

await runTask(program, undefined, { logs: "stderr" });
