/**
 * State belongs to instances (docs/architecture.md): two balancers created
 * in one process through the library API share nothing — not counters, end
 * reasons, latency, the native relay's counts, metrics registries, pools,
 * reloads or the shutdown — while both serve real sockets.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { configFrom, createBalancer, createLoggers } from '../../../src/index.js';
import type { Balancer } from '../../../src/index.js';
import { echoBackend } from '../../helpers/backends.js';
import { connect } from '../../helpers/clients.js';
import { getJson } from '../../helpers/admin.js';

/** Loggers that keep their lines (not on stdout, where tap reads its protocol). */
function quietLoggers(): { loggers: ReturnType<typeof createLoggers>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l.length > 0));
      cb();
    },
  });
  return { loggers: createLoggers('info', sink), lines };
}

async function roundTrip(port: number, bytes: number): Promise<void> {
  const c = await connect(port);
  const payload = Buffer.alloc(bytes, 0x61);
  c.write(payload);
  await c.readBytes(bytes, 20_000);
  c.end();
  await c.readUntilEnd(20_000);
}

/** Poll `fn` until it holds (generous bound for a loaded machine). */
async function until(fn: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('two balancers in one process share nothing', async (t) => {
  const backendA = await echoBackend();
  const backendB = await echoBackend();
  t.teardown(() => Promise.all([backendA.close(), backendB.close()]));
  const logA = quietLoggers();
  const logB = quietLoggers();
  const a: Balancer = createBalancer(
    configFrom({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', backends: [`${backendA.address}`], healthCheck: 'off', accessLog: true, drainTimeout: '5s' }),
    { loggers: logA.loggers },
  );
  const b: Balancer = createBalancer(
    configFrom({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', backends: [`${backendB.address}`], healthCheck: 'off', accessLog: true, strategy: 'least-connections', drainTimeout: '5s' }),
    { loggers: logB.loggers },
  );
  await a.start();
  await b.start();
  let aStopped = false;
  t.teardown(async () => {
    if (!aStopped) await a.shutdown();
    await b.shutdown();
  });

  // Traffic through A only: three short connections and one long enough
  // (past the 1 s sweep) to go to the native relay where it is built.
  for (let i = 0; i < 3; i++) await roundTrip(a.ports[0]!, 1000);
  const long = await connect(a.ports[0]!);
  long.write('x');
  await long.readBytes(1);
  const relayOn = a.stats().relay.mode === 'native';
  if (relayOn) await until(() => a.stats().relay.tunnels === 1, 'the long tunnel on the relay');
  long.end();
  await long.readUntilEnd(20_000);
  await until(() => a.stats().connections.active === 0, 'A idle');

  const sa = a.stats();
  const sb = b.stats();
  t.equal(sa.connections.total, 4, 'A counted its four connections');
  t.equal(sb.connections.total, 0, 'B counted none');
  t.equal(sa.ends['client-close'], 4, 'A ended four with client-close');
  t.equal(sb.ends['client-close'], 0, 'B ended none');
  t.equal(sa.backends[0]!.total, 4);
  t.equal(sb.backends[0]!.total, 0, "B's backend untouched");
  t.equal(sb.backends[0]!.bytes_in, 0);
  t.equal(sa.strategy, 'round-robin');
  t.equal(sb.strategy, 'least-connections', 'each has its own strategy');
  if (relayOn) {
    t.equal(sa.relay.total, 1, "A's tunnel went to the relay");
    t.equal(sb.relay.total, 0, "the relay's counts are per balancer");
  }
  t.equal(logA.lines.filter((l) => l.includes('"msg":"connection"')).length, 4, "A's access log has its four lines");
  t.equal(logB.lines.filter((l) => l.includes('"msg":"connection"')).length, 0, "B's log has none of them");

  // each has its own metrics registry
  const ma = (await getJson(a.adminPort!, '/metrics')).body;
  const mb = (await getJson(b.adminPort!, '/metrics')).body;
  t.match(ma, /^lb4_connections_total 4$/m, "A's metrics");
  t.match(mb, /^lb4_connections_total 0$/m, "B's metrics");

  // reloading A (another backend) leaves B alone
  const backendC = await echoBackend();
  t.teardown(() => backendC.close());
  a.reload(configFrom({ listen: '127.0.0.1:0', admin: '127.0.0.1:0', backends: [`${backendC.address},name=c`], healthCheck: 'off', accessLog: true, drainTimeout: '5s' }));
  t.same(a.stats().backends.map((x) => x.name), ['c'], 'A follows its new config');
  t.same(b.stats().backends.map((x) => x.address), [backendB.address], 'B keeps its backends');

  // stopping A leaves B serving
  await a.shutdown();
  aStopped = true;
  await roundTrip(b.ports[0]!, 500);
  t.equal(b.stats().connections.total, 1, 'B still serves after A stopped');
});
