import t, { type Test } from 'tap';
import net from 'node:net';
import tls from 'node:tls';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  parseClientHello,
  matchServerName,
  SniRouter,
  type ClientHelloResult,
  type ClientHelloOk,
} from '../../src/l4/sni.js';
import { prng } from '../helpers/random.js';

// ---------------------------------------------------------------- helpers

/**
 * Length of the records carrying the first handshake message, by walking
 * record headers only (independent of the parser under test), or -1.
 */
function recordsLength(buf: Buffer): number {
  let off = 0;
  let got = 0;
  const hdr: number[] = [];
  let need = -1;
  while (off + 5 <= buf.length) {
    const len = buf.readUInt16BE(off + 3);
    const end = off + 5 + len;
    if (end > buf.length) return -1;
    for (let i = off + 5; i < end; i++) {
      if (hdr.length < 4) hdr.push(buf[i]!);
      got++;
    }
    if (need < 0 && hdr.length === 4) need = 4 + ((hdr[1]! << 16) | (hdr[2]! << 8) | hdr[3]!);
    if (need >= 0 && got >= need) return end;
    off = end;
  }
  return -1;
}

/** A net.Server on 127.0.0.1:0 that resolves with the first hello's records. */
async function captureFrom(connect: (port: number) => () => void): Promise<Buffer> {
  const server = net.createServer();
  const sockets = new Set<net.Socket>();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  let stop: (() => void) | undefined;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ClientHello within 5s')), 5000);
      server.on('connection', (s) => {
        sockets.add(s);
        s.on('error', () => {});
        const chunks: Buffer[] = [];
        s.on('data', (d: Buffer) => {
          chunks.push(d);
          const all = Buffer.concat(chunks);
          const end = recordsLength(all);
          if (end > 0) {
            clearTimeout(timer);
            resolve(all.subarray(0, end));
          }
        });
      });
      stop = connect(port);
    });
  } finally {
    stop?.();
    for (const s of sockets) s.destroy();
    server.close();
  }
}

function captureNode(opts: tls.ConnectionOptions): Promise<Buffer> {
  return captureFrom((port) => {
    const c = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...opts });
    c.on('error', () => {});
    return () => c.destroy();
  });
}

function handshakeMessage(records: Buffer): Buffer {
  const parts: Buffer[] = [];
  let off = 0;
  while (off + 5 <= records.length) {
    const len = records.readUInt16BE(off + 3);
    parts.push(records.subarray(off + 5, off + 5 + len));
    off += 5 + len;
  }
  return Buffer.concat(parts);
}

/** Wrap a handshake message into handshake records of at most `size` bytes. */
function toRecords(msg: Buffer, size: number, version = 0x0301): Buffer {
  const out: Buffer[] = [];
  for (let i = 0; i < msg.length; i += size) {
    const frag = msg.subarray(i, Math.min(i + size, msg.length));
    const h = Buffer.alloc(5);
    h[0] = 22;
    h.writeUInt16BE(version, 1);
    h.writeUInt16BE(frag.length, 3);
    out.push(h, frag);
  }
  return Buffer.concat(out);
}

/** Offsets inside a single-record ClientHello (record header included). */
function layout(hello: Buffer) {
  let p = 5 + 4 + 2 + 32;
  const sid = p;
  p += 1 + hello[p]!;
  const cs = p;
  p += 2 + hello.readUInt16BE(p);
  const cm = p;
  p += 1 + hello[p]!;
  const ext = p;
  const exts = new Map<number, number>(); // type -> offset of its header
  p += 2;
  while (p + 4 <= hello.length) {
    exts.set(hello.readUInt16BE(p), p);
    p += 4 + hello.readUInt16BE(p + 2);
  }
  return { sid, cs, cm, ext, exts };
}

/** Add an extension at the end of a (single-message) hello and fix the lengths. */
function withExtension(msg: Buffer, type: number, data: Buffer): Buffer {
  const ext = Buffer.alloc(4);
  ext.writeUInt16BE(type, 0);
  ext.writeUInt16BE(data.length, 2);
  const out = Buffer.concat([msg, ext, data]);
  const body = out.length - 4;
  out[1] = (body >> 16) & 0xff;
  out.writeUInt16BE(body & 0xffff, 2);
  const { ext: extOff } = layout(Buffer.concat([Buffer.alloc(5), out]));
  out.writeUInt16BE(out.length - (extOff - 5) - 2, extOff - 5);
  return out;
}

