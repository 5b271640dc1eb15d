/** The end of `send` / `recv`: one human summary on stderr, or one JSON object with --json. */
import type { ConnectionStats } from '../index.js';
import { EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK } from './command.js';
import { formatBytes, formatRate } from './format.js';

/** How a transfer ended: completed, ended by Ctrl-C, or failed with this error. */
export type Outcome = 'done' | 'interrupted' | Error;

export interface TransferReport {
  role: 'send' | 'recv';
  /** The local file (recv: where it was written; '-' for stdout). */
  file: string;
  peer: string;
  /** Bytes the header announced (undefined if it never arrived). */
  size: number | undefined;
  /** Bytes actually moved: the whole file unless interrupted or failed. */
  bytes: number;
  seconds: number;
  /** Average rate over the transfer, bytes per second. */
  rate: number;
  retransmits: number;
  timeouts: number;
  sha256: { local: string | null; peer: string | null; match: boolean };
  interrupted: boolean;
  error: string | null;
}

export function buildReport(
  fields: Omit<TransferReport, 'rate' | 'retransmits' | 'timeouts' | 'sha256' | 'interrupted' | 'error'> & {
    stats: ConnectionStats | undefined;
    localSha256: string | null;
    peerSha256: string | null;
    outcome: Outcome;
  },
): TransferReport {
  const { stats, localSha256, peerSha256, outcome, ...rest } = fields;
  return {
    ...rest,
    interrupted: outcome === 'interrupted',
    error: outcome instanceof Error ? outcome.message : null,
    rate: fields.seconds > 0 ? fields.bytes / fields.seconds : 0,
    retransmits: stats?.retransmits ?? 0,
    timeouts: stats?.timeouts ?? 0,
    sha256: { local: localSha256, peer: peerSha256, match: localSha256 !== null && localSha256 === peerSha256 },
  };
}

/** 130 after Ctrl-C; 0 only if the transfer completed and both ends computed the same sha256. */
export function exitCode(report: TransferReport): number {
  if (report.interrupted) return EXIT_INTERRUPTED;
  return report.error === null && report.sha256.match ? EXIT_OK : EXIT_FAILURE;
}

/** Human summary lines (stderr). */
export function formatReport(report: TransferReport): string {
  const verb = report.role === 'send' ? 'sent' : 'received';
  const direction = report.role === 'send' ? 'to' : 'from';
  const of = report.size !== undefined && report.bytes !== report.size ? ` of ${formatBytes(report.size)}` : '';
  const lines = [
    `${report.interrupted ? 'interrupted: ' : ''}${verb} ${formatBytes(report.bytes)}${of} ${direction} ${report.peer}` +
      ` in ${report.seconds.toFixed(2)} s, ${formatRate(report.rate)} average, ${report.retransmits} retransmits` +
      (report.timeouts > 0 ? `, ${report.timeouts} timeouts` : ''),
    `  file             ${report.file}`,
    `  sha256 here      ${report.sha256.local ?? '(not complete)'}`,
    `  sha256 at peer   ${report.sha256.peer ?? '(not received)'}`,
  ];
  if (report.error) lines.push(`  error            ${report.error}`);
  else if (!report.interrupted) lines.push(report.sha256.match ? '  sha256 match: OK' : '  sha256 MISMATCH: the file is damaged');
  return lines.join('\n') + '\n';
}
