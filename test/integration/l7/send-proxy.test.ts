/**
 * L7 with --send-proxy: every backend connection starts with a PROXY header
 * naming the real client, and such a connection is only reused for the same
 * client connection (never handed to another client, whose address it would
 * misstate).
 */
import t from 'tap';
import net from 'node:net';
import { parseProxyHeader } from '../../../src/l4/proxy-protocol.js';
import { withLb4 } from '../../helpers/lb4.js';

interface ProxyHttpBackend {
  port: number;
  connections: number;
  close(): Promise<void>;
}

/** A keep-alive HTTP backend that requires a PROXY header and answers with the client address it names. */
async function proxyHttpBackend(): Promise<ProxyHttpBackend> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    let source: string | null = null;
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (source === null) {
        const r = parseProxyHeader(buf);
        if (r.status === 'incomplete') return;
        if (r.status === 'error') {
          sock.destroy();
          return;
        }
        source = `${r.header.sourceAddress}`;
        buf = buf.subarray(r.length);
      }
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        buf = buf.subarray(end + 4);
        const body = `${source}\n`;
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nContent-Type: text/plain\r\n\r\n${body}`);
      }
    });
    state.connections++;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Send `n` GETs one after another on one keep-alive connection from `localAddress`; return the bodies. */
function getMany(port: number, localAddress: string, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const bodies: string[] = [];
    let buf = '';
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`timed out after ${bodies.length} responses`));
    }, 5000);
    const send = () => s.write(`GET /r${bodies.length} HTTP/1.1\r\nHost: app.test\r\n\r\n`);
    s.on('connect', send);
    s.on('error', reject);
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      for (;;) {
        const h = buf.indexOf('\r\n\r\n');
        if (h < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, h))?.[1] ?? -1);
        if (len < 0 || buf.length < h + 4 + len) return;
        bodies.push(buf.slice(h + 4, h + 4 + len).trim());
        buf = buf.slice(h + 4 + len);
        if (bodies.length === n) {
          clearTimeout(timer);
          s.end();
          resolve(bodies);
          return;
        }
        send();
      }
    });
  });
}

t.test('--mode l7 --send-proxy v2: the real client, and private backend connections', async (t) => {
  const be = await proxyHttpBackend();
  t.teardown(() => be.close());
  const lb = await withLb4(t, ['--mode', 'l7', '--listen', '127.0.0.1:0', '--health-check', 'off', '--send-proxy', 'v2', '--backend', `127.0.0.1:${be.port},name=p`]);
  const port = lb.ports[0]!;
  t.same(await getMany(port, '127.0.0.7', 3), ['127.0.0.7', '127.0.0.7', '127.0.0.7'], 'the header names the first client');
  t.equal(be.connections, 1, 'three requests of one client share one backend connection');
  t.same(await getMany(port, '127.0.0.8', 2), ['127.0.0.8', '127.0.0.8'], 'a second client gets a connection naming it');
  t.equal(be.connections, 2, "the first client's idle connection was not reused for the second client");
});
