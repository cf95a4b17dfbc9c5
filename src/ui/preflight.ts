// The preflight's findings as text lines and JSON (plan/preflight.ts makes them).
import type { PreflightReport } from '../plan/preflight.js';

/** The report's lines: each note once, with its robots; a fail is on its robot's row already. */
export function preflightLines(report: PreflightReport): string[] {
  const notes = report.findings.filter((f) => f.severity === 'note');
  const robots = report.readings.length;
  const tcp = report.probes.filter((p) => p.result === 'open' || p.result === 'refused').length;
  const head = `preflight: ${robots} robot${robots === 1 ? '' : 's'} read, ${tcp}/${report.probes.length} TCP probes reached, lowest MTU ${report.lowestMtu ?? 'unknown'}${report.overlayMtu !== null ? `, overlay MTU ${report.overlayMtu}` : ''}`;
  return [
    head,
    ...notes.map((f) => `preflight: ${f.robots.length && f.robots.length < robots ? `${f.robots.join(', ')}: ` : ''}${f.text}`),
  ];
}

export function preflightJson(report: PreflightReport): object {
  return {
    lowestMtu: report.lowestMtu,
    neededOverlayMtu: report.neededMtu,
    overlayMtu: report.overlayMtu,
    findings: report.findings,
    readings: report.readings,
    tcpProbes: report.probes,
    pathMtus: report.paths,
  };
}
