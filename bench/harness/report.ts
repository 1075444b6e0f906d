/**
 * Benchmark figures: one measured quantity with its runs, median, optional target and
 * whether it was met; how each prints as one line; and the shape of `bench/results.json`.
 *
 * @module
 */
import type { LoadSample, MachineInfo } from "./machine.ts";
import { median } from "./measure.ts";

/** A target a figure must reach. */
export interface Target {
  readonly op: ">=" | "<" | "<=";
  readonly value: number;
}

/** The unit of a figure (decides how it prints). */
export type Unit =
  | "images/s"
  | "descriptors/s"
  | "queries/s"
  | "s"
  | "ms/query"
  | "bytes"
  | "x"
  | "ratio";

/** One measured figure. */
export interface Figure {
  /** Stable key, e.g. `forward.speedup`. */
  readonly id: string;
  /** Human label, e.g. `forward speed-up, 2 workers over 1`. */
  readonly label: string;
  readonly unit: Unit;
  readonly median: number;
  /** Every timed run's value, in run order (one value for a figure measured once). */
  readonly runs: ReadonlyArray<number>;
  readonly target: Target | null;
  /** Whether the median meets the target; null without a target. */
  readonly met: boolean | null;
  /** How it was measured, when the label does not say (sizes, caveats). */
  readonly note?: string;
  /** The load average (1, 5, 15 min) when the figure was recorded (see {@link withLoad}). */
  readonly loadavg?: readonly [number, number, number];
  /** Whether the machine was busier than its cores when it was recorded (see {@link withLoad}). */
  readonly loaded?: boolean;
}

/**
 * The figure with the load average at the moment it was recorded, and `loaded` when the
 * 1-minute load exceeded the number of cores (more runnable work than cores: some of it, this
 * bench's included, waited). Every figure of `bench/*.json` carries both, so a timing from a
 * busy machine cannot pass for a quiet one.
 */
export function withLoad(
  f: Figure,
  loadavg: readonly [number, number, number],
  cores: number,
): Figure {
  return { ...f, loadavg, loaded: loadavg[0] > cores };
}

/** Make a figure from its runs (the median is computed here). */
export function figure(
  id: string,
  label: string,
  unit: Unit,
  runs: ReadonlyArray<number>,
  options: { readonly target?: Target; readonly note?: string } = {},
): Figure {
  const value = median(runs);
  const target = options.target ?? null;
  const met = target === null
    ? null
    : target.op === ">="
    ? value >= target.value
    : target.op === "<="
    ? value <= target.value
    : value < target.value;
  return {
    id,
    label,
    unit,
    median: value,
    runs: [...runs],
    target,
    met,
    ...(options.note === undefined ? {} : { note: options.note }),
  };
}

/** A value in its unit, for humans. */
export function formatValue(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return String(value);
  const grouped = (v: number, digits = 0) =>
    v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  switch (unit) {
    case "images/s":
    case "descriptors/s":
    case "queries/s":
      return `${grouped(value, value < 100 ? 1 : 0)} ${unit}`;
    case "s":
      return value < 1 ? `${(value * 1000).toFixed(1)} ms` : `${value.toFixed(2)} s`;
    case "ms/query":
      return `${value < 0.1 ? value.toFixed(4) : value.toFixed(3)} ms/query`;
    case "bytes":
      return value >= 1e9 ? `${(value / 1e9).toFixed(2)} GB` : `${(value / 1e6).toFixed(0)} MB`;
    case "x":
      return `${value.toFixed(2)}×`;
    case "ratio":
      return value.toFixed(4);
  }
}

/** One line: label, median, target and met / not met (runs in brackets when more than one). */
export function formatFigure(f: Figure): string {
  const runs = f.runs.length > 1 ? ` (median of ${f.runs.length})` : "";
  const head = `${f.label.padEnd(52)} ${formatValue(f.median, f.unit).padStart(22)}${runs}`;
  if (f.target === null) return head;
  const op = { ">=": "≥", "<=": "≤", "<": "<" }[f.target.op];
  return `${head.padEnd(92)}  target ${op} ${formatValue(f.target.value, f.unit)}: ${
    f.met ? "met" : "NOT MET"
  }`;
}

/** The contents of `bench/results.json`. */
export interface BenchResults {
  readonly format: "grood-bench";
  readonly version: 1;
  readonly date: string;
  readonly mode: "full" | "quick";
  readonly benchmark: string;
  readonly model: { readonly path: string; readonly weightsSha256: string; readonly kind: string };
  readonly machine: MachineInfo;
  readonly versions: { readonly deno: string; readonly tfjs: string; readonly effect: string };
  readonly backend: string;
  readonly plan: Readonly<Record<string, unknown>>;
  /**
   * Cores' worth of CPU that other processes used just before the bench started (null off
   * Linux; absent from results written before this probe was added).
   */
  readonly othersBusyCoresAtStart?: number | null;
  /** Load averages at the start of each section and at the end (the machine is shared). */
  readonly load: ReadonlyArray<LoadSample>;
  readonly figures: ReadonlyArray<Figure>;
  /** Measurements that explain a figure (breakdowns, variants tried), not targets. */
  readonly details: Readonly<Record<string, unknown>>;
  readonly benchSeconds: number;
}
