/**
 * What the service exists for, watched over time: the verdicts it returned (`in`, `ood`,
 * `invalid`), the share of OOD verdicts in a sliding window (`grood_ood_share`; a drift of the
 * inputs shows as a rise of it), and the verdicts per minute since start (`GET /drift`).
 *
 * The window is kept as per-second counts, so it costs at most `windowSeconds` entries; the
 * per-minute buckets are kept for at most `maxBuckets` minutes (default 7 days), oldest dropped.
 *
 * @module
 */

import type { Verdict } from "../../lib/fitted/mod.ts";

/** A verdict of one image: the one a fitted detector gives (`lib/fitted`). */
export type { Verdict };

/** Counts of verdicts. */
export interface VerdictCounts {
  /** Images in distribution (score at or below the threshold). */
  in: number;
  /** Images out of distribution (score above the threshold). */
  ood: number;
  /** Images without a finite score (the `invalid` verdict). */
  invalid: number;
}

/** One minute of verdicts: `start` in milliseconds since the epoch. */
export interface MinuteBucket extends VerdictCounts {
  /** The minute's start, in milliseconds since the epoch. */
  readonly start: number;
}

/** Default sliding window of the OOD share: 5 minutes. */
export const DEFAULT_OOD_WINDOW_SECONDS = 300;

const zero = (): VerdictCounts => ({ in: 0, ood: 0, invalid: 0 });

/**
 * Verdict counters, the OOD share over a sliding window and per-minute buckets.
 *
 * @example
 * ```ts
 * import { VerdictLog } from "./drift.ts";
 * const log = new VerdictLog(60, () => 0);
 * log.record(["in", "in", "ood", "invalid"]);
 * if (log.oodShare().share !== 1 / 3 || log.totals().invalid !== 1) throw new Error();
 * ```
 */
export class VerdictLog {
  private readonly total = zero();
  /** Per-second counts in the window, oldest first. */
  private readonly seconds: Array<VerdictCounts & { second: number }> = [];
  private readonly minutes: Array<MinuteBucket> = [];
  /** When the log started (ms since the epoch). */
  readonly start: number;

  /**
   * An empty log: the OOD share over the last `windowSeconds`, the time from `now`, at most
   * `maxBuckets` minutes kept (a week).
   */
  constructor(
    readonly windowSeconds: number = DEFAULT_OOD_WINDOW_SECONDS,
    private readonly now: () => number = Date.now,
    private readonly maxBuckets = 7 * 24 * 60,
  ) {
    this.start = now();
  }

  /** Count the verdicts of one answer. */
  record(verdicts: Iterable<Verdict>): void {
    const t = this.now();
    const second = Math.floor(t / 1000);
    let slot = this.seconds.at(-1);
    if (slot === undefined || slot.second !== second) {
      slot = { second, ...zero() };
      this.seconds.push(slot);
    }
    const minuteStart = Math.floor(t / 60_000) * 60_000;
    let minute = this.minutes.at(-1);
    if (minute === undefined || minute.start !== minuteStart) {
      minute = { start: minuteStart, ...zero() };
      this.minutes.push(minute);
      if (this.minutes.length > this.maxBuckets) this.minutes.shift();
    }
    for (const v of verdicts) {
      this.total[v] += 1;
      slot[v] += 1;
      minute[v] += 1;
    }
    this.prune(second);
  }

  /** Drop the seconds that left the window. */
  private prune(second: number): void {
    while (this.seconds.length > 0 && this.seconds[0]!.second <= second - this.windowSeconds) {
      this.seconds.shift();
    }
  }

  /** Verdicts returned since start. */
  totals(): Readonly<VerdictCounts> {
    return { ...this.total };
  }

  /** ood / (in + ood) over the window (0 when it holds none), and in + ood there. */
  oodShare(): { readonly share: number; readonly verdicts: number } {
    this.prune(Math.floor(this.now() / 1000));
    let inCount = 0;
    let ood = 0;
    for (const s of this.seconds) {
      inCount += s.in;
      ood += s.ood;
    }
    const verdicts = inCount + ood;
    return { share: verdicts === 0 ? 0 : ood / verdicts, verdicts };
  }

  /** The per-minute buckets since start (minutes without verdicts left out). */
  buckets(): ReadonlyArray<MinuteBucket> {
    return this.minutes.map((m) => ({ ...m }));
  }
}
