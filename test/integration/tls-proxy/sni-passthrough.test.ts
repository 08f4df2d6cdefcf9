/**
 * TLS passthrough with SNI routing: a listener without a certificate and a
 * config `sni:` map peeks the ClientHello, routes by server name (exact,
 * `*.suffix`, else the default pool) and forwards the untouched bytes; the
 * backends terminate TLS with their own certificate. Covers openssl
 * s_client and Node clients, a hello written one byte at a time, a hello
 * larger than one TCP segment, PROXY header + passthrough, and garbage.
 */
import t from 'tap';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCerts } from '../../helpers/certs.js';
import { attachHelpers, connect, tlsConnect } from '../../helpers/clients.js';
import { getJson } from '../../helpers/admin.js';
import { withLb4, type Lb4Process, type LogLine } from '../../helpers/lb4.js';
import { captureClientHello, tlsNamedBackend } from '../../helpers/tls-proxy.js';

/** The access-log line of the client whose local port was `localPort`. */
function accessOf(lb: Lb4Process, localPort: number): Promise<LogLine> {
  const client = `127.0.0.1:${localPort}`;
  return lb.waitForLog((l) => l.msg === 'connection' && l.client === client, 15_000);
}

/** A Duplex over `raw` that writes its first `slowBytes` bytes one at a time. */
function byteByByte(raw: net.Socket, slowBytes: number): Duplex {
  let left = slowBytes;
  const d = new Duplex({
    read() {
      raw.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      const go = async (): Promise<void> => {
        let i = 0;
        while (i < chunk.length && left > 0) {
          raw.write(chunk.subarray(i, i + 1));
          i++;
          left--;
          await new Promise((r) => setTimeout(r, 1));
        }
        if (i < chunk.length) raw.write(chunk.subarray(i));
      };
      go().then(() => cb(), cb);
    },
    final(cb) {
      raw.end();
      cb();
    },
  });
  raw.on('data', (b: Buffer) => {
    if (!d.push(b)) raw.pause();
  });
  raw.on('end', () => d.push(null));
  raw.on('error', (e) => d.destroy(e));
  return d;
}

