/**
 * `deno task evaluate-ood --detector DIR --id SRC --ood SRC… [--json]`: score ID test data and
 * OOD sets with a fitted-detector folder and print AUROC, AUPR-in, AUPR-out and FPR@95 in both
 * of grood's conventions (`fpr95IdKept`: OOD accepted when 95 % of ID is kept;
 * `fpr95OpenOod`: ID flagged when 95 % of OOD is caught) per OOD source, plus the share of each
 * set flagged at the folder's threshold. Higher score = more OOD, as everywhere in grood.
 *
 * @module
 */
import { Effect } from "effect";
import { evaluateOodTask } from "../apps/cli/commands/evaluate_ood.ts";
import { invocationPath, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { openFittedDetector, requireAllScored, scoreSource } from "../lib/fitted/mod.ts";
import { parseSourceArgument } from "../lib/sources/mod.ts";
import { evaluateOod } from "../lib/stages/mod.ts";

const { values } = await taskInput(evaluateOodTask);
const folder = invocationPath(values.detector);
const id = values.id;
const oods = values.ood;

const percent = (x: number) => (100 * x).toFixed(2).padStart(6);

const program = Effect.scoped(Effect.gen(function* () {
  const cwd = invocationPath(".");
  const detector = yield* openFittedDetector(folder);
  // An image without a score (non-finite model output) is refused by name, never left out.
  const idScored = yield* requireAllScored(
    yield* scoreSource(detector, yield* parseSourceArgument(id, cwd)),
  );
  const share = (flags: ReadonlyArray<boolean>) => flags.filter((x) => x).length / flags.length;
  const rows = [];
  for (const ood of oods) {
    const scored = yield* requireAllScored(
      yield* scoreSource(detector, yield* parseSourceArgument(ood, cwd)),
    );
    const metrics = yield* evaluateOod({
      id: idScored.scores,
      ood: scored.scores,
      names: { id, ood },
    });
    rows.push({ ood, count: scored.scores.length, ...metrics, flagged: share(scored.isOod) });
  }
  const result = {
    detector: folder,
    name: detector.manifest.detector.name,
    threshold: detector.manifest.threshold,
    id: { source: id, count: idScored.scores.length, flagged: share(idScored.isOod) },
    ood: rows,
  };
  if (values.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  const width = Math.max(...oods.map((o) => o.length), 10);
  console.log(
    `${result.name} (${folder}); ID ${id}: ${idScored.scores.length} images, ` +
      `${percent(result.id.flagged).trim()}% flagged at threshold ${
        result.threshold.toPrecision(6)
      }`,
  );
  console.log(
    `${"OOD".padEnd(width)}  images   AUROC  AUPR-in AUPR-out  FPR95-ID FPR95-OOD  flagged`,
  );
  for (const r of rows) {
    console.log(
      `${r.ood.padEnd(width)}  ${String(r.count).padStart(6)}  ${percent(r.auroc)}  ${
        percent(r.auprIn)
      }   ${percent(r.auprOut)}    ${percent(r.fpr95IdKept)}    ${percent(r.fpr95OpenOod)}   ${
        percent(r.flagged)
      }`,
    );
  }
  console.log(
    "(%; FPR95-ID = OOD accepted when 95% of ID is kept; FPR95-OOD = ID flagged when 95% of OOD " +
      "is caught, as OpenOOD)",
  );
}));

await runTask(program, undefined, { threads: values.threads });