const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const vec8 = (b: Buffer) => Buffer.concat([Buffer.from([b.length]), b]);
const vec16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);
const ext = (type: number, data: Buffer) => Buffer.concat([u16(type), vec16(data)]);
const sniExt = (...names: Array<string | Buffer>) =>
  ext(0, vec16(Buffer.concat(names.map((n) => Buffer.concat([Buffer.from([0]), vec16(Buffer.from(n as string, 'latin1'))])))));
const alpnExt = (...protos: string[]) => ext(16, vec16(Buffer.concat(protos.map((p) => vec8(Buffer.from(p))))));
const versionsExt = (...v: number[]) => ext(43, vec8(Buffer.concat(v.map(u16))));

/** A synthetic ClientHello record (or records) with the given extensions block. */
function buildHello(exts: Buffer[] | null, recordSize = 16384): Buffer {
  const body = Buffer.concat([
    u16(0x0303),
    Buffer.alloc(32, 7),
    vec8(Buffer.alloc(32, 1)),
    vec16(Buffer.from([0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f])),
    vec8(Buffer.from([0])),
    exts === null ? Buffer.alloc(0) : vec16(Buffer.concat(exts)),
  ]);
  const hdr = Buffer.from([1, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff]);
  return toRecords(Buffer.concat([hdr, body]), recordSize);
}

function ok(t: Tap, r: ClientHelloResult): ClientHelloOk {
  t.equal(r.status, 'ok', `ok: ${'reason' in r ? r.reason : ''}`);
  return r as ClientHelloOk;
}
type Tap = Pick<Test, 'equal'>;

function safeParse(buf: Buffer, max?: number): ClientHelloResult {
  try {
    return parseClientHello(buf, max);
  } catch (err) {
    return { status: 'error', reason: `THREW ${String(err)}` };
  }
}

// ---------------------------------------------------------------- real hellos

const nodeHello = await captureNode({ servername: 'a.test', ALPNProtocols: ['h2', 'http/1.1'] });
const nodeHelloNoSni = await captureNode({ servername: '', ALPNProtocols: ['http/1.1'] });

t.test('Node client hello: SNI, ALPN, versions', async (t) => {
  const r = ok(t, parseClientHello(nodeHello));
  t.equal(r.serverName, 'a.test');
  t.same(r.alpn, ['h2', 'http/1.1']);
  t.ok(r.tlsVersions?.includes(0x0304), 'offers TLS 1.3');
  t.equal(r.length, nodeHello.length);
  // Bytes after the hello do not change the answer.
  t.same(parseClientHello(Buffer.concat([nodeHello, Buffer.from('trailing')])), r);
});

t.test('byte by byte: incomplete until the last byte, then the same result', async (t) => {
  const full = parseClientHello(nodeHello);
  let early = 0;
  for (let i = 0; i < nodeHello.length; i++) {
    if (parseClientHello(nodeHello.subarray(0, i)).status !== 'incomplete') early++;
  }
  t.equal(early, 0, 'every proper prefix is incomplete');
  t.same(parseClientHello(nodeHello.subarray(0, nodeHello.length)), full);
});

t.test('no servername, connected to an IP: serverName null', async (t) => {
  const r = ok(t, parseClientHello(nodeHelloNoSni));
  t.equal(r.serverName, null);
  t.same(r.alpn, ['http/1.1']);
});

t.test('hello spanning 100-byte records', async (t) => {
  const msg = handshakeMessage(nodeHello);
  const split = toRecords(msg, 100);
  t.ok(split.length >= nodeHello.length + 5 * 2, `${Math.ceil(msg.length / 100)} records`);
  const r = ok(t, parseClientHello(split));
  t.equal(r.serverName, 'a.test');
  t.same(r.alpn, ['h2', 'http/1.1']);
  t.equal(r.length, split.length);
  for (let i = 0; i < split.length; i++) {
    if (parseClientHello(split.subarray(0, i)).status !== 'incomplete') {
      t.fail(`prefix ${i} not incomplete`);
      break;
    }
  }
  // Even the 4-byte handshake header fragmented over records.
  const tiny = toRecords(msg, 1);
  t.equal(ok(t, parseClientHello(tiny, 65536)).serverName, 'a.test');
});

