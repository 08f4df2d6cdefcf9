/**
 * Upgrade through lb4 --mode l7: a real WebSocket handshake (undici's
 * client) to a tiny RFC 6455 echo server written here; once the backend
 * answers 101 the connection is a raw tunnel to it. Also: a backend that
 * declines the upgrade answers normally and the connection then closes.
 */
import t from 'tap';
import net from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { WebSocket } from 'undici';
import { withLb4 } from '../../helpers/lb4.js';
import { httpBackend } from '../../helpers/backends.js';
import { l7Args, rawExchange, statusOf } from './_util.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** RFC 6455 echo server for short frames (payload < 126 bytes); records the upgrade request heads. */
async function wsEchoServer(): Promise<{ port: number; heads: string[]; close(): Promise<void> }> {
  const heads: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    let upgraded = false;
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        heads.push(head);
        buf = buf.subarray(end + 4);
        const key = /^sec-websocket-key:\s*(.+)$/im.exec(head)?.[1]?.trim() ?? '';
        const accept = createHash('sha1').update(key + GUID).digest('base64');
        sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        upgraded = true;
      }
      // frames: FIN+opcode, MASK+len(<126), 4-byte mask, payload
      while (buf.length >= 2) {
        const opcode = buf[0]! & 0x0f;
        const len = buf[1]! & 0x7f;
        const masked = (buf[1]! & 0x80) !== 0;
        const need = 2 + (masked ? 4 : 0) + len;
        if (len >= 126 || buf.length < need) break;
        const mask = masked ? buf.subarray(2, 6) : null;
        const payload = Buffer.from(buf.subarray(need - len, need));
        if (mask) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i % 4]!;
        buf = buf.subarray(need);
        if (opcode === 0x8) {
          sock.end(Buffer.from([0x88, payload.length, ...payload]));
          return;
        }
        if (opcode === 0x1 || opcode === 0x2) sock.write(Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    heads,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

t.test('WebSocket echo through lb4 with a real handshake', async (t) => {
  const ws = await wsEchoServer();
  t.teardown(() => ws.close());
  const lb = await withLb4(t, l7Args([`127.0.0.1:${ws.port},name=ws`], ['--access-log']));
  const client = new WebSocket(`ws://127.0.0.1:${lb.ports[0]}/chat`);
  t.teardown(() => client.close());
  const messages: string[] = [];
  const opened = new Promise<void>((resolve, reject) => {
    client.addEventListener('open', () => resolve());
    client.addEventListener('error', (e) => reject(new Error(`websocket error: ${String((e as { message?: string }).message ?? e)}`)));
  });
  const gotThree = new Promise<void>((resolve) => {
    client.addEventListener('message', (ev) => {
      messages.push(String(ev.data));
      if (messages.length === 3) resolve();
    });
  });
  await opened;
  client.send('hello');
  client.send('through');
  client.send('lb4');
  await gotThree;
  t.same(messages, ['hello', 'through', 'lb4']);
  const head = ws.heads[0]!;
  t.match(head, /^GET \/chat HTTP\/1\.1\r\n/);
  t.match(head, /\r\nupgrade: websocket/i, 'Upgrade kept when upgrading');
  t.match(head, /\r\nConnection: upgrade/i);
  t.match(head, /\r\nX-Forwarded-For: 127\.0\.0\.1/);
  const closed = new Promise<void>((resolve) => client.addEventListener('close', () => resolve()));
  client.close(1000, 'bye');
  await closed;
  const line = await lb.waitForLog((l) => l.msg === 'request' && l.path === '/chat');
  t.equal(line.status, 101);
  const conn = await lb.waitForLog((l) => l.msg === 'connection');
  t.equal(conn.backend, 'ws');
  t.ok(conn.bytes_in > 0 && conn.bytes_out > 0, 'tunnel bytes counted');
});

t.test('upgrade declined by the backend: a normal answer, then close', async (t) => {
  const b = await httpBackend('plain');
  t.teardown(() => b.close());
  const lb = await withLb4(t, l7Args([`${b.address},name=plain`]));
  const raw = await rawExchange(
    lb.ports[0]!,
    'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  t.equal(statusOf(raw), 200);
  t.match(raw, /\r\nConnection: close\r\n/i);
  t.match(raw, /plain$/);
});
