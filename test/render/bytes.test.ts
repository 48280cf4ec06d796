// Sizes, rates and the transfer progress line.
import { describe, expect, it } from 'vitest';
import { formatBytes, progressLine, transferSummary } from '../../src/render/bytes.js';

describe('bytes in words', () => {
  it('uses binary units with one decimal below 10', () => {
    expect([0, 1023, 1024, 1536, 10 * 1024, 3 * 2 ** 20, 2 ** 30 * 1.25, 2 ** 50].map(formatBytes)).toEqual(['0 B', '1023 B', '1.0 KiB', '1.5 KiB', '10 KiB', '3.0 MiB', '1.3 GiB', '1.0 PiB']);
  });

  it('shows percent, bytes, rate, ETA and files while transferring, and one summary line at the end', () => {
    expect(progressLine({ bytesDone: 2 ** 29, bytesTotal: 2 ** 30, filesDone: 3, filesTotal: 40, bytesPerSecond: 100 * 2 ** 20, etaMs: 5_000 })).toBe(' 50%  512 MiB / 1.0 GiB  100 MiB/s  ETA 5s  3/40 files');
    expect(progressLine({ bytesDone: 0, bytesTotal: 10, filesDone: 0, filesTotal: 1, bytesPerSecond: 0, etaMs: undefined })).toBe('  0%  0 B / 10 B  0 B/s  ETA -');
    expect(transferSummary('Uploaded', { files: 2, bytes: 2 ** 21, durationMs: 2000, skipped: 1, failed: 0, resumedBytes: 2 ** 20 })).toBe('Uploaded 2 files (2.0 MiB) in 2.0s, 1.0 MiB/s; 1 skipped, 1.0 MiB already uploaded (resumed)');
  });
});