t.test('hello over 5000 bytes with a padding extension', async (t) => {
  const msg = withExtension(handshakeMessage(nodeHello), 21, Buffer.alloc(5000));
  t.ok(msg.length > 5000);
  const one = toRecords(msg, 16384);
  let r = ok(t, parseClientHello(one));
  t.equal(r.serverName, 'a.test');
  t.equal(r.length, one.length);
  const many = toRecords(msg, 1000);
  r = ok(t, parseClientHello(many));
  t.same(r.alpn, ['h2', 'http/1.1']);
  t.equal(r.length, many.length);
  // An unknown extension type is skipped the same way.
  const unknown = toRecords(withExtension(handshakeMessage(nodeHello), 0xfe0d, Buffer.alloc(6000, 0xab)), 700);
  t.equal(ok(t, parseClientHello(unknown)).serverName, 'a.test');
  // Over maxBytes: decided from the handshake header already.
  t.equal(parseClientHello(one, 4096).status, 'error');
  t.equal(parseClientHello(one.subarray(0, 9), 4096).status, 'error');
  t.equal(parseClientHello(many.subarray(0, 12), 4096).status, 'error');
});

const openssl = spawnSync('openssl', ['version'], { stdio: 'ignore' });
t.test('openssl s_client hello', { skip: openssl.status === 0 ? false : 'openssl not available' }, async (t) => {
  const hello = await captureFrom((port) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'b.test', '-alpn', 'h2,http/1.1'], {
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    child.on('error', () => {});
    return () => { child.kill(); };
  });
  const r = ok(t, parseClientHello(hello));
  t.equal(r.serverName, 'b.test');
  t.same(r.alpn, ['h2', 'http/1.1']);
  t.ok(r.tlsVersions?.includes(0x0304));
  t.equal(r.length, hello.length);
});

// ---------------------------------------------------------------- synthetic hellos

t.test('synthetic hellos', async (t) => {
  let r = ok(t, parseClientHello(buildHello([sniExt('WWW.Example.COM'), alpnExt('h2'), versionsExt(0x0a0a, 0x0304, 0x0303)])));
  t.equal(r.serverName, 'www.example.com', 'lowercased');
  t.same(r.alpn, ['h2']);
  t.same(r.tlsVersions, [0x0a0a, 0x0304, 0x0303], 'raw, GREASE kept');

  r = ok(t, parseClientHello(buildHello(null)));
  t.same([r.serverName, r.alpn, r.tlsVersions], [null, [], undefined], 'no extensions (TLS 1.2)');
  t.notOk('tlsVersions' in r);

  t.equal(ok(t, parseClientHello(buildHello([sniExt('a.test.')]))).serverName, 'a.test', 'trailing dot dropped');
  t.equal(ok(t, parseClientHello(buildHello([sniExt('_srv.a-b.test')]))).serverName, '_srv.a-b.test');
  const label63 = 'x'.repeat(63);
  const name253 = [label63, label63, label63, 'y'.repeat(61)].join('.');
  t.equal(name253.length, 253);
  t.equal(ok(t, parseClientHello(buildHello([sniExt(name253)]))).serverName, name253);

  // Non-host_name entries are skipped.
  const other = ext(0, vec16(Buffer.concat([Buffer.from([7]), vec16(Buffer.from('x')), Buffer.from([0]), vec16(Buffer.from('c.test'))])));
  t.equal(ok(t, parseClientHello(buildHello([other]))).serverName, 'c.test');
});

