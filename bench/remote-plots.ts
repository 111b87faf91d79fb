/** The remote benchmark's own plots (bench/remote.ts): throughput per run, uncached throughput against the limit, CPU per GET. */
import { barChartSvg } from './plot.js';
import { LABEL, LATENCY_MS, READ_CONCURRENCY, type BareGetRun, type RemoteDetails, type RemoteRun } from './remote-common.js';
import type { BenchReport } from './report.js';

export function plots(report: BenchReport): Array<{ suffix: string; svg: string }> {
  const details = (report as BenchReport & { details?: RemoteDetails }).details;
  if (details === undefined || details.runs.length === 0) return [];
  const subtitle = `${report.machine.nproc} cores · Node ${report.machine.node} · ${report.startedAt.slice(0, 10)} · ${LATENCY_MS} ms per request, C = ${READ_CONCURRENCY} · same run, same data`;
  const label = (r: RemoteRun): string => `${r.workload} (${LABEL[r.backend]}, ${r.phase})`;
  const bareLabel = (b: BareGetRun): string => `bare ranged GETs (${LABEL[b.backend]})`;
  const out: Array<{ suffix: string; svg: string }> = [];
  out.push({
    suffix: 'ops',
    svg: barChartSvg({
      title: 'Floe on remote storage: keys read and remote GETs per second',
      subtitle,
      categories: [...details.runs.map(label), ...details.bare.map(bareLabel)],
      series: [
        { name: 'keys/s', values: [...details.runs.map((r) => r.keysPerSec), ...details.bare.map(() => undefined)] },
        { name: 'remote GETs/s', values: [...details.runs.map((r) => r.remoteGetsPerSec), ...details.bare.map((b) => b.getsPerSec)] },
      ],
      valueLabel: 'per second',
      scale: 'log',
    }),
  });
  if (details.ratios.length > 0) {
    out.push({
      suffix: 'ratio',
      svg: barChartSvg({
        title: 'Uncached reads: share of the limit min(C / latency, bare GETs/s)',
        subtitle,
        categories: details.ratios.map((r) => `${r.workload} (${LABEL[r.backend]}, cold)`),
        series: [
          { name: 'keys/s ÷ limit', values: details.ratios.map((r) => r.opsRatio) },
          { name: 'remote GETs/s ÷ limit', values: details.ratios.map((r) => r.getsRatio) },
        ],
        valueLabel: 'fraction of the limit',
        referenceLine: { value: 0.8, label: 'target 0.8' },
        formatValue: (v) => v.toFixed(2),
      }),
    });
  }
  out.push({
    suffix: 'cpu',
    svg: barChartSvg({
      title: 'Process CPU per remote GET (engine + store client; bare = store client alone)',
      subtitle,
      categories: [...details.runs.filter((r) => r.cpuUsPerGet !== null).map(label), ...details.bare.map(bareLabel)],
      series: [
        {
          name: 'CPU µs per remote GET',
          values: [...details.runs.filter((r) => r.cpuUsPerGet !== null).map((r) => r.cpuUsPerGet ?? undefined), ...details.bare.map((b) => b.cpuUsPerGet)],
        },
      ],
      valueLabel: 'microseconds of CPU (user + system, all threads of the process)',
      scale: 'log',
      formatValue: (v) => `${Math.round(v)} µs`,
    }),
  });
  return out;
}