t.test('SNI passthrough', async (t) => {
  const certs = await makeCerts({ names: ['a.test', 'b.test', 'x.b.test', 'other.test'] });
  t.teardown(() => certs.cleanup());
  const A = await tlsNamedBackend('A', certs);
  const B = await tlsNamedBackend('B', certs);
  const D = await tlsNamedBackend('D', certs);
  t.teardown(() => Promise.all([A.close(), B.close(), D.close()]));
  const dir = mkdtempSync(join(tmpdir(), 'lb4-sni-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'lb4.yaml');
  writeFileSync(cfg, [
    'pools:',
    `  a: {backends: ["${A.address},name=A"]}`,
    `  b: {backends: ["${B.address},name=B"]}`,
    `  fallback: {backends: ["${D.address},name=D"]}`,
    'defaultPool: fallback',
    'sni:',
    '  a.test: a',
    '  b.test: b',
    '  "*.b.test": b',
    '',
  ].join('\n'));
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--config', cfg, '--access-log', '--accept-proxy-from', '127.0.0.0/8', '--health-check', 'off', '--peek-timeout', '10s']); // long: the byte-by-byte hellos below must fit in it on a loaded machine
  const port = lb.ports[0]!;
  t.equal(lb.listening[0]!.tls, false, 'passthrough: lb4 does not terminate');

  for (const [name, want] of [['a.test', 'A'], ['b.test', 'B'], ['x.b.test', 'B'], ['other.test', 'D']] as const) {
    t.test(`Node client, SNI ${name} → ${want}`, async (t) => {
      const c = await tlsConnect(port, { ca: certs.ca, servername: name });
      t.teardown(() => c.destroy());
      t.equal(c.authorized, true, "the backend's own certificate, verified end to end");
      t.equal(await c.readLine(), want);
      c.write('echo me\n');
      t.equal(await c.readLine(), 'echo me');
    });
  }

  t.test('a long passthrough session moves to the native relay and goes on', async (t) => {
    const relay = async (): Promise<{ mode: string; tunnels: number; reason?: string }> => (await getJson(lb.adminPort!, '/stats')).json.relay;
    const r0 = await relay();
    if (r0.mode !== 'native') {
      t.pass('hand-over to the native relay', { skip: `the native relay is not in use here (${r0.reason})` });
      return;
    }
    const c = await tlsConnect(port, { ca: certs.ca, servername: 'a.test' });
    t.teardown(() => c.destroy());
    t.equal(await c.readLine(), 'A');
    // handed over once the tunnel is a second old (src/l4/relay.ts)
    const end = Date.now() + 20_000;
    let r = r0;
    while (r.tunnels < 1 && Date.now() < end) {
      await new Promise((res) => setTimeout(res, 50));
      r = await relay();
    }
    t.equal(r.tunnels, 1, 'the relay carries the TLS bytes it does not decrypt');
    c.write('after the hand-over\n');
    t.equal(await c.readLine(), 'after the hand-over', 'the TLS session goes on, end to end');
    c.end();
    await c.waitClose();
  });

  t.test('no SNI at all → default pool', async (t) => {
    const c = await tlsConnect(port, { ca: certs.ca, servername: '127.0.0.1' });
    t.teardown(() => c.destroy());
    t.equal(await c.readLine(), 'D');
  });

  t.test('openssl s_client -servername a.test', async (t) => {
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'a.test', '-quiet', '-CAfile', certs.ca, '-verify_return_error'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const killer = setTimeout(() => p.kill('SIGKILL'), 10_000);
    t.teardown(() => {
      clearTimeout(killer);
      p.kill('SIGKILL');
    });
    p.stdin.on('error', () => {});
    let out = '';
    const first = await new Promise<string>((resolve) => {
      p.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('\n')) resolve(out.split('\n')[0]!);
      });
    });
    t.equal(first, 'A');
    p.stdin.end();
  });

  t.test('a ClientHello written one byte at a time (a real handshake)', async (t) => {
    const raw = net.connect({ port, host: '127.0.0.1', noDelay: true });
    await new Promise((r) => raw.once('connect', r));
    const c = tls.connect({ socket: byteByByte(raw, 4096), servername: 'b.test', ca: readFileSync(certs.ca) });
    t.teardown(() => {
      c.destroy();
      raw.destroy();
    });
    const s = attachHelpers(c);
    await new Promise((resolve, reject) => {
      c.once('secureConnect', resolve);
      c.once('error', reject);
    });
    t.equal(await s.readLine(), 'B');
  });

  t.test('a captured ClientHello, byte by byte over a raw socket', async (t) => {
    const hello = await captureClientHello('a.test');
    const c = await connect(port);
    const lp = c.localPort!;
    t.teardown(() => c.destroy());
    for (const b of hello) {
      c.write(Buffer.from([b]));
      await new Promise((r) => setTimeout(r, 1));
    }
    const reply = await c.readBytes(5);
    t.equal(reply[0], 22, 'the backend answered with a TLS handshake record (ServerHello)');
    const l = accessOf(lb, lp);
    c.destroy();
    t.equal((await l).backend, 'A', 'routed by the reassembled hello');
    t.equal((await l).bytes_in, hello.length, 'every hello byte was forwarded and counted');
  });

  t.test('a hello larger than one TCP segment', async (t) => {
    const big = await captureClientHello('a.test', { big: true });
    t.ok(big.length > 1500, `captured hello is ${big.length} bytes`);
    const c = await tlsConnect(port, { ca: certs.ca, servername: 'a.test', ALPNProtocols: Array.from({ length: 300 }, (_, i) => `proto-${i}-padding`) });
    t.teardown(() => c.destroy());
    t.equal(await c.readLine(), 'A');
  });

  t.test('PROXY header before the ClientHello', async (t) => {
    t.pass('(listener without --accept-proxy: a PROXY line is not TLS)');
    const c = await connect(port);
    const lp = c.localPort!;
    t.teardown(() => c.destroy());
    c.write('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n');
    await c.waitClose();
    t.equal((await accessOf(lb, lp)).end, 'tls-error');
  });

  for (const [what, bytes] of [['HTTP', 'GET / HTTP/1.1\r\nHost: a.test\r\n\r\n'], ['random garbage', '\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00']] as const) {
    t.test(`${what} instead of a ClientHello: closed, tls-error`, async (t) => {
      const c = await connect(port);
      const lp = c.localPort!;
      t.teardown(() => c.destroy());
      c.write(Buffer.from(bytes, 'latin1'));
      await c.waitClose();
      const l = await accessOf(lb, lp);
      t.equal(l.end, 'tls-error');
      t.equal(l.backend, null);
    });
  }

  t.test('silence: closed after --peek-timeout', async (t) => {
    const c = await connect(port);
    const lp = c.localPort!;
    t.teardown(() => c.destroy());
    c.write('\x16\x03');
    await c.waitClose(15_000);
    t.equal((await accessOf(lb, lp)).end, 'tls-error');
  });
});

t.test('SNI passthrough behind a PROXY header (--accept-proxy)', async (t) => {
  const certs = await makeCerts({ names: ['a.test'] });
  t.teardown(() => certs.cleanup());
  const A = await tlsNamedBackend('A', certs);
  const D = await tlsNamedBackend('D', certs);
  t.teardown(() => Promise.all([A.close(), D.close()]));
  const dir = mkdtempSync(join(tmpdir(), 'lb4-sni-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'lb4.yaml');
  writeFileSync(cfg, ['pools:', `  a: {backends: ["${A.address},name=A"]}`, `  d: {backends: ["${D.address},name=D"]}`, 'defaultPool: d', 'sni:', '  a.test: a', ''].join('\n'));
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--config', cfg, '--accept-proxy', '--access-log', '--health-check', 'off']);
  const raw = net.connect({ port: lb.ports[0]!, host: '127.0.0.1' });
  await new Promise((r) => raw.once('connect', r));
  raw.write('PROXY TCP4 192.0.2.44 192.0.2.1 1234 443\r\n');
  const c = attachHelpers(tls.connect({ socket: raw, servername: 'a.test', ca: readFileSync(certs.ca) }));
  t.teardown(() => c.destroy());
  t.equal(await c.readLine(), 'A');
  c.end();
  await c.waitClose();
  const l = await lb.waitForLog((x) => x.msg === 'connection');
  t.equal(l.client_ip, '192.0.2.44');
  t.equal(l.backend, 'A');
});