t.test('synthetic errors', async (t) => {
  const bad = (name: string, exts: Buffer[]) => {
    const r = parseClientHello(buildHello(exts));
    t.equal(r.status, 'error', `${name}: ${'reason' in r ? r.reason : ''}`);
  };
  for (const n of ['a b.test', 'a..', 'a/b', 'a\u0000b', 'caf\u00e9.test', 'a..b', '.a', '..', '', 'x'.repeat(64) + '.test', 'a.'.repeat(127) + 'ab', 'a:443']) {
    bad(`bad host name ${JSON.stringify(n)}`, [sniExt(n)]);
  }
  bad('two host_names', [sniExt('a.test', 'b.test')]);
  bad('duplicate server_name', [sniExt('a.test'), sniExt('a.test')]);
  bad('empty server_name list', [ext(0, vec16(Buffer.alloc(0)))]);
  bad('server_name list length short', [ext(0, Buffer.concat([u16(3), Buffer.from([0]), vec16(Buffer.from('a.test'))]))]);
  bad('empty ALPN name', [alpnExt('h2', '')]);
  bad('empty ALPN list', [ext(16, vec16(Buffer.alloc(0)))]);
  bad('ALPN name overruns', [ext(16, vec16(Buffer.from([5, 0x68, 0x32])))]);
  bad('duplicate ALPN', [alpnExt('h2'), alpnExt('h2')]);
  bad('odd supported_versions', [ext(43, vec8(Buffer.from([3, 4, 3])))]);
  bad('empty supported_versions', [ext(43, vec8(Buffer.alloc(0)))]);
  bad('duplicate supported_versions', [versionsExt(0x0304), versionsExt(0x0304)]);
  bad('extension overruns', [Buffer.from([0xff, 0x01, 0x00, 0x09, 1, 2])]);
  bad('truncated extension header', [Buffer.from([0xff])]);

  const hello = buildHello([sniExt('a.test')]);
  const mut = (name: string, f: (b: Buffer) => void, expect = 'error') => {
    const b = Buffer.from(hello);
    f(b);
    const r = parseClientHello(b);
    t.equal(r.status, expect, `${name}: ${'reason' in r ? r.reason : ''}`);
  };
  mut('wrong handshake type', (b) => { b[5] = 2; });
  t.equal(parseClientHello(Buffer.from([22, 3, 1, 0, 50, 2])).status, 'error', 'wrong handshake type decided at byte 6');
  mut('zero-length record', (b) => { b.writeUInt16BE(0, 3); });
  mut('record over 2^14', (b) => { b.writeUInt16BE(16385, 3); });
  t.equal(parseClientHello(Buffer.from([22, 3, 1, 0x40, 0x01])).status, 'error', 'record over 2^14 decided at byte 5');
  mut('legacy_version major', (b) => { b[9] = 2; });
  mut('session id > 32', (b) => { b[5 + 4 + 34] = 33; });
  const { cs, cm } = layout(hello);
  mut('odd cipher_suites', (b) => { b.writeUInt16BE(5, cs); });
  mut('empty cipher_suites', (b) => { b.writeUInt16BE(0, cs); });
  mut('empty compression', (b) => { b[cm] = 0; });

  // A second record of another content type or version.
  const two = buildHello([sniExt('a.test')], 50);
  const b2 = Buffer.from(two); b2[55] = 23;
  t.equal(parseClientHello(b2).status, 'error', 'interleaved application_data');
  t.equal(parseClientHello(b2.subarray(0, 56)).status, 'error', 'decided at its first byte');
  const b3 = Buffer.from(two); b3[56] = 2;
  t.equal(parseClientHello(b3).status, 'error', 'second record major 2');
  t.equal(ok(t, parseClientHello(two)).serverName, 'a.test');
  t.equal(parseClientHello(b3.subarray(0, 57)).status, 'error', 'decided at its second byte');

  // Bodies cut short inside a consistent handshake header.
  const msgOf = (body: Buffer) => toRecords(Buffer.concat([Buffer.from([1, 0, 0, body.length]), body]), 16384);
  const base = handshakeMessage(buildHello(null)).subarray(4);
  t.equal(parseClientHello(msgOf(base.subarray(0, 20))).status, 'error', 'shorter than version + random');
  t.equal(parseClientHello(msgOf(base.subarray(0, 68))).status, 'error', 'cut in cipher_suites length');
  t.equal(parseClientHello(msgOf(base.subarray(0, 75))).status, 'error', 'cut before compression');
  t.equal(parseClientHello(msgOf(Buffer.concat([base, Buffer.from([0])]))).status, 'error', 'one stray byte of extensions');
});

// ---------------------------------------------------------------- not TLS, fuzz, lies

