/**
 * The stub resolver (src/discovery/dns-client.ts) against scripted DNS
 * servers on 127.0.0.1 (real UDP and TCP sockets): the next server after a
 * SERVFAIL, a timeout or a closed port; answers with the wrong id or
 * question ignored; a truncated UDP answer asked again over TCP; the whole
 * query bounded; close() cancels what is in flight.
 */
import t from 'tap';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import dnsPacket from 'dns-packet';
import { DnsClient, QUERY_BUDGET_MS } from '../../../src/discovery/dns-client.js';

type Reply = (q: dnsPacket.DecodedPacket, over: 'udp' | 'tcp') => Buffer | null;

interface Fake {
  port: number;
  udpQueries: number;
  tcpQueries: number;
  close(): Promise<void>;
}

/** A DNS server on 127.0.0.1 (UDP and TCP on one port) answering with `reply` (null = silence). */
async function fakeServer(t: { teardown(fn: () => unknown): void }, reply: Reply): Promise<Fake> {
  for (let attempt = 0; ; attempt++) {
    const udp = dgram.createSocket('udp4');
    udp.bind(0, '127.0.0.1');
    await once(udp, 'listening');
    const port = udp.address().port;
    const fake: Fake = { port, udpQueries: 0, tcpQueries: 0, close: async () => {} };
    const tcp = net.createServer((s) => {
      let buf = Buffer.alloc(0);
      s.on('error', () => {});
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
        fake.tcpQueries++;
        const out = reply(dnsPacket.decode(buf.subarray(2)), 'tcp');
        if (!out) return s.destroy();
        const len = Buffer.alloc(2);
        len.writeUInt16BE(out.length);
        s.end(Buffer.concat([len, out]));
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, '127.0.0.1', () => resolve());
      });
    } catch (err) {
      // the TCP port of that number is taken: another one
      udp.close();
      if (attempt >= 10) throw err;
      continue;
    }
    fake.close = () =>
      new Promise<void>((resolve) => {
        udp.close();
        tcp.close(() => resolve());
      });
    udp.on('message', (msg, rinfo) => {
      fake.udpQueries++;
      const out = reply(dnsPacket.decode(msg), 'udp');
      if (out) udp.send(out, rinfo.port, rinfo.address);
    });
    t.teardown(() => fake.close());
    return fake;
  }
}

function answer(q: dnsPacket.DecodedPacket, opts: { rcode?: number; tc?: boolean; id?: number; ips?: string[]; name?: string; noQuestion?: boolean } = {}): Buffer {
  const question = q.questions![0]!;
  const buf = dnsPacket.encode({
    type: 'response',
    id: opts.id ?? q.id,
    flags: dnsPacket.RECURSION_AVAILABLE | (opts.tc ? dnsPacket.TRUNCATED_RESPONSE : 0),
    questions: opts.noQuestion ? [] : [{ ...question, name: opts.name ?? question.name }],
    answers: (opts.ips ?? []).map((ip) => ({ type: 'A' as const, name: question.name, ttl: 42, data: ip })),
  });
  buf.writeUInt16BE((buf.readUInt16BE(2) & 0xfff0) | (opts.rcode ?? 0), 2);
  return buf;
}

async function closedUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const port = s.address().port;
  s.close();
  return port;
}

t.test('an answer: records with their TTLs', async (t) => {
  const srv = await fakeServer(t, (q) => answer(q, { ips: ['10.0.0.1', '10.0.0.2'] }));
  const client = new DnsClient([{ host: '127.0.0.1', port: srv.port }]);
  const a = await client.query('web.test', 'A');
  t.equal(a.rcode, 'NOERROR');
  t.same(a.answers.map((r) => [r.type, (r as { data: string }).data, (r as { ttl: number }).ttl]), [['A', '10.0.0.1', 42], ['A', '10.0.0.2', 42]]);
  t.equal(a.server, `127.0.0.1:${srv.port}`);
});

