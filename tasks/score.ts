/**
 * `deno task score --detector DIR SRC… [--out FILE]`: score data with a fitted-detector folder
 * (`deno task fit`). Writes one row per image: the source, the image (its file for folder
 * sources, else its index), the verdict (`in`, `ood`, or `invalid` when the model's output for
 * the image is NaN or infinite), the score (higher = more OOD), the OOD flag at the folder's
 * threshold, the predicted class, and for an invalid image the problem (no score, flag or
 * class). `--out x.json` writes JSON, any other name CSV; without
 * `--out` the CSV goes to stdout.
 *
 * @module
 */
import { Effect } from "effect";
import { scoreTask } from "../apps/cli/commands/score.ts";
import { invocationPath, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { formatScoreRows, type ScoreRow } from "../apps/cli/score_rows.ts";
import { openFittedDetector, scoreSource } from "../lib/fitted/mod.ts";
import { checkOutputFile, tryIo, writeFile } from "../lib/io/mod.ts";
import { argumentPaths, parseSourceArgument } from "../lib/sources/mod.ts";

const { values, positionals } = await taskInput(scoreTask);
const folder = invocationPath(values.detector);

const program = Effect.scoped(Effect.gen(function* () {
  const rows: Array<ScoreRow> = [];
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
      inputs: [folder, ...sources.flatMap(argumentPaths)],
      overwrite: values.overwrite,
    });
  }
  for (const [k, argument] of positionals.entries()) {
    const source = sources[k]!;
    const scored = yield* scoreSource(detector, source);
    const problems = new Map(scored.invalid.map((bad) => [bad.index, bad.problem]));
    for (let i = 0; i < scored.scores.length; i++) {
      const verdict = scored.verdicts[i]!;
      rows.push(
        verdict === "invalid"
          ? {
            source: argument,
            image: scored.images[i]!,
            verdict,
            score: null,
            ood: null,
            predicted: null,
            problem: problems.get(i) ?? "not scored",
          }
          : {
            source: argument,
            image: scored.images[i]!,
            verdict,
            score: scored.scores[i]!,
            ood: verdict === "ood",
            predicted: classNames[scored.predicted[i]!] ?? String(scored.predicted[i]),
          },
      );
    }
  }
  const text = formatScoreRows(rows, {
    ...(out === undefined ? {} : { out }),
    detector: folder,
    threshold: detector.manifest.threshold,
  });
  if (out === undefined) {
    yield* tryIo("stdout", "write", () => Deno.stdout.write(new TextEncoder().encode(text)));
    return;
  }
  yield* writeFile(out, text);
  const flagged = rows.filter((r) => r.verdict === "ood").length;
  const invalid = rows.filter((r) => r.verdict === "invalid").length;
  console.error(
    `${rows.length} images scored, ${flagged} flagged OOD` +
      (invalid === 0 ? "" : `, ${invalid} invalid (no score: the model's output is not finite)`) +
      ` → ${out}`,
  );
}));

await runTask(program, undefined, { threads: values.threads });
