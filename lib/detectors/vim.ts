/**
 * ViM, virtual-logit matching (Wang et al., CVPR 2022; OpenOOD v1.5 `vim`): score(x) =
 * α‖Rᵀ(h − u)‖ − logsumexp(z), with u = −pinv(W)b, R the residual of the top-`principalDim`
 * principal subspace of h − u and α the ratio of mean max logit to mean residual norm on training.
 * Default principalDim = D/2.
 * Details: `docs/internals/detectors.md`.
 *
 * @module
 */
import { Data, Effect, Schema } from "effect";
import type { Matrix } from "../matrix.ts";
import { artefact, type Detector, fittedDetector } from "./detector.ts";
import { checkTrainPenultimate, finiteMatrix, requireSetting, scoreChecked } from "./checks.ts";
import { type Head, readHead, rowLogSumExp, rowMax } from "./logits.ts";
import { meanOuterProduct, pseudoInverseSymmetric, symmetricEigen } from "./linalg.ts";
import { baselineEntry, type Expect, type OptionsMatch, PositiveInt } from "./entry.ts";

const VimOptionsSpec = Schema.Struct({
  principalDim: Schema.optionalKey(PositiveInt),
});

/** Options of {@link vim}. */
export interface VimOptions {
  /** Dimension of the principal subspace (default: half the penultimate size, 32). */
  readonly principalDim?: number;
}
type _Checked = Expect<OptionsMatch<VimOptions, typeof VimOptionsSpec>>;

/** The training features have no residual outside the principal subspace, so α is undefined. */
export class DegenerateResidual extends Data.TaggedError("DegenerateResidual")<{
  readonly detector: string;
  readonly set: string;
  readonly principalDim: number;
}> {
  /** Names the detector, the set and the principal subspace's dimension. */
  override get message(): string {
    return `Cannot fit ${this.detector} on "${this.set}": the training features have no residual outside the ${this.principalDim}-d principal subspace (mean residual norm is 0)`;
  }
}

/** ViM's fitted state: origin, residual basis and scale. */
export interface VimModel {
  readonly dim: number;
  /** The origin u (D). */
  readonly origin: Float64Array;
  /** D × R residual basis, row-major (R = D − principalDim orthonormal columns). */
  readonly residualBasis: Float64Array;
  readonly residualDim: number;
  readonly alpha: number;
}

/** u = −K·pinv(KᵀK)·b for a head z = h·K + b (K is D × C). */
export function vimOrigin(head: Head): Float64Array {
  const { inputSize: d, numClasses: c, kernel, bias } = head;
  const gram = new Float64Array(c * c);
  for (let i = 0; i < c; i++) {
    for (let j = 0; j < c; j++) {
      let sum = 0;
      for (let k = 0; k < d; k++) sum += kernel[k * c + i]! * kernel[k * c + j]!;
      gram[i * c + j] = sum;
    }
  }
  const gramPinv = pseudoInverseSymmetric(gram, c);
  const weights = Float64Array.from(
    { length: c },
    (_, i) => gramPinv.subarray(i * c, (i + 1) * c).reduce((s, g, j) => s + g * bias[j]!, 0),
  );
  return Float64Array.from(
    { length: d },
    (_, k) => -weights.reduce((s, w, j) => s + kernel[k * c + j]! * w, 0),
  );
}

/** ‖Rᵀ(h − u)‖ for every row. */
export function residualNorms(features: Matrix, model: VimModel): Float64Array {
  const { rows, cols: d, data } = features;
  const r = model.residualDim;
  const out = new Float64Array(rows);
  const projection = new Float64Array(r);
  for (let i = 0; i < rows; i++) {
    projection.fill(0);
    for (let k = 0; k < d; k++) {
      const centred = data[i * d + k]! - model.origin[k]!;
      for (let j = 0; j < r; j++) projection[j]! += centred * model.residualBasis[k * r + j]!;
    }
    let sum = 0;
    for (let j = 0; j < r; j++) sum += projection[j]! ** 2;
    out[i] = Math.sqrt(sum);
  }
  return out;
}

/** Fit ViM's origin, residual space and α on training features and logits. */
export function fitVim(
  head: Head,
  features: Matrix,
  logits: Matrix,
  principalDim: number,
): VimModel {
  const d = features.cols;
  const origin = vimOrigin(head);
  const { vectors } = symmetricEigen(meanOuterProduct(features, origin, () => 0), d);
  const residualDim = d - principalDim;
  const residualBasis = new Float64Array(d * residualDim);
  for (let k = 0; k < d; k++) {
    for (let j = 0; j < residualDim; j++) {
      residualBasis[k * residualDim + j] = vectors[k * d + principalDim + j]!;
    }
  }
  const partial: VimModel = { dim: d, origin, residualBasis, residualDim, alpha: 1 };
  const meanResidual = residualNorms(features, partial).reduce((s, v) => s + v, 0) /
    features.rows;
  const meanMaxLogit = rowMax(logits).reduce((s, v) => s + v, 0) / logits.rows;
  return { ...partial, alpha: meanMaxLogit / meanResidual };
}

/** The ViM detector: α·‖residual‖ − logsumexp(z). */
export function vim(options: VimOptions = {}): Detector {
  const name = "ViM";
  return {
    name,
    description: "ViM: virtual logit α‖residual of h − u outside the principal subspace‖ minus " +
      "logsumexp(z), principal dimension D/2 (Wang et al., CVPR 2022; OpenOOD v1.5)",
    fit: (inputs) =>
      Effect.gen(function* () {
        const trainFeatures = inputs.train.features;
        const setName = trainFeatures.name;
        const head = yield* readHead(name, inputs);
        const d = head.inputSize;
        const principalDim = options.principalDim ?? Math.floor(d / 2);
        yield* requireSetting(
          Number.isInteger(principalDim) && principalDim >= 1 && principalDim < d,
          name,
          "principalDim",
          principalDim,
          `an integer in [1, ${d - 1}]`,
        );
        yield* checkTrainPenultimate(name, inputs, { penultimate: d, classes: head.numClasses });
        yield* finiteMatrix(name, setName, "the logits", trainFeatures.logits);
        const model = fitVim(head, trainFeatures.penultimate, trainFeatures.logits, principalDim);
        if (!(Number.isFinite(model.alpha) && model.alpha !== 0)) {
          return yield* new DegenerateResidual({ detector: name, set: setName, principalDim });
        }
        return fittedDetector({
          score: (set) =>
            scoreChecked(name, set, { penultimate: d, classes: head.numClasses }, () => {
              const residual = residualNorms(set.features.penultimate, model);
              const energy = rowLogSumExp(set.features.logits);
              return Float64Array.from(residual, (r, i) => model.alpha * r - energy[i]!);
            }),
          settings: { principalDim, residualDim: model.residualDim, alpha: model.alpha },
          artefacts: [
            artefact("vim-origin", "D-vector origin u = −pinv(W)b", model.origin, [d]),
            artefact(
              "vim-residual-basis",
              "D × R orthonormal basis of the residual space",
              model.residualBasis,
              [d, model.residualDim],
            ),
          ],
        });
      }),
  };
}

export const vimEntry = baselineEntry(vim, {
  kind: "vim",
  title: "ViM",
  source: "Wang et al., CVPR 2022; OpenOOD `vim`",
  options: VimOptionsSpec,
});
