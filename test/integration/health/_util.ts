/**
 * Small helpers shared by the health integration tests (not a test file:
 * the name does not end in .test.ts).
 */
import { once } from 'node:events';
import type { TestBackend } from '../../helpers/backends.js';
import { connect } from '../../helpers/clients.js';
import { getJson } from '../../helpers/admin.js';

/** The health flags every test uses unless it says otherwise. */
export const FAST_CHECKS = ['--health-interval', '100ms', '--health-timeout', '200ms', '--rise', '2', '--fall', '2'];

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Listen again on the backend's own port after `close()` (a backend coming
 * back). The helper's tracking (accepted, sockets) keeps working.
 */
export async function relisten(b: TestBackend): Promise<void> {
  b.server.listen(b.port, b.host);
  await once(b.server, 'listening');
}

/** Stop listening and drop open sockets; safe whether listening or not (teardown after relisten). */
export function stopServer(b: TestBackend): Promise<void> {
  return new Promise<void>((resolve) => {
    for (const s of b.sockets) s.destroy();
    if (!b.server.listening) return resolve();
    b.server.close(() => resolve());
  });
}

/**
 * One client connection through lb4 to a named backend: returns the name
 * the backend wrote first, or null when lb4 closed the client without one.
 */
export async function hit(port: number, timeoutMs = 15_000): Promise<string | null> {
  const c = await connect(port, '127.0.0.1', { timeoutMs });
  try {
    return await c.readLine(timeoutMs);
  } catch {
    return null;
  } finally {
    c.destroy();
  }
}

/** `n` sequential hits; returns the names (null = not served). */
export async function hits(port: number, n: number): Promise<Array<string | null>> {
  const out: Array<string | null> = [];
  for (let i = 0; i < n; i++) out.push(await hit(port));
  return out;
}

export function count<T>(list: readonly T[], v: T): number {
  return list.filter((x) => x === v).length;
}

/** The /stats entry of backend `name`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function backendStats(adminPort: number, name: string): Promise<any> {
  const r = await getJson(adminPort, '/stats');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const b = (r.json.backends as any[]).find((x) => x.name === name);
  if (!b) throw new Error(`no backend ${name} in /stats: ${r.body}`);
  return b;
}

/** Poll /stats until `pred` holds for backend `name` (admin reads only; bounded). */
export async function waitForStats(
  adminPort: number,
  name: string,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  pred: (b: any) => boolean,
  timeoutMs = 15_000,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
): Promise<any> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const b = await backendStats(adminPort, name);
    if (pred(b)) return b;
    if (Date.now() > end) throw new Error(`timed out waiting on /stats for ${name}: ${JSON.stringify(b)}`);
    await sleep(25);
  }
}
