/**
 * Small helpers shared by the operations tests of test/integration/ops/ (reload, --watch-config,
 * --workers).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson } from './admin.js';
import { namedBackend, type NamedBackend } from './backends.js';

export interface Host {
  teardown(fn: () => unknown): void;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A temporary directory removed in the test's teardown. */
export function tempDir(t: Host): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb4-ops-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Write a YAML config: `lines` joined with newlines. */
export function writeConfig(file: string, lines: string[]): void {
  writeFileSync(file, `${lines.join('\n')}\n`);
}

/** One backend entry of a YAML `backends:` list. */
export function entry(name: string, address: string, weight = 1): string {
  return `  - { name: ${name}, address: "${address}", weight: ${weight} }`;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** GET /stats (200 expected) as parsed JSON. */
export async function stats(adminPort: number, query = ''): Promise<Json> {
  const r = await getJson(adminPort, `/stats${query}`);
  if (r.status !== 200) throw new Error(`/stats${query}: status ${r.status}: ${r.body}`);
  return r.json;
}

/** Poll /stats until `pred` holds; returns the last document; rejects after `timeoutMs`. */
export async function statsUntil(adminPort: number, pred: (s: Json) => boolean, timeoutMs = 15_000, what = 'a /stats condition', query = ''): Promise<Json> {
  const end = Date.now() + timeoutMs;
  let last: Json;
  for (;;) {
    last = await stats(adminPort, query);
    if (pred(last)) return last;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last /stats: ${JSON.stringify(last)}`);
    await sleep(50);
  }
}

/** The /stats entry of backend `name`, or undefined. */
export function backendOf(s: Json, name: string): Json | undefined {
  return (s.backends as Json[]).find((b) => b.name === name);
}

/** Named backends (they write their name on connect), closed at the end of the test. */
export async function backends(t: Host, ...names: string[]): Promise<NamedBackend[]> {
  const out: NamedBackend[] = [];
  for (const n of names) {
    const b = await namedBackend(n);
    t.teardown(() => b.close());
    out.push(b);
  }
  return out;
}
