/**
 * Looking at an lb4 process from outside, for the edge tests (hostile or
 * broken clients, resource exhaustion): its open descriptors, its CPU time,
 * the sockets the kernel keeps for its port, and a bounded poll for
 * conditions that have no event to wait on (they live in /proc).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

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
