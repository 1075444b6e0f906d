/**
 * `grood fit`: the flags of `tasks/fit.ts`, with `--taps` decoded into taps and each
 * `--detector` into a detector spec (a kind, or a JSON spec the fit decodes strictly).
 *
 * @module
 */
import { Effect, Option } from "effect";
import { Flag } from "effect/cli";
import { FIT_CHUNK } from "../../../lib/detectors/mod.ts";
import { SUPPORTED_KINDS } from "../../../lib/fitted/mod.ts";
import { TAP_NAMES, type Taps } from "../../../lib/models/mod.ts";
import {
  parseSourceArgument,
  SOURCE_ARGUMENT_HELP,
  type SourceArgument,
  type SourceArgumentInvalid,
} from "../../../lib/sources/mod.ts";
import { flag, type FlagSpec } from "../flags.ts";
import { backendFlag, BULK_THREADS, threadsFlag } from "../shared_flags.ts";
import { task } from "../task.ts";

/**
 * `early=NAME,penultimate=NAME,logits=NAME` (any of them, each once); none when the text is not
 * that.
 */
export function parseTaps(text: string): Option.Option<Partial<Taps>> {
  const taps: Record<string, string> = {};
  for (const part of text.split(",")) {
    const [tap, name, ...rest] = part.split("=");
    // A tap given twice is refused: which one was meant is not for grood to guess.
    if (
      !(TAP_NAMES as ReadonlyArray<string>).includes(tap ?? "") || !name || rest.length > 0 ||
      Object.hasOwn(taps, tap!)
    ) {
      return Option.none();
    }
    taps[tap!] = name;
  }
  return Option.some(taps as Partial<Taps>);
}

/** `--taps`: absent = the model spec's taps. */
export const tapsFlag: FlagSpec<Partial<Taps>> = (name) =>
  Flag.String(name).pipe(
    Flag.filterMap(
      parseTaps,
      () => `TAP=NAME pairs, comma-separated, with TAP one of ${TAP_NAMES.join(", ")}, each once`,
    ),
    Flag.withDefault({}),
    Flag.withDescription(
      "taps replacing the model spec's: early=NAME,penultimate=NAME,logits=NAME",
    ),
    Flag.withMetavar("TAPS"),
  );

/** A detector kind (`{ kind }`), or a JSON object; none when it starts with `{` and is no JSON. */
export function detectorSpec(text: string): Option.Option<unknown> {
  if (!text.trimStart().startsWith("{")) return Option.some({ kind: text });
  try {
    return Option.some(JSON.parse(text) as unknown);
  } catch {
    return Option.none();
  }
}

/** `--detector` (repeatable): absent = GROOD. */
const detectorsFlag: FlagSpec<ReadonlyArray<unknown>> = (name) =>
  Flag.String(name).pipe(
    Flag.filterMap(detectorSpec, () => 'a detector kind or a JSON spec ({"kind": …})'),
    Flag.atLeast(0),
    Flag.map((specs) => specs.length === 0 ? [{ kind: "grood" }] : specs),
    Flag.withDescription(
      `detector kind (${SUPPORTED_KINDS.join(", ")}) or a JSON spec; default grood (repeatable)`,
    ),
    Flag.withMetavar("NAME"),
  );

/** `--chunk`: images per chunk of GROOD's fit (a setting of the fit, recorded). */
export const fitChunkFlag: FlagSpec<number> = flag.integer(
  "images per chunk of GROOD's fit (streamed or --in-memory): its prototypes are sums of chunk " +
    "sums, so the chunk size is a setting of the fit (recorded as fitChunk); grood cluster fit " +
    "with the same chunk writes the same folder",
  { min: 1, default: FIT_CHUNK },
);

/** What a fit reads, shared by `grood fit` and `grood cluster fit`: the model and the data. */
export const fitDataFlags = {
  model: flag.required("the model (ONNX file, tfjs model folder or model.json, grood folder)", {
    placeholder: "PATH",
  }),
  taps: tapsFlag,
  train: flag.required(`labelled ID training data: ${SOURCE_ARGUMENT_HELP}`, {
    placeholder: "SRC",
  }),
  val: flag.string("labelled ID validation data (default: 10% of --train held out)", {
    placeholder: "SRC",
  }),
  "val-ood": flag.strings("validation OOD data (metrics in detector.json)", {
    placeholder: "SRC",
  }),
} as const;

/**
 * The sources a fit's data flags name, read against `cwd` (training and ID validation labelled):
 * what `grood fit` and `grood cluster fit` pass on.
 */
export const fitDataSources = (
  values: {
    readonly train: string;
    readonly val?: string | undefined;
    readonly "val-ood"?: ReadonlyArray<string> | undefined;
  },
  cwd: string,
): Effect.Effect<
  {
    readonly train: SourceArgument;
    readonly validation: SourceArgument | undefined;
    readonly validationOod: ReadonlyArray<SourceArgument>;
  },
  SourceArgumentInvalid
> =>
  Effect.all({
    train: parseSourceArgument(values.train, cwd, { labelled: true }),
    validation: values.val === undefined
      ? Effect.succeed(undefined)
      : parseSourceArgument(values.val, cwd, { labelled: true }),
    validationOod: Effect.forEach(values["val-ood"] ?? [], (a) => parseSourceArgument(a, cwd)),
  });

/** `grood fit`. */
export const fitTask = task("fit", {
  summary: "Fit an OOD detector on a model and data; write a fitted-detector folder.",
  flags: {
    ...fitDataFlags,
    detector: detectorsFlag,
    out: flag.required("the folder to write", { placeholder: "DIR" }),
    seed: flag.integer("seed of the held-out validation split", { default: 0, min: 0 }),
    chunk: fitChunkFlag,
    backend: backendFlag,
    threads: threadsFlag(BULK_THREADS),
  },
  examples: [{
    command: "grood fit --model foreign.onnx --train dataset:mnist:train " +
      "--val-ood ood-set:letters-val --out my-detector",
  }],
});
