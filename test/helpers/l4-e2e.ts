/**
 * Small helpers shared by the L4 end-to-end tests of test/integration/l4/
 * (kept out of that directory so `tap test/integration/l4/` runs only tests).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { attachHelpers, connect, type ConnectOptions, type TestSocket } from './clients.js';
import type { Lb4Process, LogLine } from './lb4.js';

/** What a tap test offers for cleanup. */
export interface Host {
  teardown(fn: () => unknown): void;
}

export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** What echoThrough() sent and got back. */
export interface EchoResult {
  received: number;
  sentSha256: string;
  receivedSha256: string;
}

/**
 * Send `total` random bytes to an echo backend through lb4 at `port` and
 * read them back, with backpressure (wait for 'drain' whenever write() says
 * so); `chunk(sent)` sizes each write (uneven sizes keep reads and writes
 * from lining up). Ends the write half after the last byte and resolves
 * once the backend's end came through, within `timeoutMs`.
 */
export async function echoThrough(t: Host, port: number, total: number, chunk: (sent: number) => number, timeoutMs = 60_000): Promise<EchoResult> {
  const sock = net.connect({ port, host: '127.0.0.1' });
  t.teardown(() => sock.destroy());
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const inHash = createHash('sha256');
  let received = 0;
  const done = new Promise<void>((resolve, reject) => {
    sock.on('data', (d: Buffer) => {
      received += d.length;
      inHash.update(d);
    });
    sock.once('end', resolve);
    sock.once('error', reject);
  });
  const outHash = createHash('sha256');
  for (let sent = 0; sent < total; ) {
    const b = randomBytes(Math.min(total - sent, chunk(sent)));
    outHash.update(b);
    sent += b.length;
    if (!sock.write(b)) await new Promise<void>((r) => sock.once('drain', () => r()));
  }
  sock.end();
  await within(done, timeoutMs, `echo of ${total} bytes (have ${received})`);
  return { received, sentSha256: outHash.digest('hex'), receivedSha256: inHash.digest('hex') };
}

/** connect() whose socket is destroyed in the test's teardown. */
export async function tracked(t: Host, port: number, host = '127.0.0.1', opts: ConnectOptions = {}): Promise<TestSocket> {
  const s = await connect(port, host, opts);
  t.teardown(() => s.destroy());
  return s;
}

/**
 * One short connection to a named backend through lb4: reads the name the
 * backend writes first, ends, and waits for the close. Returns the name.
 */
export async function nameOf(port: number, localAddress?: string): Promise<string> {
  const sock = net.connect({ port, host: '127.0.0.1', localAddress });
  const s = attachHelpers(sock);
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    const name = await s.readLine();
    s.end();
    await s.readUntilEnd();
    await s.waitClose();
    return name;
  } finally {
    s.destroy();
  }
}

/** Resolves when `p` settles, or rejects after `ms` with `what`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** `msg: "connection"` access-log lines so far. */
export function accessLines(lb: Lb4Process): LogLine[] {
  return lb.logsMatching((l) => l.msg === 'connection');
}

/** Waits until lb4 has logged at least `n` access-log lines; returns them all. */
export async function waitAccess(lb: Lb4Process, n: number, timeoutMs = 15_000): Promise<LogLine[]> {
  let seen = 0;
  await lb.waitForLog((l) => l.msg === 'connection' && ++seen >= n, timeoutMs);
  return accessLines(lb);
}

/** lb4's resident set size in bytes (VmRSS of /proc/PID/status). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** The lines of a text, without the empty last one. */
export function linesOf(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}
