/**
 * Many client connections at once (test/torture/, the edge tests): open
 * `count` of them with a bound on how many connects are in flight, each
 * doing a short exchange once connected (a byte echoed, an HTTP request; a
 * TLS handshake first when asked), then hold them; count each by outcome
 * (held, closed by the other side first, connect failed); close them all
 * together and wait until every one is closed.
 *
 * A held connection that closes by itself is counted (`dropped`): a test
 * that holds connections can tell "all held" from "held, then lost".
 *
 * The sockets are plain net/tls sockets without the read helpers of
 * clients.ts (ten thousand of them stay light); after its exchange a socket
 * keeps reading and drops what it reads.
 */
import net from 'node:net';
import tls from 'node:tls';

/** What a connection does once connected (and through its TLS handshake); rejects when it fails. */
export type Exchange = (s: net.Socket, i: number) => Promise<void>;

export interface FleetOptions {
  port: number;
  /** default 127.0.0.1 */
  host?: string;
  count: number;
  /** connects (and exchanges) in flight at once; default 200 */
  parallel?: number;
  /** client source addresses (127.x.y.z), used in turn: more ports to connect from */
  sources?: readonly string[];
  /** TLS options: connect with TLS, the handshake is part of opening */
  tls?: tls.ConnectionOptions;
  /** after connect; default none */
  exchange?: Exchange;
  /** bound on one connection's opening (connect, handshake, exchange); default 30 s */
  timeoutMs?: number;
}

export interface Fleet {
  /** connections open now whose exchange completed */
  readonly held: ReadonlySet<net.Socket>;
  /** connections the other side closed (or reset) before their exchange completed */
  readonly turnedAway: number;
  /** connects that failed (refused, timed out) */
  readonly failed: number;
  /** held connections that closed by themselves, before close() */
  readonly dropped: number;
  /** the first few errors, for messages */
  readonly errors: string[];
  /** destroy every connection (`reset`: with a TCP RST) and resolve once each is closed */
  close(reset?: boolean): Promise<void>;
}

const noop = (): void => {};

/** Opens a fleet (see the module doc); resolves once every connection is held or has failed. */
export async function openFleet(opts: FleetOptions): Promise<Fleet> {
  const host = opts.host ?? '127.0.0.1';
  const parallel = Math.min(opts.parallel ?? 200, opts.count);
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const held = new Set<net.Socket>();
  const all = new Set<net.Socket>();
  const errors: string[] = [];
  let closing = false;
  const counts = { turnedAway: 0, failed: 0, dropped: 0 };
  const note = (i: number, e: unknown): void => {
    if (errors.length < 5) errors.push(`#${i}: ${(e as Error)?.message ?? String(e)}`);
  };

  const openOne = (i: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const localAddress = opts.sources?.length ? opts.sources[i % opts.sources.length] : undefined;
      // tls.connect passes the TCP options (localAddress) on to its socket's connect
      const tcp: net.TcpNetConnectOpts = { port: opts.port, host, localAddress };
      const s: net.Socket = opts.tls ? tls.connect({ ...tcp, ...opts.tls }) : net.connect(tcp);
      all.add(s);
      let connected = false;
      let settled = false;
      const settle = (outcome: 'held' | 'turnedAway' | 'failed', e?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (outcome === 'held') {
          held.add(s);
          s.on('data', noop);
        } else {
          counts[outcome]++;
          if (e !== undefined) note(i, e);
          s.destroy();
        }
        resolve();
      };
      const timer = setTimeout(() => settle(connected ? 'turnedAway' : 'failed', new Error(`not open after ${timeoutMs} ms`)), timeoutMs);
      s.on('error', (e) => {
        if (!settled) settle(connected ? 'turnedAway' : 'failed', e);
      });
      s.once('close', () => {
        all.delete(s);
        if (held.delete(s) && !closing) counts.dropped++;
        settle('turnedAway');
      });
      // TCP connected: a close from here on is lb4 turning it away (TLS: before or during the handshake)
      s.once('connect', () => (connected = true));
      s.once(opts.tls ? 'secureConnect' : 'connect', () => {
        connected = true;
        if (!opts.exchange) return settle('held');
        opts.exchange(s, i).then(
          () => settle(s.destroyed ? 'turnedAway' : 'held'),
          (e: unknown) => settle('turnedAway', e),
        );
      });
    });

  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < opts.count) await openOne(next++);
  };
  await Promise.all(Array.from({ length: parallel }, worker));

  return {
    held,
    get turnedAway() {
      return counts.turnedAway;
    },
    get failed() {
      return counts.failed;
    },
    get dropped() {
      return counts.dropped;
    },
    errors,
    close(reset = false) {
      closing = true;
      const closed = [...all].map((s) => new Promise<void>((r) => s.once('close', () => r())));
      for (const s of all) {
        if (reset && s instanceof net.Socket && !(s instanceof tls.TLSSocket)) s.resetAndDestroy();
        else s.destroy();
      }
      return Promise.all(closed).then(noop);
    },
  };
}

