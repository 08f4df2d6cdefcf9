/**
 * PROXY protocol codec: a corpus written from doc/proxy-protocol.txt
 * (sections 2.1, 2.2, 2.2.1-2.2.7), byte-at-a-time truncation, round trips,
 * and a cross-check against proxy-protocol-js for the cases it supports.
 */
import t, { type Test } from 'tap';
import ppjs from 'proxy-protocol-js';
import type { INETProtocol, IPv4ProxyAddress, IPv6ProxyAddress } from 'proxy-protocol-js';
import { ipv6ToGroups } from '../../src/core/cidr.js';
import {
  PP2_CLIENT,
  PP2_TYPE,
  PROXY_V2_MAX_LENGTH,
  crc32c,
  encodeProxyV1,
  encodeProxyV2,
  parseProxyHeader,
  proxyHeaderFor,
  type ParseResult,
  type ProxyHeader,
} from '../../src/l4/proxy-protocol.js';

// --- helpers: headers built by hand from the spec, not with our encoder ---

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const APP = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');

function v2(verCmd: number, fam: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(16);
  SIG.copy(head);
  head[12] = verCmd;
  head[13] = fam;
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}
function tlv(type: number, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const h = Buffer.alloc(3);
  h[0] = type;
  h.writeUInt16BE(v.length, 1);
  return Buffer.concat([h, v]);
}
const ip4 = (a: string): Buffer => Buffer.from(a.split('.').map(Number));
const hex = (h: string): Buffer => Buffer.from(h.replace(/[^0-9a-f]/gi, ''), 'hex');
const port = (p: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(p);
  return b;
};
const unixAddr = (path: string, abstract = false): Buffer => {
  const b = Buffer.alloc(108);
  b.write(path, abstract ? 1 : 0);
  return b;
};
/** Fill in the CRC32C TLV value, which must be the last 4 bytes of `h`. */
function withCrc(h: Buffer): Buffer {
  h.writeUInt32BE(0, h.length - 4);
  h.writeUInt32BE(crc32c(h), h.length - 4);
  return h;
}
const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');

function expectOk(t: Test, buf: Buffer, length: number, max?: number): ProxyHeader {
  const r = parseProxyHeader(buf, max);
  if (r.status !== 'ok') {
    t.fail(`expected ok, got ${JSON.stringify(r)}`);
    throw new Error('not ok');
  }
  t.equal(r.length, length, 'consumed length');
  return r.header;
}
function expectError(t: Test, buf: Buffer, reason: RegExp, msg?: string, max?: number): void {
  const r = parseProxyHeader(buf, max);
  t.equal(r.status, 'error', msg ?? `error for ${JSON.stringify(buf.toString('latin1').slice(0, 60))}`);
  if (r.status === 'error') t.match(r.reason, reason, msg ?? 'reason');
}

// --- CRC32C ---

