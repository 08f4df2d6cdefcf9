/**
 * Sizes and figures of the torture tests (test/torture/).
 *
 * Each torture test runs at one of two scales: `short` (the default, inside
 * `make test`: small numbers, a few seconds each) or `full`
 * (`LB4_TORTURE_SCALE=full`, what `make torture` sets: ten thousand idle
 * connections, a hundred thousand short ones...). `sized(short, full)` picks
 * the number for the scale in force.
 *
 * `report()` prints a scenario's figures as a tap comment and, when
 * `LB4_TORTURE_OUT` names a file (make torture: perf/out/torture.jsonl),
 * appends them there as one JSON line; perf/torture.mjs turns those lines
 * into the summary table (perf/out/TORTURE.md).
 */
import { appendFileSync } from 'node:fs';
import { getJson } from './admin.js';
import { steady } from './edge.js';
import { rssBytes } from './l4-e2e.js';
import type { Lb4Process } from './lb4.js';

export type Scale = 'short' | 'full';

/** The scale in force: `full` only when LB4_TORTURE_SCALE=full. */
export const SCALE: Scale = process.env.LB4_TORTURE_SCALE === 'full' ? 'full' : 'short';

/** `short` or `full`, by the scale in force. */
export function sized<T>(short: T, full: T): T {
  return SCALE === 'full' ? full : short;
}

/** One scenario's result line. */
export interface TortureFigures {
  /** stable order key and name, e.g. `1a idle, plain L4` */
  scenario: string;
  /** the load, e.g. `10,000 connections held` */
  load: string;
  /** the figures, in order: label → value (already formatted) */
  figures: Record<string, string>;
}

/** Print the figures (tap comment) and append them to LB4_TORTURE_OUT when set. */
export function report(t: { comment(...args: unknown[]): void }, f: TortureFigures): void {
  const text = Object.entries(f.figures)
    .map(([k, v]) => `${k} ${v}`)
    .join('; ');
  t.comment(`[torture ${SCALE}] ${f.scenario} (${f.load}): ${text}`);
  const out = process.env.LB4_TORTURE_OUT;
  if (out) appendFileSync(out, `${JSON.stringify({ scale: SCALE, ...f })}\n`);
}

/** Bytes as MiB with one decimal. */
export const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`;
/** Bytes as KiB with one decimal. */
export const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
/** A count with thousands separators. */
export const count = (n: number): string => n.toLocaleString('en-US');
/** Milliseconds as seconds with one decimal. */
export const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

const MiB = 1048576;

/** lb4's /stats (a generous bound: it may answer slowly under load). */
export async function statsOf(lb: Lb4Process): Promise<any> {
  return (await getJson(lb.adminPort!, '/stats', { timeoutMs: 30_000 })).json;
}

/**
 * lb4's RSS once it has stopped moving (GC, the reclaimer, the relay
 * hand-over): within 1 MiB for 0.3 s (short: a rough figure, quickly)
 * or within 4 MiB for 2.5 s (full: thousands of connections, a busy machine).
 */
export function settledRss(pid: number, what: string): Promise<number> {
  return steady(() => rssBytes(pid), { quietMs: sized(300, 2_500), everyMs: sized(100, 250), tolerance: sized(1, 4) * MiB, timeoutMs: 120_000, what });
}
