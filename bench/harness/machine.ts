/**
 * What a benchmark result was measured on: cores, memory, CPU model, runtime versions and how
 * busy the machine was. Timings mean little without it, and the machine is shared.
 *
 * @module
 */

/** The machine and runtime of a benchmark run. */
export interface MachineInfo {
  /** Logical cores (`navigator.hardwareConcurrency`). */
  readonly cores: number;
  readonly memoryBytes: number;
  /** `model name` of the first processor in `/proc/cpuinfo` ("unknown" elsewhere). */
  readonly cpuModel: string;
  readonly os: string;
  readonly deno: string;
  readonly v8: string;
  readonly typescript: string;
}

/** Load averages over 1, 5 and 15 minutes, and when they were read. */
export interface LoadSample {
  readonly at: string;
  readonly label: string;
  readonly loadavg: readonly [number, number, number];
}

function cpuModel(): string {
  try {
    const line = Deno.readTextFileSync("/proc/cpuinfo").split("\n")
      .find((l) => l.startsWith("model name"));
    return line?.split(":").slice(1).join(":").trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Describe this machine and runtime. */
export function machineInfo(): MachineInfo {
  let memoryBytes = 0;
  try {
    memoryBytes = Deno.systemMemoryInfo().total;
  } catch {
    // needs --allow-sys; leave 0 (reported as unknown)
  }
  return {
    cores: navigator.hardwareConcurrency,
    memoryBytes,
    cpuModel: cpuModel(),
    os: `${Deno.build.os} ${Deno.build.arch}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
  };
}

/** The load average now, labelled (e.g. the section about to start). */
export function loadSample(label: string): LoadSample {
  let loadavg: readonly [number, number, number] = [NaN, NaN, NaN];
  try {
    const [a = NaN, b = NaN, c = NaN] = Deno.loadavg();
    loadavg = [a, b, c];
  } catch {
    // needs --allow-sys
  }
  return { at: new Date().toISOString(), label, loadavg };
}

/** Busy and total jiffies of all CPUs, from the first line of `/proc/stat`. */
function cpuJiffies(): { busy: number; total: number } | undefined {
  try {
    const fields = Deno.readTextFileSync("/proc/stat").split("\n")[0]!.trim().split(/\s+/)
      .slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    // idle (4th) and iowait (5th) are the time no process ran
    return { busy: total - (fields[3] ?? 0) - (fields[4] ?? 0), total };
  } catch {
    return undefined;
  }
}

/**
 * How many cores' worth of CPU other processes use, measured over `millis` while this one
 * waits (NaN off Linux). Why not the load average: its 1-minute figure decays slowly, so a
 * job that ended half a minute ago still shows, and a machine can look busy when it is not.
 */
export async function busyCores(millis = 1000): Promise<number> {
  const before = cpuJiffies();
  await new Promise((resolve) => setTimeout(resolve, millis));
  const after = cpuJiffies();
  if (before === undefined || after === undefined || after.total === before.total) return NaN;
  return ((after.busy - before.busy) / (after.total - before.total)) *
    navigator.hardwareConcurrency;
}