function crc32cBitwise(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

t.test('crc32c', async (t) => {
  t.equal(crc32c(ascii('123456789')), 0xe3069283, 'the standard check value');
  // RFC 3720 appendix B.4 vectors.
  t.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
  t.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  t.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
  t.equal(crc32c(Buffer.alloc(0)), 0);
  t.equal(crc32c(ascii('xx123456789yy'), 2, 11), 0xe3069283, 'start/end');
  const rnd = Buffer.from(Array.from({ length: 999 }, (_, i) => (i * 7919 + 13) & 0xff));
  t.equal(crc32c(rnd), crc32cBitwise(rnd), 'table matches the bitwise definition');
});

// --- v1 (section 2.1) ---

const V1_MAX_UNKNOWN =
  'PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n';
const V1_MAX_TCP6 =
  'PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n';

t.test('v1 valid headers', async (t) => {
  let h = expectOk(t, Buffer.concat([ascii('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'), APP]), 47);
  t.match(h, {
    version: 1,
    command: 'PROXY',
    family: 'TCP4',
    sourceAddress: '192.168.0.1',
    sourcePort: 56324,
    destinationAddress: '192.168.0.11',
    destinationPort: 443,
  });
  t.same(h.tlvs, []);
  t.equal(h.crc32cOk, undefined);

  h = expectOk(t, ascii('PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n'), 56);
  t.equal(h.sourcePort, 65535);
  h = expectOk(t, ascii('PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n'), 32);
  t.match(h, { sourceAddress: '0.0.0.0', sourcePort: 0, destinationPort: 0 });

  h = expectOk(t, ascii('PROXY TCP6 2001:db8::1 ::1 1 65535\r\n'), 36);
  t.match(h, { family: 'TCP6', sourceAddress: '2001:db8::1', destinationAddress: '::1', sourcePort: 1, destinationPort: 65535 });
  const long6 = 'PROXY TCP6 2001:0DB8:0000:0000:0000:0000:0000:0001 ::FFFF:10.0.0.1 80 8080\r\n';
  h = expectOk(t, ascii(long6), long6.length);
  t.equal(h.sourceAddress, '2001:db8::1', 'canonicalised');
  t.equal(h.destinationAddress, '::ffff:10.0.0.1');

  t.equal(V1_MAX_TCP6.length, 104);
  h = expectOk(t, ascii(V1_MAX_TCP6), 104);
  t.equal(h.sourceAddress, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');

  h = expectOk(t, Buffer.concat([ascii('PROXY UNKNOWN\r\n'), APP]), 15);
  t.match(h, { version: 1, family: 'UNKNOWN', sourceAddress: undefined, sourcePort: undefined });
  h = expectOk(t, ascii('PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n'), 35);
  t.match(h, { family: 'UNKNOWN', sourceAddress: undefined }, 'addresses after UNKNOWN are ignored');
  const junk = 'PROXY UNKNOWN whatever  \x01\xff here\r\n';
  expectOk(t, ascii(junk), junk.length);

  t.equal(V1_MAX_UNKNOWN.length, 107);
  expectOk(t, ascii(V1_MAX_UNKNOWN + 'rest'), 107);
});

t.test('v1 length limit', async (t) => {
  const at108 = 'PROXY UNKNOWN ' + 'x'.repeat(92) + '\r\n';
  t.equal(at108.length, 108);
  expectError(t, ascii(at108), /107/);
  expectOk(t, ascii(at108.slice(0, 105) + '\r\n'), 107);
  const noCr = 'PROXY UNKNOWN ' + 'a'.repeat(200);
  t.equal(parseProxyHeader(ascii(noCr.slice(0, 106))).status, 'incomplete');
  expectError(t, ascii(noCr.slice(0, 107)), /no CRLF within 107/);
  expectError(t, ascii(noCr), /no CRLF within 107/);
  // CR as byte 107 leaves no room for the LF.
  expectError(t, ascii('PROXY UNKNOWN ' + 'x'.repeat(92) + '\r'), /107/);
});

t.test('v1 malformed lines', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', /LF without CR/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX', /CR not followed by LF/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n', /CR not followed by LF/],
    ['PROXY UNKNOWN\n', /LF without CR/],
    ['PROXY UNKNOWN junk\nmore\r\n', /LF without CR/],
    // ports
    ['PROXY TCP4 1.2.3.4 5.6.7.8 65536 80\r\n', /source port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 80 99999\r\n', /destination port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 01 80\r\n', /source port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 00 80\r\n', /source port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 -1 80\r\n', /source port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 +1 80\r\n', /source port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 8a 80\r\n', /source port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 123456 80\r\n', /source port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 0x50 80\r\n', /source port/],
    // addresses
    ['PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n', /IPv4 source/],
    ['PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n', /IPv4 source/],
    ['PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n', /IPv4 source/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8.9 1 2\r\n', /IPv4 destination/],
    ['PROXY TCP4 ::1 ::1 1 2\r\n', /IPv4 source/],
    ['PROXY TCP4 localhost 5.6.7.8 1 2\r\n', /IPv4 source/],
    ['PROXY TCP6 1.2.3.4 ::1 1 2\r\n', /IPv6 source/],
    ['PROXY TCP6 ::1 1::2::3 1 2\r\n', /IPv6 destination/],
    ['PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', /IPv6 source/],
    ['PROXY TCP6 12345::1 ::1 1 2\r\n', /IPv6 source/],
    ['PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n', /IPv6 source/],
    // spacing and fields
    ['PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n', /empty field/],
    ['PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', /empty field/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n', /empty field/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n', /empty field/],
    ['PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n', /protocol/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', /missing fields/],
    ['PROXY TCP4\r\n', /missing fields/],
    ['PROXY \r\n', /empty field/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n', /too many fields/],
    ['PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', /protocol/],
    ['PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n', /protocol/],
    ['PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', /protocol/],
    ['PROXY UNKNOWNX\r\n', /protocol/],
  ];
  for (const [line, reason] of bad) expectError(t, ascii(line), reason, JSON.stringify(line));
  expectError(t, ascii('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), /not a PROXY protocol header/, 'lowercase proxy');
  expectError(t, ascii('PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n'), /not a PROXY protocol header/);
  expectError(t, ascii(' PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), /not a PROXY protocol header/);
});

t.test('not a PROXY header: detected after the first impossible byte', async (t) => {
  for (const s of ['GET / HTTP/1.1\r\n\r\n', 'G', 'SSH-2.0-OpenSSH\r\n', '\x16\x03\x01\x02\x00\x01', 'p', '\x00']) {
    expectError(t, ascii(s), /not a PROXY protocol header/, JSON.stringify(s));
  }
  expectError(t, ascii('POST / HTTP/1.1'), /not a PROXY/, 'POST fails at its second byte');
  t.equal(parseProxyHeader(ascii('P')).status, 'incomplete');
  t.equal(parseProxyHeader(ascii('PRO')).status, 'incomplete');
  expectError(t, ascii('PROX '), /not a PROXY/);
  expectError(t, ascii('PUT '), /not a PROXY/);
  t.equal(parseProxyHeader(Buffer.alloc(0)).status, 'incomplete');
  t.equal(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d])).status, 'incomplete');
  expectError(t, Buffer.from([0x0d, 0x0a, 0x0a]), /not a PROXY/);
  expectError(t, ascii('\r\n\r\n\x00\r\nQUIX'), /not a PROXY/);
  expectError(t, ascii('\r\n\r\n'.repeat(3)), /not a PROXY/, 'CRLFs but not the signature');

  // v1 lines are rejected before the CRLF once a field cannot be valid
  // (null: still a valid beginning).
  const early: Array<[string, RegExp | null]> = [
    ['PROXY FOO', /protocol/],
    ['PROXY TCP44', /protocol/],
    ['PROXY UNKNOWNX', /protocol/],
    ['PROXY  ', /empty field/],
    ['PROXY TCP4 1.2.3.4x', /bad character/],
    ['PROXY TCP4 1.2.3.4.5.6.7.8.9', /too long/],
    ['PROXY TCP4 999.1.1.1 ', /IPv4 source/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 0', null],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 01', /leading zero/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 65536', /bad port/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ', /too many fields/],
    ['PROXY TCP6 fe80::g', /bad character/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r', null],
    ['PROXY UNKNOWN anything \x00\x7f\xff', null],
    ['PROXY TCP4\r', /missing fields/],
    ['PROXY TCP4 1.2.3.4 5.6.7.8 1\r', /missing fields/],
  ];
  for (const [s, reason] of early) {
    if (reason === null) t.equal(parseProxyHeader(ascii(s)).status, 'incomplete', JSON.stringify(s));
    else expectError(t, ascii(s), reason, JSON.stringify(s));
  }
});

// --- v2 (section 2.2) ---

const V2_TCP4 = v2(0x21, 0x11, ip4('192.168.0.1'), ip4('192.168.0.11'), port(56324), port(443));
const V2_TCP6 = v2(
  0x21,
  0x21,
  hex('2001 0db8 0000 0000 0000 0000 0000 0001'),
  hex('0000 0000 0000 0000 0000 0000 0000 0001'),
  port(1234),
  port(443),
);

t.test('v2 PROXY TCP4 / TCP6 / UDP / UNIX', async (t) => {
  let h = expectOk(t, Buffer.concat([V2_TCP4, APP]), 28);
  t.match(h, {
    version: 2,
    command: 'PROXY',
    family: 'TCP4',
    sourceAddress: '192.168.0.1',
    destinationAddress: '192.168.0.11',
    sourcePort: 56324,
    destinationPort: 443,
  });
  t.same(h.tlvs, []);

  h = expectOk(t, Buffer.concat([V2_TCP6, APP]), 52);
  t.match(h, { family: 'TCP6', sourceAddress: '2001:db8::1', destinationAddress: '::1', sourcePort: 1234, destinationPort: 443 });

  h = expectOk(t, v2(0x21, 0x21, hex('00000000000000000000ffff01020304'), hex('20010db8000000000001000000000001'), port(0), port(65535)), 52);
  t.equal(h.sourceAddress, '::ffff:1.2.3.4');
  t.equal(h.destinationAddress, '2001:db8::1:0:0:1', 'RFC 5952: first of two equal zero runs');
  t.equal(h.destinationPort, 65535);

  h = expectOk(t, v2(0x21, 0x12, ip4('10.0.0.1'), ip4('10.0.0.2'), port(53), port(5353)), 28);
  t.match(h, { family: 'UDP4', sourceAddress: '10.0.0.1', sourcePort: 53 });
  h = expectOk(t, v2(0x21, 0x22, hex('fe80000000000000000000000000abcd'), hex('00'.repeat(16)), port(1), port(2)), 52);
  t.match(h, { family: 'UDP6', sourceAddress: 'fe80::abcd', destinationAddress: '::' });

  h = expectOk(t, v2(0x21, 0x31, unixAddr('/var/run/client.sock'), unixAddr('/var/run/lb.sock')), 232);
  t.match(h, { family: 'UNIX', sourceAddress: '/var/run/client.sock', destinationAddress: '/var/run/lb.sock' });
  t.equal(h.sourcePort, undefined);
  h = expectOk(t, v2(0x21, 0x32, unixAddr('abstract-name', true), Buffer.alloc(108)), 232);
  t.match(h, { family: 'UNIX', sourceAddress: '@abstract-name', destinationAddress: '' });
  const full = Buffer.alloc(108, 0x61);
  h = expectOk(t, v2(0x21, 0x31, full, full), 232);
  t.equal(h.sourceAddress, 'a'.repeat(108), 'a path using all 108 bytes');
});

t.test('v2 LOCAL and UNSPEC', async (t) => {
  let h = expectOk(t, Buffer.concat([v2(0x20, 0x00), APP]), 16);
  t.match(h, { version: 2, command: 'LOCAL', family: 'UNKNOWN', sourceAddress: undefined });
  // LOCAL: the family is reported as sent, the addresses are ignored.
  h = expectOk(t, v2(0x20, 0x11, ip4('1.2.3.4'), ip4('5.6.7.8'), port(1), port(2)), 28);
  t.match(h, { command: 'LOCAL', family: 'TCP4', sourceAddress: undefined, sourcePort: undefined });
  t.same(h.tlvs, []);
  h = expectOk(t, v2(0x20, 0x11), 16);
  t.match(h, { command: 'LOCAL', family: 'TCP4' }, 'LOCAL needs no address block');
  h = expectOk(t, v2(0x20, 0x21, Buffer.alloc(7)), 23);
  t.match(h, { command: 'LOCAL', family: 'TCP6', tlvs: [] }, 'a short LOCAL block is skipped as opaque');
  h = expectOk(t, v2(0x20, 0x11, Buffer.alloc(12), tlv(PP2_TYPE.NOOP, '')), 31);
  t.equal(h.tlvs.length, 1, 'TLVs after a LOCAL address block');
  h = expectOk(t, v2(0x20, 0x00, tlv(PP2_TYPE.AUTHORITY, 'health.example')), 33);
  t.equal(h.authority, 'health.example');

  h = expectOk(t, v2(0x21, 0x00), 16);
  t.match(h, { command: 'PROXY', family: 'UNKNOWN', sourceAddress: undefined });
});

t.test('v2 TLVs', async (t) => {
  const ssl = Buffer.concat([
    Buffer.from([PP2_CLIENT.SSL | PP2_CLIENT.CERT_CONN | PP2_CLIENT.CERT_SESS, 0, 0, 0, 0]),
    tlv(PP2_TYPE.SSL_VERSION, 'TLSv1.3'),
    tlv(PP2_TYPE.SSL_CN, 'client.example.com'),
    tlv(PP2_TYPE.SSL_CIPHER, 'TLS_AES_128_GCM_SHA256'),
    tlv(PP2_TYPE.SSL_SIG_ALG, 'RSA-SHA256'),
    tlv(PP2_TYPE.SSL_KEY_ALG, 'RSA2048'),
    tlv(0x2f, 'unknown sub-TLV'),
  ]);
  const uid = Buffer.alloc(128, 7);
  const tlvs = [
    tlv(PP2_TYPE.ALPN, 'h2'),
    tlv(PP2_TYPE.AUTHORITY, 'bücher.example'),
    tlv(PP2_TYPE.NOOP, Buffer.alloc(0)),
    tlv(PP2_TYPE.UNIQUE_ID, uid),
    tlv(PP2_TYPE.SSL, ssl),
    tlv(0xe0, Buffer.from([1, 2, 3])),
    tlv(PP2_TYPE.NETNS, 'blue'),
    tlv(0xf5, Buffer.alloc(0)),
    tlv(PP2_TYPE.ALPN, 'http/1.1'), // a second ALPN: kept, the first wins
  ];
  const buf = v2(0x21, 0x11, ip4('1.2.3.4'), ip4('5.6.7.8'), port(1), port(2), ...tlvs);
  const h = expectOk(t, Buffer.concat([buf, APP]), buf.length);
  t.equal(h.alpn, 'h2');
  t.equal(h.authority, 'bücher.example');
  t.same(h.uniqueId, uid);
  t.equal(h.netns, 'blue');
  t.same(h.ssl, {
    client: 7,
    verify: 0,
    version: 'TLSv1.3',
    cn: 'client.example.com',
    cipher: 'TLS_AES_128_GCM_SHA256',
    sigAlg: 'RSA-SHA256',
    keyAlg: 'RSA2048',
  });
  t.same(
    h.tlvs.map((x) => x.type),
    [0x01, 0x02, 0x04, 0x05, 0x20, 0xe0, 0x30, 0xf5, 0x01],
    'every TLV kept, in order',
  );
  t.same(h.tlvs[5]!.value, Buffer.from([1, 2, 3]));
  t.same(h.tlvs[4]!.value, ssl, 'the SSL TLV raw value too');
  t.equal(h.crc32cOk, undefined, 'no CRC32C TLV, no verdict');

  const sslVerifyFailed = Buffer.from([PP2_CLIENT.SSL, 0, 0, 0, 1]);
  const h2 = expectOk(t, v2(0x21, 0x00, tlv(PP2_TYPE.SSL, sslVerifyFailed)), 24);
  t.same(h2.ssl, { client: 1, verify: 1, version: undefined, cn: undefined, cipher: undefined, sigAlg: undefined, keyAlg: undefined });
});

t.test('v2 CRC32C', async (t) => {
  const good = withCrc(v2(0x21, 0x11, ip4('1.2.3.4'), ip4('5.6.7.8'), port(1), port(2), tlv(PP2_TYPE.ALPN, 'h2'), tlv(PP2_TYPE.CRC32C, Buffer.alloc(4))));
  let h = expectOk(t, Buffer.concat([good, APP]), good.length);
  t.equal(h.crc32cOk, true);

  const tampered = Buffer.from(good);
  tampered[16] = 9; // source address 9.2.3.4
  h = expectOk(t, tampered, good.length);
  t.equal(h.crc32cOk, false, 'a changed address fails the checksum');
  const wrong = Buffer.from(good);
  wrong[wrong.length - 1] ^= 1;
  t.equal(expectOk(t, wrong, good.length).crc32cOk, false, 'a changed checksum fails');

  // The CRC TLV need not be last: the checksum covers the whole header.
  const middle = v2(0x21, 0x00, tlv(PP2_TYPE.CRC32C, Buffer.alloc(4)), tlv(PP2_TYPE.AUTHORITY, 'a.example'));
  middle.writeUInt32BE(crc32c(middle), 19);
  t.equal(expectOk(t, middle, middle.length).crc32cOk, true);

  const local = withCrc(v2(0x20, 0x00, tlv(PP2_TYPE.CRC32C, Buffer.alloc(4))));
  t.equal(expectOk(t, local, 23).crc32cOk, true, 'on a LOCAL header too');

  expectError(t, v2(0x21, 0x00, tlv(PP2_TYPE.CRC32C, Buffer.alloc(3))), /CRC32C TLV must be 4 bytes/);
  expectError(t, v2(0x21, 0x00, tlv(PP2_TYPE.CRC32C, Buffer.alloc(4)), tlv(PP2_TYPE.CRC32C, Buffer.alloc(4))), /more than one CRC32C/);
});

t.test('v2 malformed headers', async (t) => {
  const addr = [ip4('1.2.3.4'), ip4('5.6.7.8'), port(1), port(2)];
  expectError(t, v2(0x11, 0x11, ...addr), /unsupported version 1/);
  expectError(t, v2(0x31, 0x11, ...addr), /unsupported version 3/);
  expectError(t, v2(0x01, 0x11, ...addr), /unsupported version 0/);
  expectError(t, v2(0x22, 0x11, ...addr), /unknown command 2/);
  expectError(t, v2(0x2f, 0x11, ...addr), /unknown command 15/);
  for (const fam of [0x01, 0x02, 0x10, 0x13, 0x20, 0x23, 0x30, 0x33, 0x41, 0xff]) {
    expectError(t, v2(0x21, fam, ...addr), /invalid family\/protocol byte/, `family byte 0x${fam.toString(16)}`);
  }
  expectError(t, v2(0x21, 0x11, ip4('1.2.3.4'), ip4('5.6.7.8')), /8-byte address block is too short for TCP4/);
  // Each is reported as soon as the byte that carries it arrives.
  expectError(t, v2(0x11, 0x11, ...addr).subarray(0, 13), /unsupported version/, 'version at 13 bytes');
  expectError(t, v2(0x23, 0x11, ...addr).subarray(0, 13), /unknown command/, 'command at 13 bytes');
  expectError(t, v2(0x21, 0x41, ...addr).subarray(0, 14), /invalid family/, 'family at 14 bytes');
  expectError(t, v2(0x21, 0x21, Buffer.alloc(12)).subarray(0, 16), /too short for TCP6/, 'address block at 16 bytes');
  expectError(t, v2(0x21, 0x21, Buffer.alloc(35)), /too short for TCP6/);
  expectError(t, v2(0x21, 0x31, Buffer.alloc(215)), /too short for UNIX/);

  // TLV framing
  expectError(t, v2(0x21, 0x11, ...addr, Buffer.from([0x01, 0x00])), /truncated TLV/);
  expectError(t, v2(0x21, 0x11, ...addr, Buffer.from([0x01])), /truncated TLV/);
  expectError(t, v2(0x21, 0x11, ...addr, Buffer.from([0x01, 0x00, 0x05, 0x68, 0x32])), /TLV 0x01 runs past the end/);
  expectError(t, v2(0x21, 0x00, tlv(PP2_TYPE.NOOP, ''), Buffer.from([0xe1, 0xff, 0xff])), /TLV 0xe1 runs past the end/);
  expectError(t, v2(0x21, 0x00, tlv(PP2_TYPE.UNIQUE_ID, Buffer.alloc(129))), /UNIQUE_ID TLV over 128 bytes/);
  expectOk(t, v2(0x21, 0x00, tlv(PP2_TYPE.UNIQUE_ID, Buffer.alloc(0))), 19);
  expectError(t, v2(0x21, 0x00, tlv(PP2_TYPE.SSL, Buffer.from([1, 0, 0, 0]))), /SSL TLV shorter than 5 bytes/);
  expectError(t, v2(0x21, 0x00, tlv(PP2_TYPE.SSL, Buffer.from([1, 0, 0, 0, 0, 0x21, 0x00]))), /truncated SSL sub-TLV/);
  expectError(
    t,
    v2(0x21, 0x00, tlv(PP2_TYPE.SSL, Buffer.from([1, 0, 0, 0, 0, 0x21, 0x00, 0x09, 0x54]))),
    /SSL sub-TLV 0x21 runs past the end of the SSL TLV/,
  );
});

t.test('v2 length limits', async (t) => {
  const big = v2(0x21, 0x11, ip4('1.2.3.4'), ip4('5.6.7.8'), port(1), port(2), tlv(PP2_TYPE.NOOP, Buffer.alloc(200)));
  t.equal(big.length, 231);
  expectError(t, big, /header of 231 bytes is over the limit of 100/, 'over maxV2Length', 100);
  expectError(t, big.subarray(0, 16), /over the limit of 100/, 'known from the first 16 bytes', 100);
  expectOk(t, big, 231, 231);
  expectError(t, big, /over the limit of 230/, 'one byte over', 230);

  const largest = v2(0x21, 0x11, ip4('1.2.3.4'), ip4('5.6.7.8'), port(1), port(2), tlv(PP2_TYPE.NOOP, Buffer.alloc(65535 - 12 - 3)));
  t.equal(largest.length, PROXY_V2_MAX_LENGTH);
  const h = expectOk(t, Buffer.concat([largest, APP]), PROXY_V2_MAX_LENGTH);
  t.equal(h.tlvs[0]!.value.length, 65520);
  t.equal(parseProxyHeader(largest.subarray(0, 40000)).status, 'incomplete');
});

// --- truncation and splitting ---

const VALID: Buffer[] = [
  ascii('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'),
  ascii('PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n'),
  ascii('PROXY TCP6 2001:db8::1 ::1 1 65535\r\n'),
  ascii('PROXY TCP6 ::ffff:10.0.0.1 FE80::1 80 8080\r\n'),
  ascii(V1_MAX_TCP6),
  ascii('PROXY UNKNOWN\r\n'),
  ascii(V1_MAX_UNKNOWN),
  V2_TCP4,
  V2_TCP6,
  v2(0x20, 0x00),
  v2(0x21, 0x00),
  v2(0x21, 0x31, unixAddr('/tmp/a'), unixAddr('/tmp/b')),
  withCrc(
    v2(
      0x21,
      0x11,
      ip4('1.2.3.4'),
      ip4('5.6.7.8'),
      port(1),
      port(2),
      tlv(PP2_TYPE.ALPN, 'h2'),
      tlv(PP2_TYPE.SSL, Buffer.concat([Buffer.from([1, 0, 0, 0, 0]), tlv(PP2_TYPE.SSL_VERSION, 'TLSv1.2')])),
      tlv(0xe0, 'x'),
      tlv(PP2_TYPE.CRC32C, Buffer.alloc(4)),
    ),
  ),
  encodeProxyV2({ command: 'PROXY', family: 'TCP6', sourceAddress: '2001:db8::5', sourcePort: 9, destinationAddress: '::1', destinationPort: 10, authority: 'x.example', crc32c: true }),
];

t.test('every prefix of a valid header is incomplete, never error or ok', async (t) => {
  let checked = 0;
  let expected = 0;
  for (const header of VALID) {
    expected += header.length;
    const full = Buffer.concat([header, APP]);
    for (let k = 0; k < header.length; k++) {
      const r = parseProxyHeader(full.subarray(0, k));
      if (r.status !== 'incomplete') t.fail(`prefix ${k}/${header.length} of ${JSON.stringify(header.toString('latin1').slice(0, 40))}: ${JSON.stringify(r)}`);
      checked++;
    }
    for (let k = header.length; k <= full.length; k++) {
      const r = parseProxyHeader(full.subarray(0, k));
      if (r.status !== 'ok' || r.length !== header.length) t.fail(`with ${k - header.length} app bytes: ${JSON.stringify(r)}`);
    }
  }
  t.equal(checked, expected, `${checked} prefixes checked`);
});

t.test('a header fed in two chunks split at every offset', async (t) => {
  for (const header of VALID) {
    const full = Buffer.concat([header, APP]);
    const whole = parseProxyHeader(full) as Extract<ParseResult, { status: 'ok' }>;
    t.equal(whole.status, 'ok');
    let bad = 0;
    for (let k = 1; k < full.length; k++) {
      // The caller accumulates: first what arrived, then first + second chunk.
      const first = Buffer.from(full.subarray(0, k));
      const r1 = parseProxyHeader(first);
      if (k < header.length ? r1.status !== 'incomplete' : r1.status !== 'ok') bad++;
      const r2 = parseProxyHeader(Buffer.concat([first, full.subarray(k)]));
      if (r2.status !== 'ok' || r2.length !== header.length) bad++;
      else if (JSON.stringify(r2.header) !== JSON.stringify(whole.header)) bad++;
    }
    t.equal(bad, 0, `split ${JSON.stringify(header.toString('latin1').slice(0, 30))}`);
  }
});

// --- encoding and round trips ---

t.test('encodeProxyV1', async (t) => {
  t.equal(
    encodeProxyV1({ family: 'TCP4', sourceAddress: '192.168.0.1', sourcePort: 56324, destinationAddress: '192.168.0.11', destinationPort: 443 }).toString(),
    'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n',
  );
  t.equal(
    encodeProxyV1({ family: 'TCP6', sourceAddress: '2001:DB8:0::1', sourcePort: 1, destinationAddress: '::1', destinationPort: 2 }).toString(),
    'PROXY TCP6 2001:db8::1 ::1 1 2\r\n',
  );
  t.equal(
    encodeProxyV1({ family: 'TCP6', sourceAddress: '::ffff:127.0.0.1', sourcePort: 1, destinationAddress: '::ffff:127.0.0.2', destinationPort: 2 }).toString(),
    'PROXY TCP4 127.0.0.1 127.0.0.2 1 2\r\n',
    'IPv4-mapped pairs go out as TCP4',
  );
  t.equal(
    encodeProxyV1({ family: 'TCP4', sourceAddress: '::ffff:127.0.0.1', sourcePort: 1, destinationAddress: '10.0.0.1', destinationPort: 2 }).toString(),
    'PROXY TCP4 127.0.0.1 10.0.0.1 1 2\r\n',
  );
  t.equal(
    encodeProxyV1({ family: 'TCP6', sourceAddress: '::ffff:10.0.0.1', sourcePort: 1, destinationAddress: '2001:db8::1', destinationPort: 2 }).toString(),
    'PROXY TCP6 ::ffff:a00:1 2001:db8::1 1 2\r\n',
    'mixed: IPv4 sent IPv4-mapped, in hex groups',
  );
  t.equal(encodeProxyV1({ family: 'UNKNOWN' }).toString(), 'PROXY UNKNOWN\r\n');
  t.equal(encodeProxyV1({ family: 'UNKNOWN', sourceAddress: '1.2.3.4' }).toString(), 'PROXY UNKNOWN\r\n');

  const base = { family: 'TCP4' as const, sourceAddress: '1.2.3.4', sourcePort: 1, destinationAddress: '5.6.7.8', destinationPort: 2 };
  t.throws(() => encodeProxyV1({ ...base, sourcePort: 65536 }), RangeError);
  t.throws(() => encodeProxyV1({ ...base, destinationPort: -1 }), RangeError);
  t.throws(() => encodeProxyV1({ ...base, sourcePort: 1.5 }), RangeError);
  t.throws(() => encodeProxyV1({ ...base, sourcePort: undefined }), RangeError);
  t.throws(() => encodeProxyV1({ ...base, sourceAddress: '1.2.3' }), TypeError);
  t.throws(() => encodeProxyV1({ ...base, destinationAddress: undefined }), TypeError);
  t.throws(() => encodeProxyV1({ ...base, sourceAddress: '::1' }), /TCP4 needs IPv4/);
});

t.test('encodeProxyV2', async (t) => {
  const b = encodeProxyV2({ command: 'PROXY', family: 'TCP4', sourceAddress: '192.168.0.1', sourcePort: 56324, destinationAddress: '192.168.0.11', destinationPort: 443 });
  t.same(b, V2_TCP4, 'byte-exact against the hand-built header');
  t.same(
    encodeProxyV2({ command: 'PROXY', family: 'TCP6', sourceAddress: '2001:db8::1', sourcePort: 1234, destinationAddress: '::1', destinationPort: 443 }),
    V2_TCP6,
  );
  t.same(encodeProxyV2({ command: 'LOCAL', family: 'TCP4', sourceAddress: '1.2.3.4' }), v2(0x20, 0x00), 'LOCAL: UNSPEC, no addresses');
  t.same(encodeProxyV2({ command: 'PROXY', family: 'UNKNOWN' }), v2(0x21, 0x00));
  t.same(
    encodeProxyV2({ command: 'PROXY', family: 'UNIX', sourceAddress: '/tmp/a', destinationAddress: '@abs' }),
    v2(0x21, 0x31, unixAddr('/tmp/a'), unixAddr('abs', true)),
  );
  t.same(
    encodeProxyV2({ command: 'PROXY', family: 'UNKNOWN', alpn: 'h2', tlvs: [{ type: 0xe0, value: Buffer.from('x') }] }),
    v2(0x21, 0x00, tlv(PP2_TYPE.ALPN, 'h2'), tlv(0xe0, 'x')),
  );
  const crc = encodeProxyV2({ command: 'PROXY', family: 'UNKNOWN', crc32c: true, tlvs: [{ type: PP2_TYPE.CRC32C, value: Buffer.alloc(4, 1) }] });
  t.same(crc, withCrc(v2(0x21, 0x00, tlv(PP2_TYPE.CRC32C, Buffer.alloc(4)))), 'a stale raw CRC TLV is dropped, a fresh one appended');

  const tcp = { command: 'PROXY' as const, family: 'TCP4' as const, sourceAddress: '1.2.3.4', sourcePort: 1, destinationAddress: '5.6.7.8', destinationPort: 2 };
  t.throws(() => encodeProxyV2({ ...tcp, sourcePort: 70000 }), RangeError);
  t.throws(() => encodeProxyV2({ ...tcp, destinationAddress: 'x' }), TypeError);
  t.throws(() => encodeProxyV2({ ...tcp, uniqueId: Buffer.alloc(129) }), /uniqueId over 128/);
  t.throws(() => encodeProxyV2({ ...tcp, alpn: 'h€' }), /US-ASCII/);
  t.throws(() => encodeProxyV2({ ...tcp, tlvs: [{ type: 256, value: Buffer.alloc(0) }] }), RangeError);
  t.throws(() => encodeProxyV2({ ...tcp, tlvs: [{ type: 0xe0, value: Buffer.alloc(65536) }] }), /over 65535/);
  t.throws(() => encodeProxyV2({ ...tcp, tlvs: [{ type: 0xe0, value: Buffer.alloc(65000) }, { type: 0xe1, value: Buffer.alloc(1000) }] }), /over the limit/);
  t.throws(() => encodeProxyV2({ ...tcp, ssl: { client: 256, verify: 0 } }), RangeError);
  t.throws(() => encodeProxyV2({ ...tcp, ssl: { client: 1, verify: -1 } }), RangeError);
  t.throws(() => encodeProxyV2({ command: 'PROXY', family: 'UNIX', sourceAddress: '/' + 'a'.repeat(108), destinationAddress: '/b' }), RangeError);
  t.throws(() => encodeProxyV2({ command: 'PROXY', family: 'UNIX', sourceAddress: '/a' }), TypeError);
  // Untyped callers.
  t.throws(() => encodeProxyV2({ command: 'RELAY' as 'PROXY', family: 'UNKNOWN' }), /bad v2 command/);
  t.throws(() => encodeProxyV2({ command: 'PROXY', family: 'UDP4' as 'TCP4' }), /bad v2 family/);
  t.throws(() => encodeProxyV1({ family: 'UDP4' as 'TCP4' }), /bad v1 family/);
});

t.test('round trips: encode then parse', async (t) => {
  const pairs: Array<[string, string, 'TCP4' | 'TCP6', string, string]> = [
    ['10.0.0.1', '10.0.0.2', 'TCP4', '10.0.0.1', '10.0.0.2'],
    ['255.255.255.255', '0.0.0.0', 'TCP4', '255.255.255.255', '0.0.0.0'],
    ['2001:db8::1', '::1', 'TCP6', '2001:db8::1', '::1'],
    ['2001:0DB8:0000:0000:0001:0000:0000:0000', 'fe80::1%eth0', 'TCP6', '2001:db8:0:0:1::', 'fe80::1'],
    ['::ffff:127.0.0.1', '::ffff:127.0.0.2', 'TCP4', '127.0.0.1', '127.0.0.2'],
    ['::ffff:127.0.0.1', '127.0.0.2', 'TCP4', '127.0.0.1', '127.0.0.2'],
    ['::ffff:10.0.0.1', '2001:db8::2', 'TCP6', '::ffff:10.0.0.1', '2001:db8::2'],
    ['10.0.0.1', '::1', 'TCP6', '::ffff:10.0.0.1', '::1'],
    ['::', '::', 'TCP6', '::', '::'],
  ];
  for (const [src, dst, family, wantSrc, wantDst] of pairs) {
    const fields = { sourceAddress: src, sourcePort: 40000, destinationAddress: dst, destinationPort: 443 };
    const h1 = expectOk(t, Buffer.concat([encodeProxyV1({ family: 'TCP6', ...fields }), APP]), encodeProxyV1({ family: 'TCP6', ...fields }).length);
    t.match(h1, { version: 1, family, sourceAddress: wantSrc, destinationAddress: wantDst, sourcePort: 40000, destinationPort: 443 }, `v1 ${src} ${dst}`);
    const e2 = encodeProxyV2({ command: 'PROXY', family: 'TCP6', ...fields });
    const h2 = expectOk(t, Buffer.concat([e2, APP]), e2.length);
    t.match(h2, { version: 2, command: 'PROXY', family, sourceAddress: wantSrc, destinationAddress: wantDst, sourcePort: 40000, destinationPort: 443 }, `v2 ${src} ${dst}`);
  }

  const extras = {
    alpn: 'h2',
    authority: 'bücher.example',
    ssl: { client: 5, verify: 0, version: 'TLSv1.3', cn: 'Zoë', cipher: 'TLS_AES_256_GCM_SHA384', sigAlg: 'ECDSA-SHA256', keyAlg: 'EC256' },
    uniqueId: Buffer.from('0123456789abcdef'),
    netns: 'ns1',
    tlvs: [{ type: 0xe5, value: Buffer.from([0, 1, 2]) }, { type: PP2_TYPE.NOOP, value: Buffer.alloc(5) }],
    crc32c: true,
  };
  const e = encodeProxyV2({ command: 'PROXY', family: 'TCP4', sourceAddress: '1.2.3.4', sourcePort: 1, destinationAddress: '5.6.7.8', destinationPort: 2, ...extras });
  const h = expectOk(t, e, e.length);
  t.equal(h.alpn, 'h2');
  t.equal(h.authority, 'bücher.example');
  t.same(h.ssl, extras.ssl);
  t.same(h.uniqueId, extras.uniqueId);
  t.equal(h.netns, 'ns1');
  t.equal(h.crc32cOk, true);
  t.same(h.tlvs.map((x) => x.type), [0x01, 0x02, 0x20, 0x05, 0x30, 0xe5, 0x04, 0x03]);

  const local = encodeProxyV2({ command: 'LOCAL', family: 'UNKNOWN', crc32c: true, authority: 'h' });
  t.match(expectOk(t, local, local.length), { command: 'LOCAL', family: 'UNKNOWN', authority: 'h', crc32cOk: true });
  const unix = encodeProxyV2({ command: 'PROXY', family: 'UNIX', sourceAddress: '/run/ünïx.sock', destinationAddress: '@lb' });
  t.match(expectOk(t, unix, 232), { family: 'UNIX', sourceAddress: '/run/ünïx.sock', destinationAddress: '@lb' });
});

t.test('proxyHeaderFor', async (t) => {
  const cases: Array<[string, string, string, string, string]> = [
    ['10.0.0.1', '10.0.0.2', 'TCP4', '10.0.0.1', '10.0.0.2'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.2', 'TCP4', '10.0.0.1', '10.0.0.2'],
    ['2001:db8::1', '2001:db8::2', 'TCP6', '2001:db8::1', '2001:db8::2'],
    ['::ffff:10.0.0.1', '::1', 'TCP6', '::ffff:10.0.0.1', '::1'],
    ['2001:db8::1', '10.0.0.2', 'TCP6', '2001:db8::1', '::ffff:10.0.0.2'],
  ];
  for (const [c, l, family, wc, wl] of cases) {
    for (const version of [1, 2] as const) {
      const b = proxyHeaderFor(version, { address: c, port: 50000 }, { address: l, port: 8443 });
      const h = expectOk(t, b, b.length);
      t.match(h, { version, command: 'PROXY', family, sourceAddress: wc, sourcePort: 50000, destinationAddress: wl, destinationPort: 8443 }, `v${version} ${c} -> ${l}`);
    }
  }
  // Not IP or gone: v1 UNKNOWN, v2 PROXY + UNSPEC.
  for (const [client, local] of [
    [{ address: undefined, port: undefined }, { address: '10.0.0.2', port: 1 }],
    [{ address: '/tmp/sock' }, { address: '/tmp/sock' }],
    [{ address: '10.0.0.1', port: 1 }, { address: '10.0.0.2', port: undefined }],
    [{ address: '10.0.0.1', port: 1 }, { address: '10.0.0.2', port: 70000 }],
  ] as const) {
    t.equal(proxyHeaderFor(1, client, local).toString(), 'PROXY UNKNOWN\r\n');
    t.same(proxyHeaderFor(2, client, local), v2(0x21, 0x00));
  }
  const withExtras = proxyHeaderFor(2, { address: '10.0.0.1', port: 1 }, { address: '10.0.0.2', port: 2 }, { authority: 'sni.example', alpn: 'h2', crc32c: true });
  t.match(expectOk(t, withExtras, withExtras.length), { authority: 'sni.example', alpn: 'h2', crc32cOk: true, sourceAddress: '10.0.0.1' });
  t.throws(() => proxyHeaderFor(3 as 1, { address: '10.0.0.1', port: 1 }, { address: '10.0.0.2', port: 2 }), RangeError);
});

// --- cross-check with proxy-protocol-js (common cases it supports) ---

const v4Bytes = (a: string): number[] => a.split('.').map(Number);
const v6Bytes = (a: string): number[] => {
  const g = new Uint16Array(8);
  if (!ipv6ToGroups(a, g)) throw new Error(a);
  return Array.from(g).flatMap((x) => [x >> 8, x & 0xff]);
};
/** An independent formatter: the WHATWG URL serializer also compresses the first longest zero run. */
const fmtV6 = (b: number[]): string => new URL(`http://[${Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(':')}]/`).hostname.slice(1, -1);

t.test('headers built by proxy-protocol-js parse with ours', async (t) => {
  const v1cases: Array<[string, string, string]> = [
    ['TCP4', '127.0.0.1', '192.0.2.1'],
    ['TCP4', '10.20.30.40', '255.255.255.255'],
    ['TCP6', '2001:db8::1', '::1'],
    ['TCP6', 'fe80::abcd:1', '2001:db8:1:2:3:4:5:6'],
  ];
  for (const [proto, src, dst] of v1cases) {
    const text = new ppjs.V1ProxyProtocol(proto as INETProtocol, new ppjs.Peer(src, 12345), new ppjs.Peer(dst, 54321)).build();
    const h = expectOk(t, Buffer.concat([ascii(text), APP]), text.length);
    t.match(h, { version: 1, family: proto, sourceAddress: src, destinationAddress: dst, sourcePort: 12345, destinationPort: 54321 }, text.trim());
  }
  const unknown = new ppjs.V1ProxyProtocol(ppjs.INETProtocol.UNKNOWN, new ppjs.Peer('1.2.3.4', 1), new ppjs.Peer('5.6.7.8', 2)).build();
  t.match(expectOk(t, ascii(unknown), unknown.length), { family: 'UNKNOWN' });

  const v2cases: Array<[string, string]> = [
    ['127.0.0.1', '192.0.2.1'],
    ['2001:db8::1', '::1'],
    ['fe80::1:2', '2001:db8:ffff::abcd'],
  ];
  for (const [src, dst] of v2cases) {
    const isV4 = src.includes('.');
    const addr = isV4
      ? new ppjs.IPv4ProxyAddress(ppjs.IPv4Address.createFrom(v4Bytes(src)), 12345, ppjs.IPv4Address.createFrom(v4Bytes(dst)), 54321)
      : new ppjs.IPv6ProxyAddress(ppjs.IPv6Address.createFrom(v6Bytes(src)), 12345, ppjs.IPv6Address.createFrom(v6Bytes(dst)), 54321);
    const bin = Buffer.from(new ppjs.V2ProxyProtocol(ppjs.Command.PROXY, ppjs.TransportProtocol.STREAM, addr).build());
    const h = expectOk(t, Buffer.concat([bin, APP]), bin.length);
    t.match(h, { version: 2, command: 'PROXY', family: isV4 ? 'TCP4' : 'TCP6', sourceAddress: src, destinationAddress: dst, sourcePort: 12345, destinationPort: 54321 });
  }
  const local = Buffer.from(
    new ppjs.V2ProxyProtocol(
      ppjs.Command.LOCAL,
      ppjs.TransportProtocol.DGRAM,
      new ppjs.IPv4ProxyAddress(ppjs.IPv4Address.createFrom([127, 0, 0, 1]), 1, ppjs.IPv4Address.createFrom([127, 0, 0, 1]), 2),
    ).build(),
  );
  t.match(expectOk(t, local, 28), { command: 'LOCAL', family: 'UDP4', sourceAddress: undefined });
});

t.test('headers we encode parse with proxy-protocol-js', async (t) => {
  const cases: Array<[string, string]> = [
    ['127.0.0.1', '192.0.2.1'],
    ['::ffff:10.1.2.3', '10.0.0.9'],
    ['2001:db8::1', '::1'],
    ['fe80::abcd:1', '2001:db8:1:2:3:4:5:6'],
  ];
  for (const [src, dst] of cases) {
    const fields = { sourceAddress: src, sourcePort: 40000, destinationAddress: dst, destinationPort: 443 };
    const isV4 = !src.includes(':') || src.startsWith('::ffff:');
    const wantSrc = src.replace('::ffff:', '');

    const p1 = ppjs.V1ProxyProtocol.parse(encodeProxyV1({ family: 'TCP6', ...fields }).toString('latin1'));
    t.equal(p1.inetProtocol, isV4 ? 'TCP4' : 'TCP6');
    t.equal(p1.source.ipAddress, wantSrc);
    t.equal(p1.destination.ipAddress, dst);
    t.equal(p1.source.port, 40000);
    t.equal(p1.destination.port, 443);

    const p2 = ppjs.V2ProxyProtocol.parse(new Uint8Array(encodeProxyV2({ command: 'PROXY', family: 'TCP6', ...fields })));
    t.equal(p2.command, ppjs.Command.PROXY);
    t.equal(p2.transportProtocol, ppjs.TransportProtocol.STREAM);
    t.equal(p2.addressFamilyType, isV4 ? ppjs.AddressFamilyType.INET : ppjs.AddressFamilyType.INET6);
    const a = p2.proxyAddress as IPv4ProxyAddress | IPv6ProxyAddress;
    if (isV4) {
      t.equal((a.sourceAddress.address as number[]).join('.'), wantSrc);
      t.equal((a.destinationAddress.address as number[]).join('.'), dst);
    } else {
      t.equal(fmtV6(a.sourceAddress.address as number[]), src);
      t.equal(fmtV6(a.destinationAddress.address as number[]), dst);
    }
    t.equal(a.sourcePort, 40000);
    t.equal(a.destinationPort, 443);
  }
  // (Not cross-checked: proxy-protocol-js rejects the short `PROXY UNKNOWN\r\n`
  // form that section 2.1 allows and that we send.)
  const local = ppjs.V2ProxyProtocol.parse(new Uint8Array(encodeProxyV2({ command: 'LOCAL', family: 'UNKNOWN' })));
  t.equal(local.command, ppjs.Command.LOCAL);
});