t.test('not TLS, decided early', async (t) => {
  t.equal(parseClientHello(Buffer.alloc(0)).status, 'incomplete');
  t.equal(parseClientHello(Buffer.from([22])).status, 'incomplete');
  const http = Buffer.from('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
  t.equal(parseClientHello(http).status, 'not-tls');
  t.equal(parseClientHello(http.subarray(0, 1)).status, 'not-tls', 'after one byte');
  t.equal(parseClientHello(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n')).status, 'not-tls');
  t.equal(parseClientHello(Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01])).status, 'not-tls', 'SSLv2 hello');
  t.equal(parseClientHello(Buffer.from([22, 2])).status, 'not-tls', 'after two bytes');
  t.equal(parseClientHello(Buffer.from([23, 3, 3, 0, 1, 0])).status, 'not-tls', 'application data');
});

t.test('random garbage never throws and is never ok', async (t) => {
  const rnd = prng(0x5eed);
  const seen = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const len = Math.floor(rnd() * 600);
    const b = Buffer.alloc(len);
    for (let j = 0; j < len; j++) b[j] = Math.floor(rnd() * 256);
    // Half of them start like a handshake record so the deeper code runs.
    if (i % 2 === 1 && len >= 6) { b[0] = 22; b[1] = 3; b[5] = 1; }
    const r = safeParse(b);
    seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
    if (r.status === 'ok' || ('reason' in r && r.reason.startsWith('THREW'))) {
      t.fail(`input ${i}: ${JSON.stringify(r)}`);
      return;
    }
  }
  t.ok(seen.get('not-tls')! > 1000, 'mostly not-tls');
  t.ok((seen.get('error') ?? 0) > 0, 'some errors');
});

t.test('truncations and lying lengths never throw', async (t) => {
  const hello = nodeHello;
  const { sid, cs, cm, ext: extOff, exts } = layout(hello);
  // Every truncation is incomplete.
  for (let i = 0; i < hello.length; i++) {
    const r = safeParse(hello.subarray(0, i));
    if (r.status !== 'incomplete') { t.fail(`truncated at ${i}: ${JSON.stringify(r)}`); return; }
  }
  // Every byte, several values: never throws; truncated as well.
  const allowed = new Set(['incomplete', 'error', 'ok', 'not-tls']);
  let checked = 0;
  for (let i = 0; i < hello.length; i++) {
    for (const v of [0x00, 0xff, (hello[i]! + 1) & 0xff, (hello[i]! - 1) & 0xff]) {
      const b = Buffer.from(hello);
      b[i] = v;
      for (const cut of [b.length, b.length - 1, i + 1]) {
        const r = safeParse(b.subarray(0, cut));
        checked++;
        if (!allowed.has(r.status) || ('reason' in r && r.reason.startsWith('THREW'))) {
          t.fail(`offset ${i} value ${v} cut ${cut}: ${JSON.stringify(r)}`);
          return;
        }
        if (r.status === 'ok' && r.length > cut) { t.fail('length beyond buffer'); return; }
      }
    }
  }
  t.ok(checked > 3000, `${checked} mutations`);

  // Length fields that lie: incomplete (it asks for more) or error, never ok.
  const lie = (name: string, off: number, width: 1 | 2 | 3, delta: number, expect: string[]) => {
    const b = Buffer.from(hello);
    const cur = width === 1 ? b[off]! : width === 2 ? b.readUInt16BE(off) : b.readUIntBE(off, 3);
    const v = Math.min(Math.max(0, cur + delta), 2 ** (8 * width) - 1);
    if (width === 1) b[off] = v & 0xff; else if (width === 2) b.writeUInt16BE(v & 0xffff, off); else b.writeUIntBE(v, off, 3);
    const r = safeParse(b);
    t.ok(expect.includes(r.status), `${name} ${delta >= 0 ? '+' : ''}${delta}: ${r.status} ${'reason' in r ? r.reason : ''}`);
  };
  const either = ['incomplete', 'error'];
  for (const d of [1, 100]) lie('record length', 3, 2, d, ['incomplete']);
  lie('record length', 3, 2, -1, either);
  lie('handshake length', 6, 3, 1, ['incomplete']);
  lie('handshake length', 6, 3, -1, ['error']);
  lie('handshake length', 6, 3, 0xffffff, ['error']);
  lie('session id length', sid, 1, 40, ['error']);
  lie('cipher suites length', cs, 2, 0x8000, ['error']);
  lie('cipher suites length', cs, 2, 1, ['error']);
  lie('compression length', cm, 1, 0xff, ['error']);
  lie('extensions length', extOff, 2, 1, ['error']);
  lie('extensions length', extOff, 2, -1, ['error']);
  const sni = exts.get(0)!;
  t.ok(sni, 'hello has server_name');
  lie('server_name extension length', sni + 2, 2, 1, ['error']);
  lie('server_name list length', sni + 4, 2, 1, ['error']);
  lie('server_name list length', sni + 4, 2, -1, ['error']);
  lie('host_name length', sni + 7, 2, 1, ['error']);
  lie('host_name length', sni + 7, 2, 0x7000, ['error']);
  const alpn = exts.get(16)!;
  lie('ALPN list length', alpn + 4, 2, 1, ['error']);
  lie('ALPN first name length', alpn + 6, 1, 50, ['error']);
  const ver = exts.get(43)!;
  lie('supported_versions length', ver + 4, 1, 1, ['error']);
});

