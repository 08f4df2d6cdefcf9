/**
 * Backends for tests: small servers on this process's own loopback address
 * (BACKEND_HOST), port 0 (a free port).
 *
 * Every server tracks its open sockets; `close()` destroys them all and
 * resolves once the server is closed, so a test's teardown never waits on a
 * keep-alive connection. `connections` is the number open now, `accepted` the
 * number accepted since start. `waitForAccepted(n)` waits on events, not
 * sleeps.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { readFileSync } from 'node:fs';

/** What every test backend has. */
export interface TestBackend {
  /** the underlying server */
  readonly server: net.Server;
  /** the address it listens on (BACKEND_HOST) */
  readonly host: string;
  /** the bound port */
  readonly port: number;
  /** `HOST:PORT`, ready for `--backend` */
  readonly address: string;
  /** client connections open right now */
  readonly connections: number;
  /** client connections accepted since start */
  readonly accepted: number;
  /** the open sockets (destroy one to simulate a backend reset) */
  readonly sockets: ReadonlySet<net.Socket>;
  /** emits `connection` (socket) and `closed` (socket) */
  readonly events: EventEmitter;
  /** resolves once `accepted >= n`; rejects after `timeoutMs` (default 15 s) */
  waitForAccepted(n: number, timeoutMs?: number): Promise<void>;
  /** resolves once `connections === n`; rejects after `timeoutMs` (default 15 s) */
  waitForConnections(n: number, timeoutMs?: number): Promise<void>;
  /** stops listening and destroys every open socket */
  close(): Promise<void>;
}

/**
 * The loopback address this test process's backends listen on: one of its
 * own in 127.0.0.0/8 on Linux (all of it is local), else 127.0.0.1. Other
 * test files, or a whole other suite, run at the same time on the same
 * machine, and their lb4s keep connecting to backends they have closed; a
 * port of theirs that the kernel hands to a new listener here would take
 * those stray connections (and fail a test that counts connections). On
 * an address of its own, a backend cannot share an address:port with
 * anyone else's.
 */
export const BACKEND_HOST =
  process.platform === 'linux' ? `127.${1 + Math.floor(Math.random() * 254)}.${Math.floor(Math.random() * 256)}.${1 + Math.floor(Math.random() * 254)}` : '127.0.0.1';
const HOST = BACKEND_HOST;

/** Where a backend listens: default BACKEND_HOST, port 0 (another address and a fixed port for DNS-discovered backends). */
export interface ListenAt {
  host?: string;
  port?: number;
}
const DEFAULT_WAIT_MS = 15_000;

function waitFor(
  events: EventEmitter,
  cond: () => boolean,
  what: string,
  timeoutMs: number,
): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!cond()) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      events.off('connection', check);
      events.off('closed', check);
    };
    events.on('connection', check);
    events.on('closed', check);
  });
}

/**
 * Starts `server` on `at` (default BACKEND_HOST, a free port) and builds the common part of a test backend.
 * `onSocket` runs for each accepted socket (already tracked).
 */
async function track(server: net.Server, at: ListenAt = {}): Promise<TestBackend> {
  const host = at.host ?? HOST;
  const sockets = new Set<net.Socket>();
  const events = new EventEmitter();
  let accepted = 0;
  // http.Server emits 'connection' too, with the raw socket.
  server.on('connection', (s: net.Socket) => {
    accepted++;
    sockets.add(s);
    // A reset from lb4 must not crash the test process.
    s.on('error', () => {});
    s.once('close', () => {
      sockets.delete(s);
      events.emit('closed', s);
    });
    events.emit('connection', s);
  });
  server.listen(at.port ?? 0, host);
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  let closing: Promise<void> | undefined;
  const backend: TestBackend = {
    server,
    host,
    port,
    address: `${host}:${port}`,
    get connections() {
      return sockets.size;
    },
    get accepted() {
      return accepted;
    },
    sockets,
    events,
    waitForAccepted(n, timeoutMs = DEFAULT_WAIT_MS) {
      return waitFor(events, () => accepted >= n, `${n} accepted connection(s) on ${port} (have ${accepted})`, timeoutMs);
    },
    waitForConnections(n, timeoutMs = DEFAULT_WAIT_MS) {
      return waitFor(events, () => sockets.size === n, `${n} open connection(s) on ${port} (have ${sockets.size})`, timeoutMs);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        if (server instanceof http.Server) server.closeAllConnections();
      });
      return closing;
    },
  };
  return backend;
}

