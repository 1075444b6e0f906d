/**
 * The standard `process_*` metrics of Prometheus client libraries: resident memory, heap, CPU
 * seconds, start time and, where `/proc` exists (Linux), open and maximum file descriptors.
 *
 * @module
 */
import process from "node:process";
import { family } from "./prometheus.ts";

/** When this process started, seconds since the epoch. */
const STARTED = (Date.now() - performance.now()) / 1000;

/** Open file descriptors, or undefined where they cannot be counted. */
function openFds(): number | undefined {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) n += 1;
    return n;
  } catch {
    return undefined;
  }
}

/** The soft limit on open file descriptors, or undefined. */
function maxFds(): number | undefined {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const match = /^Max open files\s+(\d+)/m.exec(limits);
    return match === null ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

/** The `process_*` families, sampled now. */
export function processMetrics(): Array<string> {
  const memory = Deno.memoryUsage();
  const cpu = process.cpuUsage();
  const lines = [
    ...family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", [[
      {},
      memory.rss,
    ]]),
    ...family("process_heap_bytes", "gauge", "Live JavaScript heap in bytes (V8 heapUsed).", [[
      {},
      memory.heapUsed,
    ]]),
    ...family(
      "process_cpu_seconds_total",
      "counter",
      "Total user and system CPU time spent in seconds.",
      [[{}, (cpu.user + cpu.system) / 1e6]],
    ),
    ...family(
      "process_start_time_seconds",
      "gauge",
      "Start time of the process since unix epoch in seconds.",
      [[{}, STARTED]],
    ),
  ];
  const open = openFds();
  if (open !== undefined) {
    lines.push(...family("process_open_fds", "gauge", "Number of open file descriptors.", [[
      {},
      open,
    ]]));
  }
  const max = maxFds();
  if (max !== undefined) {
    lines.push(
      ...family("process_max_fds", "gauge", "Maximum number of open file descriptors.", [[
        {},
        max,
      ]]),
    );
  }
  return lines;
}
