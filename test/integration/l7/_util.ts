/**
 * Helpers shared by the L7 integration tests (not a test file): a raw
 * HTTP/1.1 client that keeps ONE connection and reads responses framed by
 * Content-Length or chunked encoding, a raw exchange (write bytes, read
 * until close), and small backends (delayed, counting).
 */
import net from 'node:net';
import http from 'node:http';
import { once } from 'node:events';
import { httpBackend, type HttpBackend } from '../../helpers/backends.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RawResponse {
  status: number;
  /** header lines as [name, value], in order, case kept */
  headers: Array<[string, string]>;
  body: Buffer;
  /** first value of a header (case-insensitive) */
  get(name: string): string | undefined;
}

function header(headers: Array<[string, string]>, name: string): string | undefined {
  const n = name.toLowerCase();
  for (const [k, v] of headers) if (k.toLowerCase() === n) return v;
  return undefined;
}

/**
 * One client connection; `read()` returns the next response. Responses
 * without Content-Length and not chunked are read until the close.
 */
export class RawClient {
  readonly socket: net.Socket;
  private buf = Buffer.alloc(0);
  private ended = false;
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static async open(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const s = net.connect({ port, host, allowHalfOpen: true });
    await once(s, 'connect');
    return new RawClient(s);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async more(deadline: number): Promise<void> {
    if (this.ended) throw new Error('connection closed');
    const left = deadline - Date.now();
    if (left <= 0) throw new Error('timed out reading a response');
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, left);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Send a request and read its response. */
  async request(data: string | Buffer, timeoutMs = 15_000): Promise<RawResponse> {
    this.write(data);
    return this.read(timeoutMs);
  }

  /** Read the next response (the response to a HEAD request has no body: pass head=true). */
  async read(timeoutMs = 15_000, head = false): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    let end: number;
    while ((end = this.buf.indexOf('\r\n\r\n')) < 0) await this.more(deadline);
    const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
    this.buf = this.buf.subarray(end + 4);
    const status = Number(lines[0]!.split(' ')[1]);
    const headers: Array<[string, string]> = lines.slice(1).map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i), l.slice(i + 1).trim()];
    });
    const cl = header(headers, 'content-length');
    const te = header(headers, 'transfer-encoding');
    let body: Buffer;
    if (head || status === 204 || status === 304 || (status >= 100 && status < 200)) body = Buffer.alloc(0);
    else if (cl !== undefined) {
      const n = Number(cl);
      while (this.buf.length < n) await this.more(deadline);
      body = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
    } else if (te !== undefined && /chunked/i.test(te)) {
      const parts: Buffer[] = [];
      for (;;) {
        let le: number;
        while ((le = this.buf.indexOf('\r\n')) < 0) await this.more(deadline);
        const size = parseInt(this.buf.subarray(0, le).toString('latin1'), 16);
        while (this.buf.length < le + 2 + size + 2) await this.more(deadline);
        if (size === 0) {
          // no trailers in our tests
          this.buf = this.buf.subarray(le + 4);
          break;
        }
        parts.push(this.buf.subarray(le + 2, le + 2 + size));
        this.buf = this.buf.subarray(le + 2 + size + 2);
      }
      body = Buffer.concat(parts);
    } else {
      while (!this.ended) await this.more(deadline).catch(() => undefined);
      body = this.buf;
      this.buf = Buffer.alloc(0);
    }
    return { status, headers, body, get: (n: string) => header(headers, n) };
  }

  /** Resolves when the connection is closed (or after timeoutMs, false). */
  async waitClose(timeoutMs = 15_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && !this.ended) {
      if (Date.now() >= deadline) return false;
      await this.more(deadline).catch(() => undefined);
    }
    return true;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Write `data` on a fresh connection, end nothing, read until lb4 closes; returns everything read. */
export async function rawExchange(port: number, data: string | Buffer, timeoutMs = 15_000): Promise<string> {
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  s.on('error', () => {});
  await once(s, 'connect');
  s.write(data);
  const closed = new Promise<void>((resolve) => {
    s.on('end', () => resolve());
    s.on('close', () => resolve());
  });
  const timer = sleep(timeoutMs).then(() => 'timeout');
  const r = await Promise.race([closed, timer]);
  s.destroy();
  const text = Buffer.concat(chunks).toString('latin1');
  if (r === 'timeout') throw new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(text.slice(0, 200))}`);
  return text;
}

/** Status code of the first response in `raw` (0 when none). */
export function statusOf(raw: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  return m ? Number(m[1]) : 0;
}

/** An HTTP backend whose answers (body: its name) are delayed by `delayMs`. */
export function delayedBackend(name: string, delayMs: number): Promise<HttpBackend> {
  return httpBackend(name, {
    handler: (req, res) => {
      req.resume();
      req.on('end', () => {
        setTimeout(() => {
          res.writeHead(200, { 'x-backend': name, 'content-length': Buffer.byteLength(name) });
          res.end(name);
        }, delayMs);
      });
    },
  });
}

/** What headEchoBackend() answers: the request head it received. */
export interface Echo {
  name: string;
  method: string;
  url: string;
  rawHeaders: string[];
  httpVersion: string;
}

/** Backends that echo the request head they received as JSON (rawHeaders, url, method). */
export function headEchoBackend(name: string): Promise<HttpBackend> {
  return httpBackend(name, {
    handler: (req: http.IncomingMessage, res: http.ServerResponse) => {
      req.resume();
      req.on('end', () => {
        const body = JSON.stringify({ name, method: req.method, url: req.url, rawHeaders: req.rawHeaders, httpVersion: req.httpVersion });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    },
  });
}

/** A raw TCP backend: counts connections and bytes, answers with `reply(dataSoFar)` when it returns a string. */
export interface RawBackend {
  port: number;
  address: string;
  bytes: number;
  accepted: number;
  received: Buffer[];
  server: net.Server;
  close(): Promise<void>;
}

export async function rawBackend(onData?: (sock: net.Socket, all: Buffer) => void): Promise<RawBackend> {
  const sockets = new Set<net.Socket>();
  const rb: RawBackend = {
    port: 0,
    address: '',
    bytes: 0,
    accepted: 0,
    received: [],
    server: net.createServer({ allowHalfOpen: true }, (sock) => {
      rb.accepted++;
      sockets.add(sock);
      let all = Buffer.alloc(0);
      sock.on('data', (d: Buffer) => {
        rb.bytes += d.length;
        rb.received.push(d);
        all = Buffer.concat([all, d]);
        onData?.(sock, all);
      });
      sock.on('error', () => {});
      sock.on('close', () => sockets.delete(sock));
    }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        rb.server.close(() => resolve());
      }),
  };
  rb.server.listen(0, '127.0.0.1');
  await once(rb.server, 'listening');
  rb.port = (rb.server.address() as net.AddressInfo).port;
  rb.address = `127.0.0.1:${rb.port}`;
  return rb;
}

/** VmRSS of a process in bytes (Linux /proc). */
export async function rssOf(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

/** lb4 flags every L7 test uses. */
export function l7Args(backends: string[], extra: string[] = []): string[] {
  return ['--mode', 'l7', '--listen', '127.0.0.1:0', '--health-check', 'off', ...backends.flatMap((b) => ['--backend', b]), ...extra];
}
