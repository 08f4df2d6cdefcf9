/**
 * L7 robustness: 300 client connections send mixes of valid, pipelined,
 * malformed, partial and upgrade requests in random splits and go away at
 * random moments (FIN or reset) while backends answer, stall or reset. lb4
 * must stay up, and afterwards hold nothing: no client connection, no
 * request slot on any backend (`active` 0), nobody queued.
 */
import t from 'tap';
import net from 'node:net';
import { withLb4 } from '../../helpers/lb4.js';
import { httpBackend } from '../../helpers/backends.js';
import { getJson } from '../../helpers/admin.js';
import { waitUntil } from '../../helpers/edge.js';
import { l7Args, sleep } from './_util.js';

const REQUESTS = [
  'GET /a HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello',
  'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  'GET /reset HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET / HTTP/1.1\r\nHost : bad\r\n\r\n',
  'GET /partial HTTP/1.1\r\nHo',
  'HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n',
];

t.test('random clients and backend failures leave nothing behind', { timeout: 60_000 }, async (t) => {
  const mk = (name: string, delay: number) =>
    httpBackend(name, {
      handler: (req, res) => {
        req.resume();
        req.on('end', () =>
          setTimeout(
            () => {
              if (req.url?.includes('reset')) {
                res.socket?.destroy();
                return;
              }
              res.writeHead(200, { 'content-length': 2 });
              res.end('ok');
            },
            req.url?.includes('slow') ? delay : 0,
          ),
        );
      },
    });
  const a = await mk('a', 50);
  const b = await mk('b', 200);
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const lb = await withLb4(
    t,
    l7Args([`${a.address},name=a`, `${b.address},name=b`], ['--admin', '127.0.0.1:0', '--backend-max-conns', '5', '--queue-timeout', '300ms', '--server-timeout', '500ms', '--header-timeout', '500ms']),
  );
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
  const one = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const s = net.connect(lb.ports[0]!, '127.0.0.1');
      s.on('error', () => {});
      s.on('data', () => {});
      const parts: string[] = [];
      for (let k = 0; k < 1 + (i % 5); k++) parts.push(REQUESTS[(i * 7 + k * 3) % REQUESTS.length]!);
      const data = Buffer.from(parts.join(''));
      s.on('connect', () => {
        let off = 0;
        const step = (): void => {
          if (off >= data.length || s.destroyed) return;
          const m = 1 + Math.floor(rnd() * 40);
          s.write(data.subarray(off, off + m));
          off += m;
          setTimeout(step, rnd() < 0.1 ? 5 : 0);
        };
        step();
      });
      setTimeout(() => {
        if (rnd() < 0.5) s.destroy();
        else s.end();
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 300);
      }, rnd() * 800);
    });
  const all: Array<Promise<void>> = [];
  for (let i = 0; i < 300; i++) {
    all.push(one(i));
    if (i % 50 === 0) await sleep(50); // pacing: clients arrive in waves
  }
  await Promise.all(all);
  // everything settles within the longest timeout (server 500 ms + linger)
  let st = await getJson(lb.adminPort!, '/stats');
  await waitUntil(async () => (st = await getJson(lb.adminPort!, '/stats')).json.connections.active === 0, 30_000, 'every connection closed').catch(() => {});
  t.notOk(lb.hasExited, 'lb4 is still running');
  t.equal(st.json.connections.active, 0, 'no client connection left');
  t.equal(st.json.connections.total, 300);
  for (const be of st.json.backends) t.equal(be.active, 0, `${be.name}: no request slot held`);
  t.equal(st.json.pool.queued, 0, 'nobody queued');
  t.ok(st.json.backends.reduce((n: number, be: { total: number }) => n + be.total, 0) > 50, 'requests were served');
  t.equal(lb.stderr, '', 'nothing on stderr');
});
