// provision check's result as text lines and JSON (steps/check.ts makes it).
import { summaryText, type CheckReport } from '../plan/check.js';

import { preflightJson, preflightLines } from './preflight.js';

export function checkText(report: CheckReport): string {
  const lines = [
    ...(report.preflight ? preflightLines(report.preflight) : []),
    ...(report.summary ? [summaryText(report.summary)] : []),
    ...report.notes.map((n) => `note: ${n}`),
  ];
  return lines.map((l) => `  ${l}`).join('\n');
}

export function checkJson(report: CheckReport): object {
  return {
    ...(report.preflight ? { preflight: preflightJson(report.preflight) } : {}),
    check: { summary: report.summary, pairs: report.pairs, notes: report.notes, failed: report.failed },
  };
}