/**
 * A backend of the test's own making: `onConnection` runs for each accepted
 * socket (already tracked, with an error listener). Closed at the test's
 * teardown. `allowHalfOpen` keeps the write half open after the client's FIN.
 */
export async function tcpBackend(
  t: { teardown(fn: () => unknown): void },
  onConnection: (s: net.Socket) => void,
  opts: { allowHalfOpen?: boolean } = {},
): Promise<TestBackend> {
  const b = await track(net.createServer({ allowHalfOpen: opts.allowHalfOpen ?? false }, onConnection));
  t.teardown(() => b.close());
  return b;
}

/** An echo server: every byte comes back; when the client ends, it ends after echoing everything. */
export interface EchoBackend extends TestBackend {
  /** bytes received over all connections */
  readonly bytesReceived: number;
}

/** Starts an echo backend (allowHalfOpen: the echo continues after the client's FIN). */
export async function echoBackend(): Promise<EchoBackend> {
  let bytesReceived = 0;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d: Buffer) => (bytesReceived += d.length));
    // pipe() ends our write half once the client's end has been echoed,
    // and pauses reading while the client is slow (backpressure).
    s.pipe(s);
  });
  const base = await track(server);
  return Object.defineProperties(base, {
    bytesReceived: { get: () => bytesReceived, enumerable: true },
  }) as EchoBackend;
}

/** A named server that speaks first: writes `name\n` on connect, then echoes. */
export interface NamedBackend extends EchoBackend {
  readonly name: string;
  /** complete lines received (over all connections, oldest first, last 100 kept) */
  readonly lastLines: string[];
}

/**
 * Starts a backend that writes `${name}\n` on each connection, then echoes
 * what it gets; on `at` (a port, e.g. from closedPort(), or a host and
 * port), else on a free port of BACKEND_HOST.
 */
export async function namedBackend(name: string, at: ListenAt | number = {}): Promise<NamedBackend> {
  let bytesReceived = 0;
  const lastLines: string[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    let partial = '';
    s.write(`${name}\n`);
    s.on('data', (d: Buffer) => {
      bytesReceived += d.length;
      partial += d.toString('utf8');
      let i: number;
      while ((i = partial.indexOf('\n')) !== -1) {
        lastLines.push(partial.slice(0, i).replace(/\r$/, ''));
        partial = partial.slice(i + 1);
        if (lastLines.length > 100) lastLines.shift();
      }
    });
    s.pipe(s);
  });
  const base = await track(server, typeof at === 'number' ? { port: at } : at);
  return Object.defineProperties(base, {
    name: { value: name, enumerable: true },
    bytesReceived: { get: () => bytesReceived, enumerable: true },
    lastLines: { value: lastLines, enumerable: true },
  }) as NamedBackend;
}

/** One request as an HTTP backend saw it. */
export interface RecordedRequest {
  method: string;
  url: string;
  httpVersion: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  /** the body (default handler only; empty with a custom handler) */
  body: Buffer;
  /** the client socket's port as the backend saw it (tells connections apart) */
  remotePort: number | undefined;
}

export interface HttpBackendOptions {
  /** status of every answer; default 200 */
  status?: number;
  /** extra response headers */
  headers?: Record<string, string>;
  /** response body; default the backend's name */
  body?: string | Buffer;
  /** replaces the default answer; the request head is recorded before it runs */
  handler?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** server.keepAliveTimeout in ms; default 30 s */
  keepAliveTimeout?: number;
}

export interface HttpBackend extends TestBackend {
  readonly name: string;
  /** requests answered so far */
  readonly requests: number;
  /** the last request seen, or undefined */
  readonly lastRequest: RecordedRequest | undefined;
  /** every request seen, oldest first (last 1000 kept) */
  readonly requestLog: RecordedRequest[];
  /** resolves once `requests >= n` */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
}

/**
 * Starts a keep-alive HTTP/1.1 backend answering every request with
 * `opts.status` (200), header `x-backend: name` and body `name`.
 */
