/**
 * Looking at an lb4 process from outside, for the edge and torture tests
 * (hostile or broken clients, resource exhaustion): its open descriptors,
 * its CPU time, the sockets the kernel keeps for its port, a bounded poll
 * for conditions that have no event to wait on (they live in /proc), a
 * watch on its admin API while something else runs; the test process's own
 * descriptor limit; and clients that leave during their TLS handshake.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { Test } from 'tap';
import { getJson } from './admin.js';
import type { Lb4Process } from './lb4.js';

/** Entries of /proc/PID/fd: the process's open descriptors. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

let clockTicks = 0;

/** CPU time (user + system) the process has used, in ms. */
export function cpuMs(pid: number): number {
  clockTicks ||= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  // /proc/PID/stat: fields 14 and 15 (utime, stime) in clock ticks, after the parenthesised command
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks;
}

/** TCP sockets in `state` (an `ss` state name, e.g. `close-wait`) whose local port is `port`. */
export function socketsInState(state: string, port: number): number {
  const out = execFileSync('ss', ['-Htan', 'state', state, 'sport', '=', `:${port}`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim().length > 0).length;
}

/**
 * Poll `cond` every `everyMs` until it holds; rejects after `timeoutMs` with
 * `what` and the last value `describe` gives.
 */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string, describe?: () => unknown, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${describe ? ` (now: ${JSON.stringify(describe())})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` (a connect attempt). */
export function isListening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 3000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/**
 * lb4's backends are all up, with no failure counted and the circuit
 * closed, and no "backend down" or "panic" line was logged: lb4's own
 * trouble (out of descriptors) was not blamed on them.
 */
export async function backendsUntouched(t: Test, lb: Lb4Process): Promise<void> {
  const st = (await getJson(lb.adminPort!, '/stats', { timeoutMs: 15_000 })).json;
  for (const b of st.backends) {
    t.equal(b.state, 'up', `${b.name} is up`);
    t.equal(b.failures, 0, `${b.name}: no failure counted`);
    t.equal(b.circuit, 'closed', `${b.name}: circuit closed`);
  }
  t.equal(lb.logsMatching((l) => l.msg === 'backend down').length, 0, 'no "backend down" line');
  t.equal(lb.logsMatching((l) => l.msg === 'panic').length, 0, 'no "panic" line');
}

/** This process's descriptor limits (RLIMIT_NOFILE), from /proc/self/limits; 0 = unlimited or unknown. */
export function ownNofile(): { soft: number; hard: number } {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const n = (v: string | undefined): number => (v === undefined || v === 'unlimited' ? 0 : Number(v));
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

/**
 * Raise this process's descriptor limit (soft and hard) to at least `want`,
 * with `prlimit --pid` on itself: above the hard limit only as root, else up
 * to the hard limit. Children spawned afterwards inherit it. Returns the soft
 * limit now, which may be below `want`: size the test by it.
 */
export function raiseOwnNofile(want: number): number {
  const before = ownNofile();
  if (before.soft === 0 || before.soft >= want) return before.soft || want;
  const attempts = [`--nofile=${want}:${Math.max(want, before.hard)}`, `--nofile=${before.hard}:${before.hard}`];
  for (const a of attempts) {
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), a], { stdio: 'ignore' });
      break;
    } catch {
      // not allowed (not root) or no prlimit: the next, smaller step
    }
  }
  return ownNofile().soft;
}

/** What `watchAdmin` saw. */
export interface AdminWatch {
  /** answers with status 200 */
  answers: number;
  /** requests that failed or answered another status */
  failures: number;
  /** the slowest answer, ms */
  maxMs: number;
  /** the first failure, for messages */
  firstFailure?: string;
}

/**
 * Ask `GET path` (default /stats) of the admin server at 127.0.0.1:`port`
 * again and again (a fresh connection each time, `everyMs` apart) until the
 * returned `stop()` is called: does lb4 answer while something else runs,
 * and how slowly? `stop()` waits for the request under way; call it in the
 * test's teardown too (a failed test must not leave it running).
 */
export function watchAdmin(port: number, everyMs = 100, path = '/stats'): { stop(): Promise<AdminWatch> } {
  const w: AdminWatch = { answers: 0, failures: 0, maxMs: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      const ok = await new Promise<boolean>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 30_000 }, (res) => {
          res.resume();
          res.once('end', () => resolve(res.statusCode === 200));
          res.once('error', () => resolve(false));
        });
        req.once('timeout', () => req.destroy(new Error('no answer in 30 s')));
        req.once('error', (e) => {
          w.firstFailure ??= e.message;
          resolve(false);
        });
      });
      const ms = performance.now() - t0;
      if (ok) w.answers++;
      else w.failures++;
      if (ms > w.maxMs) w.maxMs = ms;
      if (running) await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return w;
    },
  };
}

/**
 * Poll `read` every `everyMs` until its value has moved by at most
 * `tolerance` for `quietMs` (a settled RSS, a settled descriptor count);
 * returns that last value. Rejects after `timeoutMs`.
 */
export async function steady(read: () => number, opts: { quietMs: number; tolerance: number; timeoutMs: number; everyMs?: number; what: string }): Promise<number> {
  const end = Date.now() + opts.timeoutMs;
  const every = opts.everyMs ?? 250;
  let since = Date.now();
  let lo = read();
  let hi = lo;
  for (;;) {
    await new Promise((r) => setTimeout(r, every));
    const v = read();
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
    if (hi - lo > opts.tolerance) {
      since = Date.now();
      lo = hi = v;
    } else if (Date.now() - since >= opts.quietMs) {
      return v;
    }
    if (Date.now() > end) throw new Error(`${opts.what} did not settle within ${opts.timeoutMs} ms (last ${v})`);
  }
}

/** How a client leaves during its TLS handshake. */
export type HandshakeLeave = 'silent' | 'half' | 'full' | 'reset';
export const HANDSHAKE_LEAVES: readonly HandshakeLeave[] = ['silent', 'half', 'full', 'reset'];

/**
 * One client that leaves during its TLS handshake: sends nothing, half of
 * `hello` (a captured ClientHello), or all of it, then its FIN; or 40 bytes
 * and a reset. `prefix` (a PROXY header) goes first. Resolves once the
 * connection is closed on both sides: for a FIN, only when lb4 has closed
 * its end too.
 */
export function handshakeLeaver(port: number, kind: HandshakeLeave, hello: Buffer, prefix?: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => {});
    s.on('close', () => resolve());
    s.resume(); // read what lb4 answers (a ServerHello...), so that its FIN is seen
    s.once('connect', () => {
      if (prefix) s.write(prefix);
      if (kind === 'reset') {
        s.write(hello.subarray(0, 40));
        setImmediate(() => s.resetAndDestroy());
        return;
      }
      if (kind === 'half') s.write(hello.subarray(0, hello.length >> 1));
      else if (kind === 'full') s.write(hello);
      s.end();
    });
  });
}

/**
 * Run `n` handshake leavers, the four kinds in turn, at most `parallel` at
 * once; rejects when they are not all closed within `timeoutMs`.
 */
export async function handshakeStorm(port: number, n: number, hello: Buffer, timeoutMs: number, prefix?: Buffer, parallel = 200): Promise<void> {
  let next = 0;
  let closed = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      await handshakeLeaver(port, HANDSHAKE_LEAVES[i % HANDSHAKE_LEAVES.length]!, hello, prefix);
      closed++;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`only ${closed} of ${n} clients were closed by lb4 within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([Promise.all(Array.from({ length: Math.min(parallel, n) }, worker)), late]);
  } finally {
    clearTimeout(timer);
  }
}
