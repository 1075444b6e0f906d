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
