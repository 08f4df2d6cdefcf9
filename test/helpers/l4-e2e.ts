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

/** How a transfer ended, as its client saw it. */
export interface TransferEnd extends EchoResult {
  /**
   * `end`: the other side's FIN; `reset`: a TCP reset (ECONNRESET, or EPIPE
   * on a write after one); `error`: another error (the code in `code`);
   * `closed`: closed by this side (destroy) with neither
   */
  how: 'end' | 'reset' | 'error' | 'closed';
  code?: string;
  sent: number;
  /** from connect to close */
  ms: number;
}

/** One transfer under way (see startTransfer). */
export interface Transfer {
  readonly socket: net.Socket;
  /** bytes written so far */
  readonly sent: number;
  /** bytes read so far */
  readonly received: number;
  /** resolves once the socket is closed, however it ended */
  readonly done: Promise<TransferEnd>;
  /** let a transfer held at its `holdAt` go on (or the next hold not reached yet) */
  release(): void;
}

/**
 * A client that sends `total` random bytes (after `prefix`, which counts in
 * `total`) to lb4 at `port`, with backpressure (waits for 'drain' whenever
 * write() says so), and reads what comes back (an echo backend behind),
 * hashing both; `chunk(sent)` sizes each write (uneven sizes keep reads and
 * writes from lining up). With `holdAt` it stops writing after that many
 * bytes until release() (a list: the next hold each time). It ends its write half after the last byte and
 * never rejects: `done` says how the connection ended.
 */
export function startTransfer(port: number, total: number, chunk: (sent: number) => number, opts: { prefix?: Buffer; holdAt?: number | readonly number[] } = {}): Transfer {
  const t0 = performance.now();
  // half-open allowed, so that an 'end' can be checked before this side ends (below)
  const sock = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const inHash = createHash('sha256');
  const outHash = createHash('sha256');
  let sent = 0;
  let received = 0;
  let ended = false;
  let err: NodeJS.ErrnoException | undefined;
  // hold k waits until release() was called more than k times
  const holds = opts.holdAt === undefined ? [] : typeof opts.holdAt === 'number' ? [opts.holdAt] : [...opts.holdAt];
  let granted = 0;
  let wake: () => void = () => {};
  sock.on('data', (d: Buffer) => {
    received += d.length;
    inHash.update(d);
  });
  sock.on('error', (e: NodeJS.ErrnoException) => (err ??= e));
  // A FIN or a reset? libuv reports a reset that arrived behind unread bytes
  // as an end of stream (src/l4/tunnel.ts, confirmEnd()); an empty write
  // brings the error out. After a FIN this side ends too, as a client that
  // does not allow half-open connections would.
  sock.once('end', () => {
    ended = true;
    if (sock.writableEnded) return;
    sock.write(Buffer.alloc(0), (e) => {
      if (e) err ??= e;
      else sock.end();
      wake();
    });
  });
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  // resolves on 'drain', or at once when the socket closes meanwhile
  const drained = (): Promise<void> => Promise.race([new Promise<void>((r) => sock.once('drain', () => r())), closed]);
  const write = (b: Buffer): boolean => {
    outHash.update(b);
    sent += b.length;
    return sock.write(b);
  };
  const writer = async (): Promise<void> => {
    await Promise.race([new Promise<void>((r) => sock.once('connect', () => r())), closed]);
    if (opts.prefix && !sock.destroyed && !write(opts.prefix)) await drained();
    for (let hold = 0; sent < total && !sock.destroyed && !sock.writableEnded; ) {
      if (hold < holds.length && sent >= holds[hold]!) {
        if (granted <= hold) await Promise.race([new Promise<void>((r) => (wake = r)), closed]);
        hold++;
        continue;
      }
      const upTo = hold < holds.length ? Math.min(holds[hold]!, total) : total;
      if (!write(randomBytes(Math.min(upTo - sent, chunk(sent))))) await drained();
    }
    if (!sock.destroyed && !sock.writableEnded) sock.end();
  };
  void writer();
  const done = closed.then((): TransferEnd => {
    const code = err?.code;
    const how = err ? (code === 'ECONNRESET' || code === 'EPIPE' ? 'reset' : 'error') : ended ? 'end' : 'closed';
    return { how, code, sent, received, sentSha256: outHash.digest('hex'), receivedSha256: inHash.digest('hex'), ms: performance.now() - t0 };
  });
  return {
    socket: sock,
    get sent() {
      return sent;
    },
    get received() {
      return received;
    },
    done,
    release: () => {
      granted++;
      wake();
    },
  };
}

/**
 * Send `total` random bytes to an echo backend through lb4 at `port` and
 * read them back (startTransfer); rejects unless the backend's end came
 * through, within `timeoutMs`.
 */
export async function echoThrough(t: Host, port: number, total: number, chunk: (sent: number) => number, timeoutMs = 60_000): Promise<EchoResult> {
  const x = startTransfer(port, total, chunk);
  t.teardown(() => x.socket.destroy());
  const r = await within(x.done, timeoutMs, `echo of ${total} bytes`).catch((e: Error) => {
    throw new Error(`${e.message} (have ${x.received})`);
  });
  if (r.how !== 'end') throw new Error(`echo of ${total} bytes: ${r.code ?? r.how} after ${r.received} bytes back`);
  return { received: r.received, sentSha256: r.sentSha256, receivedSha256: r.receivedSha256 };
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