t.test('SERVFAIL, a closed port and silence move on to the next server', async (t) => {
  const failing = await fakeServer(t, (q) => answer(q, { rcode: 2 }));
  const silent = await fakeServer(t, () => null);
  const good = await fakeServer(t, (q) => answer(q, { ips: ['10.0.0.7'] }));
  const closed = await closedUdpPort();
  const client = new DnsClient([
    { host: '127.0.0.1', port: failing.port },
    { host: '127.0.0.1', port: closed },
    { host: '127.0.0.1', port: silent.port },
    { host: '127.0.0.1', port: good.port },
  ]);
  const started = Date.now();
  const a = await client.query('web.test', 'A');
  t.equal(a.server, `127.0.0.1:${good.port}`);
  t.equal(failing.udpQueries, 1);
  t.equal(silent.udpQueries, 1);
  const took = Date.now() - started;
  t.ok(took >= 900 && took < 3000, `one timeout (1 s) on the silent one, the closed port at once (${took} ms)`);
});

t.test('NXDOMAIN is an answer, not a failure', async (t) => {
  const srv = await fakeServer(t, (q) => answer(q, { rcode: 3 }));
  const a = await new DnsClient([{ host: '127.0.0.1', port: srv.port }]).query('no.test', 'A');
  t.equal(a.rcode, 'NXDOMAIN');
  t.equal(srv.udpQueries, 1, 'asked once');
});

t.test('answers with another id or another question are ignored', async (t) => {
  let n = 0;
  const srv = await fakeServer(t, (q) => {
    n++;
    return n === 1 ? answer(q, { id: (q.id! + 1) & 0xffff, ips: ['6.6.6.6'] }) : answer(q, { name: 'evil.test', ips: ['6.6.6.6'] });
  });
  const client = new DnsClient([{ host: '127.0.0.1', port: srv.port }]);
  await t.rejects(client.query('web.test', 'A'), /timeout|does not match/);
  t.ok(srv.udpQueries >= 2, 'asked again');
});

t.test('a server that does not know EDNS0 (FORMERR) is asked again without it; an answer without a question section is taken', async (t) => {
  const seen: boolean[] = [];
  const srv = await fakeServer(t, (q) => {
    const edns = (q.additionals ?? []).some((r) => r.type === 'OPT');
    seen.push(edns);
    return edns ? answer(q, { rcode: 1 }) : answer(q, { ips: ['10.0.0.4'], noQuestion: true });
  });
  const a = await new DnsClient([{ host: '127.0.0.1', port: srv.port }]).query('old.test', 'A');
  t.same(seen, [true, false], 'with EDNS0, then without');
  t.equal(a.answers.length, 1);
});

t.test('a truncated UDP answer is asked again over TCP', async (t) => {
  const srv = await fakeServer(t, (q, over) => (over === 'udp' ? answer(q, { tc: true }) : answer(q, { ips: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] })));
  const a = await new DnsClient([{ host: '127.0.0.1', port: srv.port }]).query('big.test', 'A');
  t.equal(a.answers.length, 3);
  t.equal(srv.udpQueries, 1);
  t.equal(srv.tcpQueries, 1);
});

t.test('the whole query is bounded; close() cancels at once', async (t) => {
  const silent = await fakeServer(t, () => null);
  const servers = Array.from({ length: 4 }, () => ({ host: '127.0.0.1', port: silent.port }));
  const started = Date.now();
  await t.rejects(new DnsClient(servers).query('web.test', 'A'), /no answer within/);
  const took = Date.now() - started;
  t.ok(took >= QUERY_BUDGET_MS - 100 && took < QUERY_BUDGET_MS + 1500, `gave up after the budget (${took} ms), not 4 × 2 × 1 s`);

  const client = new DnsClient([{ host: '127.0.0.1', port: silent.port }]);
  const p = client.query('web.test', 'A');
  const t0 = Date.now();
  setTimeout(() => client.close(), 100);
  await t.rejects(p, /stopped/);
  t.ok(Date.now() - t0 < 900, 'cancelled before the try timed out');
});
