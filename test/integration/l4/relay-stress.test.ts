/**
 * 2,000 tunnels at once on the native relay, through bin/lb4 to an echo
 * backend: every tunnel is handed over (the relay carries all 2,000 at the
 * same time), then each sends its own payload (uneven sizes, 1 KB to 61 KB,
 * and one in a hundred 1 MiB, which moves to splice) and half-closes. Each
 * echo must come back whole (sha256), and the accounting must be exact:
 * each access-log line's bytes_in/bytes_out, the backend's /stats totals,
 * and the relay's total. make test-native-asan runs it against the
 * sanitizer build too.
 */
import t from 'tap';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { echoBackend } from '../../helpers/backends.js';
import { getJson } from '../../helpers/admin.js';
import { withLb4 } from '../../helpers/lb4.js';
import { waitAccess, within } from '../../helpers/l4-e2e.js';

const N = 2000;
const BATCH = 200;
const HELLO = 5;

function sizeOf(i: number): number {
  return i % 100 === 7 ? 1 << 20 : 1000 + ((i * 7919) % 60_000);
}

t.test('2,000 concurrent tunnels on the native relay: sha256 and exact byte counts', { skip: process.platform !== 'linux' ? 'the native relay is Linux only' : false }, async (t) => {
  const echo = await echoBackend();
  t.teardown(() => echo.close());
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', '--access-log', '--backend', `${echo.address},name=echo`]);
  const port = lb.ports[0]!;
  const started = Date.now();

  // N open connections, each with a few bytes echoed (so every one is a running tunnel)
  const socks: net.Socket[] = [];
  const ports = new Map<net.Socket, number>();
  t.teardown(() => {
    for (const s of socks) s.destroy();
  });
  for (let i = 0; i < N; i += BATCH) {
    await Promise.all(
      Array.from({ length: Math.min(BATCH, N - i) }, async () => {
        const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
        socks.push(s);
        s.on('error', () => {});
        await once(s, 'connect');
        ports.set(s, s.localPort!);
        s.write('hello');
        let got = 0;
        while (got < HELLO) {
          const [d] = (await once(s, 'data')) as [Buffer];
          got += d.length;
        }
      }),
    );
  }
  // every tunnel goes to the relay within a second or two of being opened
  const deadline = Date.now() + 30_000;
  let relay = (await getJson(lb.adminPort!, '/stats')).json.relay;
  while (relay.tunnels < N && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    relay = (await getJson(lb.adminPort!, '/stats')).json.relay;
  }
  t.equal(relay.mode, 'native');
  t.equal(relay.tunnels, N, `the relay carries all ${N} tunnels at once`);
  const opened = Date.now();

  // one shared random source; tunnel i sends the slice at its own offset
  const source = randomBytes(2 << 20);
  let total = 0;
  const results = await within(
    Promise.all(
      socks.map(async (s, i) => {
        const size = sizeOf(i);
        total += size;
        const off = (i * 4099) % (source.length - size);
        const sent = source.subarray(off, off + size);
        const inHash = createHash('sha256');
        let received = 0;
        const done = new Promise<void>((resolve, reject) => {
          s.on('data', (d: Buffer) => {
            inHash.update(d);
            received += d.length;
          });
          s.once('end', resolve);
          s.once('close', () => reject(new Error(`tunnel ${i}: closed before its echo ended (${received}/${size})`)));
        });
        for (let o = 0; o < size; o += 65536) {
          if (!s.write(sent.subarray(o, Math.min(size, o + 65536)))) await once(s, 'drain');
        }
        s.end();
        await done;
        return { port: ports.get(s)!, size, ok: received === size && inHash.digest('hex') === createHash('sha256').update(sent).digest('hex') };
      }),
    ),
    90_000,
    `${N} echoes`,
  );
  const exchanged = Date.now();
  const bad = results.filter((r) => !r.ok);
  t.equal(bad.length, 0, `every echo came back whole, sha256 equal (${bad.length} not)`);

  const lines = await waitAccess(lb, N, 30_000);
  const byPort = new Map<number, (typeof lines)[number]>();
  for (const l of lines) byPort.set(Number(String(l.client).split(':').pop()), l);
  let exact = 0;
  const wrong: string[] = [];
  for (const r of results) {
    const l = byPort.get(r.port);
    if (l && l.bytes_in === HELLO + r.size && l.bytes_out === HELLO + r.size && l.end === 'client-close' && l.backend === 'echo') exact++;
    else if (wrong.length < 5) wrong.push(`${r.port} sent ${HELLO + r.size}: ${JSON.stringify(l)}`);
  }
  t.equal(exact, N, `each access-log line: bytes_in = bytes_out = what that client sent, end client-close${wrong.length ? `\n${wrong.join('\n')}` : ''}`);
  const st = (await getJson(lb.adminPort!, '/stats')).json;
  const b = st.backends[0];
  t.equal(b.bytes_in, N * HELLO + total, `/stats bytes_in is the sum (${N * HELLO + total})`);
  t.equal(b.bytes_out, N * HELLO + total, '/stats bytes_out is the sum');
  t.equal(b.active, 0, 'no tunnel left');
  t.equal(st.relay.total, N, 'the relay carried each tunnel');
  t.equal(st.relay.tunnels, 0, 'and carries none now');
  t.comment(`open+hand-over ${opened - started} ms, ${((2 * (N * HELLO + total)) / 1048576).toFixed(0)} MiB echoed in ${exchanged - opened} ms`);
});
