/**
 * `grood cluster fit`: the flags of `tasks/cluster_fit.ts`: `grood fit`'s (one GROOD detector)
 * and the driver's (job folder, PostgreSQL, in-flight chunks, progress, timeouts, failover).
 *
 * @module
 */
import { Flag } from "effect/cli";
import { flag, type FlagSpec } from "../flags.ts";
import { backendFlag } from "../shared_flags.ts";
import { task } from "../task.ts";
import { checkFailover, driverFlags } from "./cluster_flags.ts";
import { detectorSpec, fitChunkFlag, fitDataFlags } from "./fit.ts";

/** `--detector`: one GROOD spec (a kind or JSON); absent = GROOD's defaults. */
const groodSpecFlag: FlagSpec<unknown> = (name) =>
  Flag.String(name).pipe(
    Flag.filterMap(detectorSpec, () => 'a detector kind or a JSON spec ({"kind": "grood", …})'),
    Flag.withDefault({ kind: "grood" } as unknown),
    Flag.withDescription(
      "the GROOD spec (kind grood, or JSON); default GROOD's defaults. Fitted in its streamed " +
        "form: gradient descriptors, exact or ivf index, OOD prototype by mix-up or the mean",
    ),
    Flag.withMetavar("SPEC"),
  );

/** `grood cluster fit`. */
export const clusterFitTask = task("cluster fit", {
  summary:
    "Fit GROOD with the cluster's runners mapping the chunks; writes what `grood fit` writes.",
  description:
    "Fit GROOD with the cluster's runners mapping the chunks; writes what `grood fit` writes. " +
    "The runners (`grood cluster runner`) compute the feature pass and the descriptors chunk " +
    "by chunk; the prototypes are reduced from the chunks' sums, the " +
    "index is built here, and the folder is written by `grood fit`'s writer: the same bytes as " +
    "`grood fit` with the same data and settings (and SOURCE_DATE_EPOCH). The job folder holds " +
    "the plan and one part per chunk; run the same command again to resume. See docs/scale.md.",
  flags: {
    ...fitDataFlags,
    detector: groodSpecFlag,
    out: flag.required("the folder to write", { placeholder: "DIR" }),
    seed: flag.integer("seed of the held-out validation split", { default: 0, min: 0 }),
    chunk: fitChunkFlag,
    job: flag.required(
      "the job folder (plan and one part per chunk), on storage every runner sees at the " +
        "same path; run again to resume",
      { placeholder: "DIR" },
    ),
    backend: backendFlag,
    ...driverFlags,
  },
  examples: [{
    command: "./grood cluster fit --model /shared/model.onnx --train /shared/train/ " +
      "--job /shared/jobs/fit-1 --out /shared/my-detector",
    description: "fit GROOD on the runners",
  }],
}, ({ values }) => checkFailover(values));