export async function httpBackend(name: string, opts: HttpBackendOptions = {}): Promise<HttpBackend> {
  const requestLog: RecordedRequest[] = [];
  const reqEvents = new EventEmitter();
  let requests = 0;
  let lastRequest: RecordedRequest | undefined;
  const server = http.createServer((req, res) => {
    const rec: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      httpVersion: req.httpVersion,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.alloc(0),
      remotePort: req.socket.remotePort,
    };
    lastRequest = rec;
    requestLog.push(rec);
    if (requestLog.length > 1000) requestLog.shift();
    const count = (): void => {
      requests++;
      reqEvents.emit('request');
    };
    if (opts.handler) {
      count();
      opts.handler(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('error', () => {});
    req.on('end', () => {
      rec.body = Buffer.concat(chunks);
      const body = opts.body ?? name;
      res.writeHead(opts.status ?? 200, {
        'x-backend': name,
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(body),
        ...opts.headers,
      });
      res.end(body);
      count();
    });
  });
  server.keepAliveTimeout = opts.keepAliveTimeout ?? 30_000;
  const base = await track(server);
  return Object.defineProperties(base, {
    name: { value: name, enumerable: true },
    requests: { get: () => requests, enumerable: true },
    lastRequest: { get: () => lastRequest, enumerable: true },
    requestLog: { value: requestLog, enumerable: true },
    waitForRequests: {
      value: (n: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> => {
        if (requests >= n) return Promise.resolve();
        return new Promise<void>((resolve, reject) => {
          const check = (): void => {
            if (requests < n) return;
            clearTimeout(timer);
            reqEvents.off('request', check);
            resolve();
          };
          const timer = setTimeout(() => {
            reqEvents.off('request', check);
            reject(new Error(`timed out after ${timeoutMs} ms waiting for ${n} request(s) on ${name} (have ${requests})`));
          }, timeoutMs);
          reqEvents.on('request', check);
        });
      },
    },
  }) as HttpBackend;
}

/** What a sink saw on one connection. */
export interface SinkConnection {
  /** bytes received from the client */
  bytesReceived: number;
  /** sha256 (hex) of everything received; set when the client's write half ended */
  sha256Received: string | undefined;
  /** bytes written to the client so far */
  bytesSent: number;
  /** sha256 (hex) of everything written; set once the whole writeOnConnect payload is written */
  sha256Sent: string | undefined;
  /** resolves when the client ended and our writes are done (or the socket closed) */
  done: Promise<SinkConnection>;
}

export interface SinkBackendOptions {
  /** on connect, write this Buffer, or this many random bytes, then end the write half */
  writeOnConnect?: Buffer | number;
  /** start every connection paused (not reading); call `resume()` to read */
  paused?: boolean;
  /** chunk size for random data; default 64 KiB */
  chunkSize?: number;
}

export interface SinkBackend extends TestBackend {
  /** bytes received over all connections */
  readonly bytesReceived: number;
  /** sha256 received on the most recent connection (once its client ended) */
  readonly sha256: string | undefined;
  /** sha256 of what the most recent connection sent (once fully written) */
  readonly sentSha256: string | undefined;
  /** one entry per accepted connection, in order */
  readonly conns: SinkConnection[];
  /** resolves with the next (or, if one is pending, the first unfinished) connection's result */
  waitForDone(index?: number, timeoutMs?: number): Promise<SinkConnection>;
  /** stop reading on every open connection (and on new ones) */
  pause(): void;
  /** resume reading on every open connection (and on new ones) */
  resume(): void;
}

/**
 * Starts a sink: reads and counts everything, hashing it per connection.
 * With `writeOnConnect` it also streams data to the client, respecting
 * backpressure, and ends its write half when done. Without it, it ends its
 * write half when the client ends.
 */
export async function sinkBackend(opts: SinkBackendOptions = {}): Promise<SinkBackend> {
  let bytesReceived = 0;
  let paused = opts.paused ?? false;
  const conns: SinkConnection[] = [];
  const live = new Set<net.Socket>();
  const connEvents = new EventEmitter();
  const chunkSize = opts.chunkSize ?? 64 * 1024;

  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => {
    live.add(s);
    const inHash: Hash = createHash('sha256');
    const outHash: Hash = createHash('sha256');
    let readEnded = false;
    let writeDone = false;
    let resolveDone!: (c: SinkConnection) => void;
    const conn: SinkConnection = {
      bytesReceived: 0,
      sha256Received: undefined,
      bytesSent: 0,
      sha256Sent: undefined,
      done: new Promise<SinkConnection>((r) => (resolveDone = r)),
    };
    conns.push(conn);
    connEvents.emit('conn', conn);
    const finish = (): void => resolveDone(conn);
    const maybeDone = (): void => {
      if (readEnded && writeDone) finish();
    };
    s.on('data', (d: Buffer) => {
      bytesReceived += d.length;
      conn.bytesReceived += d.length;
      inHash.update(d);
    });
    s.on('end', () => {
      readEnded = true;
      conn.sha256Received = inHash.digest('hex');
      if (opts.writeOnConnect === undefined) {
        writeDone = true;
        conn.sha256Sent = outHash.digest('hex');
        s.end();
      }
      maybeDone();
    });
    s.once('close', () => {
      live.delete(s);
      finish();
    });

    const w = opts.writeOnConnect;
    if (typeof w === 'number') {
      let left = w;
      const pump = (): void => {
        while (left > 0 && !s.destroyed) {
          const chunk = randomBytes(Math.min(chunkSize, left));
          left -= chunk.length;
          outHash.update(chunk);
          conn.bytesSent += chunk.length;
          if (!s.write(chunk)) {
            s.once('drain', pump);
            return;
          }
        }
        if (left === 0 && !writeDone) {
          writeDone = true;
          conn.sha256Sent = outHash.digest('hex');
          s.end();
          maybeDone();
        }
      };
      pump();
    } else if (w !== undefined) {
      outHash.update(w);
      conn.bytesSent = w.length;
      conn.sha256Sent = outHash.digest('hex');
      writeDone = true;
      s.end(w);
    }
    if (!paused) s.resume();
  });
  const base = await track(server);
  const last = (): SinkConnection | undefined => conns[conns.length - 1];
  return Object.defineProperties(base, {
    bytesReceived: { get: () => bytesReceived, enumerable: true },
    sha256: { get: () => last()?.sha256Received, enumerable: true },
    sentSha256: { get: () => last()?.sha256Sent, enumerable: true },
    conns: { value: conns, enumerable: true },
    waitForDone: {
      value: (index?: number, timeoutMs = DEFAULT_WAIT_MS): Promise<SinkConnection> => {
        const i = index ?? Math.max(0, conns.length - 1);
        const withTimeout = (c: SinkConnection): Promise<SinkConnection> =>
          new Promise((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`timed out after ${timeoutMs} ms waiting for sink connection ${i} to finish`)),
              timeoutMs,
            );
            void c.done.then((r) => {
              clearTimeout(timer);
              resolve(r);
            });
          });
        const existing = conns[i];
        if (existing) return withTimeout(existing);
        return new Promise<SinkConnection>((resolve, reject) => {
          const onConn = (): void => {
            const c = conns[i];
            if (!c) return;
            clearTimeout(timer);
            connEvents.off('conn', onConn);
            withTimeout(c).then(resolve, reject);
          };
          const timer = setTimeout(() => {
            connEvents.off('conn', onConn);
            reject(new Error(`timed out after ${timeoutMs} ms waiting for sink connection ${i}`));
          }, timeoutMs);
          connEvents.on('conn', onConn);
        });
      },
    },
    pause: {
      value: (): void => {
        paused = true;
        for (const s of live) s.pause();
      },
    },
    resume: {
      value: (): void => {
        paused = false;
        for (const s of live) s.resume();
      },
    },
  }) as SinkBackend;
}

/** Whether a listener can bind 127.0.0.1:`port` now (it is closed again at once). */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A port on 127.0.0.1 that nobody listens on. Chosen below the kernel's
 * ephemeral range (ip_local_port_range), where no port-0 listener can land:
 * with other test files (or a whole other suite) running at the same time,
 * a port freed from that range may be handed to someone else's server
 * before the test is done with it.
 */
export async function closedPort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: the usual start of the range
  }
  const min = 10_000;
  for (let i = 0; i < 100 && low > min + 1000; i++) {
    const port = min + Math.floor(Math.random() * (low - min));
    if (await canListen(port)) return port;
  }
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A free port below 1024 on 127.0.0.1 (only root may bind one), or null when 900..1023 are all taken. */
export async function freePrivilegedPort(): Promise<number | null> {
  for (let port = 1023; port >= 900; port--) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, HOST, () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  return null;
}
