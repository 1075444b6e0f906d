/**
 * `deno task fit --model M [--taps early=…,penultimate=…,logits=…] --train SRC [--val SRC]
 * [--val-ood SRC…] [--detector NAME…] --out DIR`: fit a detector (GROOD by default) on any
 * model and data and write a fitted-detector folder (`lib/fitted`): the model copied in, the
 * fitted state, and `detector.json` with the threshold keeping 95 % of the ID validation
 * images, the validation metrics and the score distributions. Several `--detector`s write one
 * subfolder each (`DIR/<kind>`).
 *
 * @module
 */
import { join } from "node:path";
import { Effect, Schema } from "effect";
import { fitDataSources, fitTask } from "../apps/cli/commands/fit.ts";
import { terminalProgress } from "../apps/cli/progress.ts";
import { invocationPath, runTask } from "../apps/cli/run_task.ts";
import { taskInput } from "../apps/cli/task_input.ts";
import { type FeatureMemo, fitDetectorFolder, fittedFolderRules } from "../lib/fitted/mod.ts";
import {
  checkIdentifier,
  checkOutputFolder,
  checkOutputRoot,
  OutputFolderRefused,
  prepareOutputRoot,
} from "../lib/io/mod.ts";

const { values } = await taskInput(fitTask);
const model = invocationPath(values.model);
const out = invocationPath(values.out);
// Decoded with the command line: `TAP=NAME` pairs, and kinds or JSON specs (default GROOD).
const taps = values.taps;
const detectors = values.detector;

const program = Effect.gen(function* () {
  const cwd = invocationPath(".");
  const { train: trainSource, validation, validationOod } = yield* fitDataSources(values, cwd);
  // Every detector is fitted on the same forward passes.
  const features: FeatureMemo = new Map();
  // Where each detector goes: DIR itself, or DIR/<kind> for several; two specs of one kind
  // would write one folder, so they are refused before anything runs.
  const folders: Array<string> = [];
  for (const [i, detector] of detectors.entries()) {
    if (detectors.length === 1) {
      folders.push(out);
      continue;
    }
    const kind = Schema.is(Schema.Struct({ kind: Schema.String }))(detector)
      ? detector.kind
      : "detector";
    const folder = join(out, yield* checkIdentifier(kind, `--detector ${i + 1} (its kind)`));
    const first = folders.indexOf(folder);
    if (first >= 0) {
      return yield* new OutputFolderRefused({
        path: folder,
        reason: `--detector ${first + 1} and --detector ${i + 1} are both of kind "${kind}" ` +
          "and would write this one folder; fit them in two runs with different --out",
      });
    }
    folders.push(folder);
  }
  const rules = fittedFolderRules({
    model,
    train: trainSource,
    ...(validation === undefined ? {} : { validation }),
    validationOod,
    out,
  });
  // Every folder is checked before any detector is fitted: DIR as the fitted folder, or as the
  // root collecting several (a single fit over such a root is refused here).
  yield* (detectors.length > 1 ? checkOutputRoot : checkOutputFolder)(out, rules);
  for (const folder of folders) yield* checkOutputFolder(folder, rules);
  if (detectors.length > 1) yield* prepareOutputRoot(out, rules);
  for (const [i, detector] of detectors.entries()) {
    const folder = folders[i]!;
    const manifest = yield* Effect.scoped(
      fitDetectorFolder({
        model,
        taps,
        train: trainSource,
        ...(validation === undefined ? {} : { validation }),
        validationOod,
        detector,
        out: folder,
        seed: values.seed,
        fitChunk: values.chunk,
        features,
      }).pipe(Effect.provide(terminalProgress())),
    );
    console.log(
      `${manifest.detector.name} on ${manifest.model.source} → ${folder}\n` +
        `  threshold ${manifest.threshold.toPrecision(6)} (keeps ` +
        `${(100 * manifest.validation.idKept).toFixed(1)}% of ${manifest.data.validation.count} ` +
        `ID validation images); ID validation accuracy ` +
        `${(100 * manifest.validation.accuracy).toFixed(2)}%`,
    );
    for (const m of manifest.validation.metrics) {
      console.log(
        `  ${m.source}: AUROC ${(100 * m.auroc).toFixed(2)}  AUPR-in ${
          (100 * m.auprIn).toFixed(2)
        }  AUPR-out ${(100 * m.auprOut).toFixed(2)}  FPR@95 ${
          (100 * m.fpr95IdKept).toFixed(2)
        } (ID kept) / ${(100 * m.fpr95OpenOod).toFixed(2)} (OpenOOD)`,
      );
    }
  }
});

await runTask(program, values.backend, { threads: values.threads });
