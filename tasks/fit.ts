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
import {
  backendFlag,
  flag,
  invocationPath,
  parseCommandLine,
  runTask,
  usageError,
} from "../lib/cli/command_line.ts";
import { type FeatureMemo, fitDetectorFolder, fittedFolderRules } from "../lib/fitted/fit.ts";
import { checkIdentifier } from "../lib/io/paths.ts";
import {
  checkOutputFolder,
  OutputFolderRefused,
  prepareOutputRoot,
} from "../lib/io/output_folder.ts";
import { SUPPORTED_KINDS } from "../lib/fitted/persist.ts";
import { TAP_NAMES, type Taps } from "../lib/models/model.ts";
import { consoleProgress } from "../lib/pipeline/progress.ts";
import { parseSourceArgument, SOURCE_ARGUMENT_HELP } from "../lib/sources/argument.ts";

const cli = {
  command: "deno task fit",
  summary: "Fit an OOD detector on a model and data; write a fitted-detector folder.",
  flags: {
    model: flag.string("the model (ONNX file, tfjs model folder or model.json, grood folder)", {
      placeholder: "PATH",
    }),
    taps: flag.string("taps replacing the model spec's: early=NAME,penultimate=NAME,logits=NAME", {
      placeholder: "TAPS",
    }),
    train: flag.string(`labelled ID training data: ${SOURCE_ARGUMENT_HELP}`, {
      placeholder: "SRC",
    }),
    val: flag.string("labelled ID validation data (default: 10% of --train held out)", {
      placeholder: "SRC",
    }),
    "val-ood": flag.strings("validation OOD data (metrics in detector.json)", {
      placeholder: "SRC",
    }),
    detector: flag.strings(
      `detector kind (${SUPPORTED_KINDS.join(", ")}) or a JSON spec; default grood`,
      { placeholder: "NAME" },
    ),
    out: flag.string("the folder to write", { placeholder: "DIR" }),
    seed: flag.integer("seed of the held-out validation split", { default: 0, min: 0 }),
    backend: backendFlag,
  },
  notes: [
    "Example: deno task fit --model foreign.onnx --train dataset:mnist:train " +
    "--val-ood ood-set:letters-val --out my-detector",
  ],
};

const { values } = parseCommandLine(cli);
const model = invocationPath(values.model ?? usageError(cli, "say which model: --model PATH"));
const out = invocationPath(values.out ?? usageError(cli, "say where to write: --out DIR"));
const train = values.train ?? usageError(cli, "say which training data: --train SRC");

const parseTaps = (text: string | undefined): Partial<Taps> => {
  if (text === undefined) return {};
  const taps: Record<string, string> = {};
  for (const part of text.split(",")) {
    const [tap, name] = part.split("=");
    if (!(TAP_NAMES as ReadonlyArray<string>).includes(tap ?? "") || !name) {
      usageError(cli, `--taps: "${part}" is not TAP=NAME with TAP one of ${TAP_NAMES.join(", ")}`);
    }
    taps[tap!] = name!;
  }
  return taps as Partial<Taps>;
};
const taps = parseTaps(values.taps);

const detectorSpec = (text: string): unknown => {
  if (!text.trimStart().startsWith("{")) return { kind: text };
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    return usageError(cli, `--detector: not a JSON spec (${error})`);
  }
};
const detectors = (values.detector ?? ["grood"]).map(detectorSpec);

const program = Effect.gen(function* () {
  const cwd = invocationPath(".");
  const trainSource = yield* parseSourceArgument(train, cwd, { labelled: true });
  const validation = values.val === undefined
    ? undefined
    : yield* parseSourceArgument(values.val, cwd, { labelled: true });
  const validationOod = yield* Effect.forEach(
    values["val-ood"] ?? [],
    (a) => parseSourceArgument(a, cwd),
  );
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
  // Every folder is checked before any detector is fitted.
  yield* checkOutputFolder(out, rules);
  for (const folder of folders) yield* checkOutputFolder(folder, rules);
  if (detectors.length > 1) yield* prepareOutputRoot(out, rules);
  for (const [i, detector] of detectors.entries()) {
    const folder = folders[i]!;
    const manifest = yield* Effect.scoped(fitDetectorFolder({
      model,
      taps,
      train: trainSource,
      ...(validation === undefined ? {} : { validation }),
      validationOod,
      detector,
      out: folder,
      seed: values.seed,
      progress: consoleProgress(),
      features,
    }));
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

await runTask(program, values.backend);
