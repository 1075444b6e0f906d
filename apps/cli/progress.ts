/**
 * The command line's `Progress`: a redrawn bar on a terminal, a line at each quarter elsewhere
 * (CI logs), both on stderr so a task's stdout stays its output.
 *
 * @module
 */
import type { Layer } from "effect";
import { progressLayer, type ProgressReporter } from "../../mod.ts";

/** A reporter that draws on stderr: a bar on a TTY, else a line at each quarter. */
export function terminalReporter(tty: boolean = Deno.stderr.isTerminal()): ProgressReporter {
  const encoder = new TextEncoder();
  const lastQuarter = new Map<string, number>();
  const started = new Map<string, number>();
  return (stage, done, total) => {
    if (!started.has(stage) || done <= 0) started.set(stage, performance.now());
    const fraction = total === 0 ? 1 : done / total;
    const seconds = (performance.now() - started.get(stage)!) / 1000;
    if (tty) {
      const width = 30;
      const filled = Math.round(fraction * width);
      const bar = "█".repeat(filled) + "░".repeat(width - filled);
      const line = `\r${stage.padEnd(28).slice(0, 28)} ${bar} ${done}/${total} ${
        seconds.toFixed(1)
      }s`;
      Deno.stderr.writeSync(encoder.encode(line + (done >= total ? "\n" : "")));
      return;
    }
    const quarter = Math.floor(fraction * 4);
    if (quarter > (lastQuarter.get(stage) ?? 0) || done >= total) {
      lastQuarter.set(stage, quarter);
      if (done >= total) lastQuarter.delete(stage);
      Deno.stderr.writeSync(
        encoder.encode(`${stage}: ${done}/${total} (${seconds.toFixed(1)}s)\n`),
      );
    }
  };
}

/** `Progress` on stderr (`terminalReporter`), for a task that runs long stages. */
export const terminalProgress = (): Layer.Layer<never> => progressLayer(terminalReporter());
