/**
 * L7 bodies are streamed, never buffered whole: a 256 MiB chunked upload
 * and a 256 MiB Content-Length download through lb4 --mode l7, checking the
 * bytes arrive complete and lb4's resident memory (VmRSS of the child, from
 * /proc) grows by less than 64 MiB while they flow.
 *
 * The baseline is taken after a 32 MiB warm-up transfer: the first large
 * transfer pays one-time costs that are not per-connection buffering (the
 * wasm parser's optimising-tier compile, the allocator and the GC sizing
 * their heaps; about 30-60 MiB that a second transfer does not add again).
 */
import t from 'tap';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { withLb4 } from '../../helpers/lb4.js';
import { httpBackend } from '../../helpers/backends.js';
import { l7Args, rssOf } from './_util.js';

const SIZE = 256 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);
const LIMIT = 64 * 1024 * 1024;

/** POST `size` bytes chunked to lb4 with backpressure; resolves with the answer body. */
function upload(port: number, size: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = http.request(
      { port, host: '127.0.0.1', method: 'POST', path: '/upload', agent: false, headers: { 'transfer-encoding': 'chunked' } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(text));
      },
    );
    req.on('error', reject);
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        sent += CHUNK.length;
        if (!req.write(CHUNK)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** Sample the RSS of `pid` every 50 ms until stop() is called; returns the peak. */
function sampler(pid: number): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await rssOf(pid).catch(() => 0));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

t.test('256 MiB chunked upload streams through with bounded memory', { timeout: 120_000 }, async (t) => {
  let received = 0;
  const b = await httpBackend('sink', {
    handler: (req, res) => {
      req.on('data', (d: Buffer) => (received += d.length));
      req.on('end', () => {
        const body = String(received);
        res.writeHead(200, { 'content-length': body.length });
        res.end(body);
      });
    },
  });
  t.teardown(() => b.close());
  const lb = await withLb4(t, l7Args([`${b.address},name=sink`]));
  const pid = lb.proc.pid!;
  t.equal(Number(await upload(lb.ports[0]!, 32 * 1024 * 1024)), 32 * 1024 * 1024, 'warm-up upload');
  received = 0;
  await new Promise((r) => setTimeout(r, 300));
  const base = await rssOf(pid);
  const s = sampler(pid);
  const answer = await upload(lb.ports[0]!, SIZE);
  const peak = await s.stop();
  t.equal(Number(answer), SIZE, 'the backend got every byte');
  t.ok(peak - base < LIMIT, `lb4 RSS grew by ${((peak - base) / 1048576).toFixed(1)} MiB (< 64 MiB)`);
});

t.test('256 MiB Content-Length download streams through with bounded memory', { timeout: 120_000 }, async (t) => {
  const b = await httpBackend('source', {
    handler: (req, res) => {
      req.resume();
      const size = req.url === '/big' ? SIZE : req.url === '/warm' ? 32 * 1024 * 1024 : 1;
      res.writeHead(200, { 'content-length': size });
      let sent = 0;
      const pump = (): void => {
        while (sent < size) {
          const n = Math.min(CHUNK.length, size - sent);
          sent += n;
          if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    },
  });
  t.teardown(() => b.close());
  const lb = await withLb4(t, l7Args([`${b.address},name=source`]));
  const pid = lb.proc.pid!;
  // a raw client that reads slowly at first (backpressure), then fast
  const sock = net.connect({ port: lb.ports[0]!, host: '127.0.0.1' });
  t.teardown(() => sock.destroy());
  await once(sock, 'connect');
  // warm-up: 32 MiB on the same connection, read to the end of its body
  sock.write('GET /warm HTTP/1.1\r\nHost: x\r\n\r\n');
  await new Promise<void>((resolve) => {
    let n = 0;
    let h = Buffer.alloc(0);
    let inBody = false;
    const onData = (d: Buffer): void => {
      if (!inBody) {
        h = Buffer.concat([h, d]);
        const e = h.indexOf('\r\n\r\n');
        if (e < 0) return;
        inBody = true;
        n = h.length - e - 4;
      } else n += d.length;
      if (n >= 32 * 1024 * 1024) {
        sock.off('data', onData);
        resolve();
      }
    };
    sock.on('data', onData);
  });
  await new Promise((r) => setTimeout(r, 300));
  const base = await rssOf(pid);
  const s = sampler(pid);
  let got = 0;
  let headEnd = -1;
  let head = Buffer.alloc(0);
  sock.pause();
  sock.write('GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await new Promise((r) => setTimeout(r, 500)); // lb4 must hold, not buffer, while we do not read
  const mid = await rssOf(pid);
  t.ok(mid - base < LIMIT, `while the client does not read: +${((mid - base) / 1048576).toFixed(1)} MiB`);
  const done = new Promise<void>((resolve, reject) => {
    sock.on('data', (d: Buffer) => {
      if (headEnd < 0) {
        head = Buffer.concat([head, d]);
        headEnd = head.indexOf('\r\n\r\n');
        if (headEnd >= 0) got += head.length - headEnd - 4;
      } else got += d.length;
    });
    sock.on('end', () => resolve());
    sock.on('error', reject);
  });
  sock.resume();
  await done;
  const peak = await s.stop();
  t.match(head.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);
  t.equal(got, SIZE, 'every byte arrived');
  t.ok(peak - base < LIMIT, `lb4 RSS grew by ${((peak - base) / 1048576).toFixed(1)} MiB (< 64 MiB)`);
});
