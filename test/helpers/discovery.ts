/**
 * Shared by the discovery tests (test/integration/discovery/): named
 * backends on several loopback addresses and one port (what a `dns:HOST:PORT`
 * source finds), and small traffic probes through lb4.
 */
import { namedBackend, type NamedBackend } from './backends.js';
import { nameOf } from './l4-e2e.js';

export interface Host {
  teardown(fn: () => unknown): void;
}

/**
 * One named backend per address, all on the same port (the first one's
 * free port), closed in teardown. `names[i]` listens on `ips[i]`.
 */
export async function samePortBackends(t: Host, ips: string[], names: string[]): Promise<{ port: number; backends: NamedBackend[] }> {
  for (let attempt = 0; ; attempt++) {
    const out: NamedBackend[] = [];
    try {
      const first = await namedBackend(names[0]!, { host: ips[0]! });
      out.push(first);
      for (let i = 1; i < ips.length; i++) out.push(await namedBackend(names[i]!, { host: ips[i]!, port: first.port }));
      for (const b of out) t.teardown(() => b.close());
      return { port: first.port, backends: out };
    } catch (err) {
      // the port was taken on another address: try another one
      for (const b of out) await b.close();
      if (attempt >= 5) throw err;
    }
  }
}

/** The name of the backend one connection through lb4 reaches, or null when lb4 closes it without one. */
export async function reach(port: number, localAddress?: string): Promise<string | null> {
  try {
    return await nameOf(port, localAddress);
  } catch {
    return null;
  }
}

/** `n` connections one after the other; the names reached. */
export async function reachMany(port: number, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await reach(port)) ?? '-');
  return out;
}

/** Poll until `pred(await probe())` holds; returns the last value; rejects after `timeoutMs`. */
export async function until<T>(probe: () => Promise<T>, pred: (v: T) => boolean, timeoutMs: number, what: string, everyMs = 20): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await probe();
    if (pred(last)) return last;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