/** Reads exactly `n` bytes (the first `n` to arrive), then stops reading; rejects on end or close first. */
export function readExactly(s: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer): void => {
      chunks.push(d);
      got += d.length;
      if (got >= n) {
        done();
        resolve(Buffer.concat(chunks, got));
      }
    };
    const onEnd = (): void => {
      done();
      reject(new Error(`ended after ${got} of ${n} bytes`));
    };
    const done = (): void => {
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('close', onEnd);
    };
    s.on('data', onData);
    s.once('end', onEnd);
    s.once('close', onEnd);
  });
}

/** An exchange: write `payload`, read it back (an echo backend behind). */
export function echoExchange(payload = 'x'): Exchange {
  const b = Buffer.from(payload);
  return async (s) => {
    s.write(b);
    const got = await readExactly(s, b.length);
    if (!got.equals(b)) throw new Error(`echo: got ${JSON.stringify(got.toString())}`);
  };
}

/** One HTTP/1.1 response read off a raw socket (Content-Length bodies only). */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** Reads one Content-Length response from `s`; rejects on end or close first. Bytes after it are kept for the next call (`rest`). */
export function readHttpResponse(s: net.Socket, rest: { buf: Buffer } = { buf: Buffer.alloc(0) }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let buf = rest.buf;
    const tryParse = (): boolean => {
      const head = buf.indexOf('\r\n\r\n');
      if (head === -1) return false;
      const lines = buf.subarray(0, head).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? NaN);
      const headers = new Map<string, string>();
      for (const l of lines.slice(1)) {
        const c = l.indexOf(':');
        if (c > 0) headers.set(l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim());
      }
      const len = Number(headers.get('content-length') ?? 0);
      if (buf.length < head + 4 + len) return false;
      done();
      const body = Buffer.from(buf.subarray(head + 4, head + 4 + len));
      rest.buf = buf.subarray(head + 4 + len);
      resolve({ status, headers, body });
      return true;
    };
    const onData = (d: Buffer): void => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      tryParse();
    };
    const onEnd = (): void => {
      done();
      reject(new Error(`connection closed before a whole response (${buf.length} bytes)`));
    };
    const done = (): void => {
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('close', onEnd);
    };
    s.on('data', onData);
    s.once('end', onEnd);
    s.once('close', onEnd);
    tryParse();
  });
}

/** An exchange: `GET path` with keep-alive; the answer must be a 200. The connection stays open. */
export function httpExchange(path = '/', host = 'torture.test'): Exchange {
  const req = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  return async (s) => {
    s.write(req);
    const r = await readHttpResponse(s);
    if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
  };
}

/** What churn() counted. */
export interface ChurnResult {
  /** connections that connected, exchanged and closed cleanly */
  ok: number;
  /** connections that failed somewhere (refused, reset, timed out, exchange failed) */
  failed: number;
  /** the first few errors, for messages */
  errors: string[];
  /** wall time of the whole run */
  ms: number;
}

/**
 * `count` short connections, at most `parallel` at once: connect, run
 * `exchange` (a byte echoed by default), end, and wait until the other side
 * has closed too; each bounded by `timeoutMs` (default 30 s). Source
 * addresses (`sources`) are used in turn.
 */
export async function churn(opts: { port: number; count: number; parallel?: number; sources?: readonly string[]; exchange?: Exchange; timeoutMs?: number }): Promise<ChurnResult> {
  const exchange = opts.exchange ?? echoExchange('x');
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const r: ChurnResult = { ok: 0, failed: 0, errors: [], ms: 0 };
  const one = (i: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const localAddress = opts.sources?.length ? opts.sources[i % opts.sources.length] : undefined;
      const s = net.connect({ port: opts.port, host: '127.0.0.1', localAddress });
      let failed: unknown;
      let exchanged = false;
      const timer = setTimeout(() => {
        failed ??= new Error(`not closed after ${timeoutMs} ms`);
        s.destroy();
      }, timeoutMs);
      s.on('error', (e) => (failed ??= e));
      s.once('connect', () => {
        exchange(s, i).then(
          () => {
            exchanged = true;
            s.on('data', noop);
            s.end();
          },
          (e: unknown) => {
            failed ??= e;
            s.destroy();
          },
        );
      });
      s.once('close', () => {
        clearTimeout(timer);
        if (failed === undefined && exchanged) r.ok++;
        else {
          r.failed++;
          if (r.errors.length < 5) r.errors.push(`#${i}: ${(failed as Error)?.message ?? 'closed before the exchange'}`);
        }
        resolve();
      });
    });
  const t0 = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < opts.count) await one(next++);
  };
  await Promise.all(Array.from({ length: Math.min(opts.parallel ?? 200, opts.count) }, worker));
  r.ms = performance.now() - t0;
  return r;
}
