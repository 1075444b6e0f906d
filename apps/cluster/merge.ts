/**
 * Merge a finished job's parts into the rows `deno task score` writes, in the same order and
 * the same CSV or JSON: one row per image, sources in the order given, images in source order.
 *
 * @module
 */
import { Effect } from "effect";
import type { Fitted } from "../../mod.ts";
import { chunksOf, type JobFolderInvalid, type JobPlan, readPart } from "./job.ts";

/** One output row, as `deno task score` writes it. */
export interface ScoreRow {
  readonly source: string;
  readonly image: string;
  readonly verdict: Fitted.Verdict;
  readonly score: number | null;
  readonly ood: boolean | null;
  readonly predicted: string | null;
  readonly problem?: string;
}

/** Every row of a job, read from its parts (each checked against the plan). */
export const mergeParts = (
  jobDir: string,
  plan: JobPlan,
  classNames: ReadonlyArray<string>,
): Effect.Effect<ReadonlyArray<ScoreRow>, JobFolderInvalid> =>
  Effect.gen(function* () {
    const rows: Array<ScoreRow> = [];
    for (const chunk of chunksOf(plan)) {
      const part = yield* readPart(jobDir, plan, chunk);
      const source = plan.sources[chunk.source]!.argument;
      for (const r of part.rows) {
        rows.push(
          r.verdict === "invalid"
            ? {
              source,
              image: r.image,
              verdict: r.verdict,
              score: null,
              ood: null,
              predicted: null,
              problem: r.problem ?? "not scored",
            }
            : {
              source,
              image: r.image,
              verdict: r.verdict,
              score: r.score,
              ood: r.verdict === "ood",
              predicted: classNames[r.predicted!] ?? String(r.predicted),
            },
        );
      }
    }
    return rows;
  });

const csvField = (text: string) => /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;

/** The rows as `score` writes them: CSV, or JSON when `out` ends in `.json`. */
export const formatRows = (
  rows: ReadonlyArray<ScoreRow>,
  options: { readonly out?: string; readonly detector: string; readonly threshold: number },
): string => {
  if (options.out?.toLowerCase().endsWith(".json") === true) {
    return JSON.stringify(
      { detector: options.detector, threshold: options.threshold, rows },
      null,
      2,
    ) + "\n";
  }
  return ["source,image,verdict,score,ood,predicted,problem"].concat(
    rows.map((r) =>
      [
        csvField(r.source),
        csvField(r.image),
        r.verdict,
        r.score ?? "",
        r.ood ?? "",
        csvField(r.predicted ?? ""),
        csvField(r.problem ?? ""),
      ].join(",")
    ),
  ).join("\n") + "\n";
};
