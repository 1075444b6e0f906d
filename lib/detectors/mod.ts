/**
 * The detector registry: every detector grood ships, built from a (validated) detector spec.
 *
 * @module
 */
import type { StageCacheShape } from "../pipeline/cache.ts";
import type { DetectorSpec } from "../pipeline/spec.ts";
import { ash } from "./ash.ts";
import type { Detector } from "./detector.ts";
import { energy } from "./energy.ts";
import { gradNorm } from "./gradnorm.ts";
import {
  grood,
  GROOD_DEFAULTS,
  groodDistance,
  groodNoMixup,
  type GroodOptions,
  groodTunedTemperature,
} from "./grood.ts";
import { knn } from "./knn.ts";
import { mahalanobis } from "./mahalanobis.ts";
import { maxLogit } from "./maxlogit.ts";
import { msp } from "./msp.ts";
import { odin } from "./odin.ts";
import { react } from "./react.ts";
import { vim } from "./vim.ts";

export type { Detector, ExtractedSet, FitInputs, FittedDetector } from "./detector.ts";
export {
  ash,
  energy,
  gradNorm,
  grood,
  groodDistance,
  groodNoMixup,
  knn,
  mahalanobis,
  maxLogit,
  msp,
  odin,
  react,
  vim,
};

/** Rename a detector (for tables). */
const named = (detector: Detector, name: string | undefined): Detector =>
  name === undefined ? detector : { ...detector, name };

/** Build the detector a spec describes; GROOD stages store their outputs in `cache`. */
export function makeDetector(spec: DetectorSpec, cache?: StageCacheShape): Detector {
  switch (spec.kind) {
    case "grood": {
      const options: Partial<GroodOptions> = {
        ...(spec.earlyBoundary === undefined ? {} : { earlyBoundary: spec.earlyBoundary }),
        ...(spec.oodPrototype === undefined ? {} : { oodPrototype: spec.oodPrototype }),
        ...(spec.descriptor === undefined ? {} : { descriptor: spec.descriptor }),
        ...(spec.index === undefined ? {} : { index: spec.index }),
        ...(spec.k === undefined ? {} : { k: spec.k }),
        ...(spec.temperature === undefined ? {} : { temperature: spec.temperature }),
        ...(spec.seed === undefined ? {} : { seed: spec.seed }),
      };
      return grood({ ...GROOD_DEFAULTS, ...options }, spec.name ?? "GROOD", cache);
    }
    case "grood-no-mixup":
      return named(groodNoMixup(cache), spec.name);
    case "grood-distance":
      return named(groodDistance(cache), spec.name);
    case "grood-tuned-temperature":
      return named(groodTunedTemperature(cache), spec.name);
    case "msp":
      return named(msp(), spec.name);
    case "maxlogit":
      return named(maxLogit(), spec.name);
    case "energy":
      return named(energy(), spec.name);
    case "odin":
      return named(odin(), spec.name);
    case "mahalanobis":
      return named(mahalanobis(), spec.name);
    case "knn":
      return named(knn(), spec.name);
    case "vim":
      return named(vim(), spec.name);
    case "react":
      return named(react(), spec.name);
    case "gradnorm":
      return named(gradNorm(), spec.name);
    case "ash":
      return named(ash(), spec.name);
  }
}

/** The detectors `deno task reproduce` runs: GROOD, its two ablations, and every baseline. */
export const REPRODUCE_DETECTORS: ReadonlyArray<DetectorSpec> = [
  { kind: "grood" },
  { kind: "grood-no-mixup" },
  { kind: "grood-distance" },
  { kind: "grood-tuned-temperature" },
  { kind: "msp" },
  { kind: "maxlogit" },
  { kind: "energy" },
  { kind: "odin" },
  { kind: "mahalanobis" },
  { kind: "knn" },
  { kind: "vim" },
  { kind: "react" },
  { kind: "gradnorm" },
  { kind: "ash" },
];