t.test('over maxBytes', async (t) => {
  t.equal(parseClientHello(nodeHello, 100).status, 'error');
  t.equal(parseClientHello(nodeHello.subarray(0, 5), 100).status, 'error', 'decided from the record header');
  t.equal(parseClientHello(nodeHello, nodeHello.length).status, 'ok', 'exactly maxBytes is fine');
  t.equal(parseClientHello(nodeHello, nodeHello.length - 1).status, 'error');
  // Many records, each small, adding up past the bound.
  const split = toRecords(handshakeMessage(nodeHello), 10);
  t.equal(parseClientHello(split, nodeHello.length + 20).status, 'error');
});

// ---------------------------------------------------------------- matching and routing

t.test('matchServerName', async (t) => {
  t.ok(matchServerName('a.example.com', 'a.example.com'));
  t.ok(matchServerName('A.Example.com', 'a.EXAMPLE.com'), 'case-insensitive');
  t.notOk(matchServerName('b.example.com', 'a.example.com'));
  t.ok(matchServerName('a.example.com', '*.example.com'));
  t.ok(matchServerName('a.b.example.com', '*.example.com'), 'more than one label');
  t.ok(matchServerName('A.EXAMPLE.COM', '*.example.com'));
  t.notOk(matchServerName('example.com', '*.example.com'), 'not the bare suffix');
  t.notOk(matchServerName('.example.com', '*.example.com'));
  t.notOk(matchServerName('badexample.com', '*.example.com'));
  t.notOk(matchServerName('a.example.com.evil', '*.example.com'));
});

t.test('SniRouter', async (t) => {
  const r = new SniRouter<string>(
    [
      { pattern: 'api.example.com', target: 'api' },
      { pattern: '*.example.com', target: 'wild' },
      { pattern: '*.eu.example.com', target: 'eu' },
      { pattern: 'WWW.Example.com', target: 'www' },
      { pattern: 'api.example.com', target: 'dup' },
    ],
    'default',
  );
  t.equal(r.route('api.example.com'), 'api', 'exact');
  t.equal(r.route('API.example.COM'), 'api', 'exact, case-insensitive');
  t.equal(r.route('www.example.com'), 'www');
  t.equal(r.route('x.example.com'), 'wild', 'wildcard');
  t.equal(r.route('x.y.example.com'), 'wild', 'wildcard, two labels');
  t.equal(r.route('x.eu.example.com'), 'eu', 'longest suffix wins');
  t.equal(r.route('a.b.eu.example.com'), 'eu');
  t.equal(r.route('eu.example.com'), 'wild', 'the bare suffix goes to the shorter wildcard');
  t.equal(r.route('example.com'), 'default');
  t.equal(r.route('other.test'), 'default');
  t.equal(r.route(null), 'default', 'no SNI');

  const none = new SniRouter([{ pattern: '*.example.com', target: 1 }]);
  t.equal(none.route('other.test'), undefined, 'no match, no default');
  t.equal(none.route(null), undefined);
  t.equal(none.route('a.example.com'), 1);

  for (const p of ['', '*', '*.', 'a.*.com', '**.com', 'x*.com', '.a.com', 'a.com.', '*..com']) {
    t.throws(() => new SniRouter([{ pattern: p, target: 0 }]), TypeError, `rejects ${JSON.stringify(p)}`);
  }
});
