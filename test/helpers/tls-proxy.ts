/**
 * Helpers for the TLS / SNI / PROXY protocol end-to-end tests
 * (test/integration/tls-proxy/): a backend that parses the PROXY header it
 * receives, TLS backends that say their name, extra certificates (client
 * certificates for mTLS), a raw ClientHello capture, and an HAProxy runner.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import { parseProxyHeader, type ProxyHeader } from '../../src/l4/proxy-protocol.js';
import { openssl, type TestCerts } from './certs.js';

/** What a PROXY-parsing backend saw on one connection. */
export interface SeenHeader {
  header: ProxyHeader | null;
  error: string | null;
  /** the socket peer (lb4) */
  peer: string;
}

export interface ProxyBackend {
  port: number;
  address: string;
  /** one entry per connection, in order */
  seen: SeenHeader[];
  /** resolves with the n-th (1-based) connection's header */
  waitSeen(n: number, timeoutMs?: number): Promise<SeenHeader>;
  close(): Promise<void>;
}

/**
 * A backend that requires a PROXY header (v1 or v2): on a good one it writes
 * one JSON line `{"src": ip, "sport": port, "dst": ..., "cmd": ...}` and then
 * echoes; on a bad one it writes `ERR reason` and closes. With `tls`, the
 * bytes after the header are a TLS connection it terminates.
 */
export async function proxyBackend(opts: { tls?: { cert: string; key: string } } = {}): Promise<ProxyBackend> {
  const seen: SeenHeader[] = [];
  const waiters: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const secure = opts.tls ? tls.createSecureContext({ cert: readFileSync(opts.tls.cert), key: readFileSync(opts.tls.key) }) : null;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const r = parseProxyHeader(buf);
      if (r.status === 'incomplete') return;
      s.removeListener('data', onData);
      s.pause();
      const entry: SeenHeader = { header: r.status === 'ok' ? r.header : null, error: r.status === 'error' ? r.reason : null, peer: `${s.remoteAddress}:${s.remotePort}` };
      seen.push(entry);
      for (const w of waiters.splice(0)) w();
      if (r.status !== 'ok') {
        s.end(`ERR ${r.reason}\n`);
        return;
      }
      const rest = buf.subarray(r.length);
      if (rest.length > 0) s.unshift(rest);
      const h = r.header;
      const line = `${JSON.stringify({ cmd: h.command, family: h.family, src: h.sourceAddress ?? null, sport: h.sourcePort ?? null, dst: h.destinationAddress ?? null, dport: h.destinationPort ?? null, alpn: h.alpn ?? null, authority: h.authority ?? null, cn: h.ssl?.cn ?? null, sslVersion: h.ssl?.version ?? null })}\n`;
      if (secure) {
        const t = new tls.TLSSocket(s, { isServer: true, secureContext: secure });
        t.on('error', () => {});
        t.write(line);
        t.pipe(t);
      } else {
        s.write(line);
        s.pipe(s);
      }
    };
    s.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    seen,
    waitSeen(n, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for PROXY header #${n} (have ${seen.length})`)), timeoutMs);
        const check = (): void => {
          if (seen.length >= n) {
            clearTimeout(timer);
            resolve(seen[n - 1]!);
          } else waiters.push(check);
        };
        check();
      });
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

export interface TlsNamedBackend {
  port: number;
  address: string;
  /** server names (SNI) the backend's handshakes saw */
  servernames: Array<string | false>;
  close(): Promise<void>;
}

/** A TLS server that writes `${name}\n` after the handshake, then echoes. */
export async function tlsNamedBackend(name: string, certs: { cert: string; key: string }): Promise<TlsNamedBackend> {
  const servernames: Array<string | false> = [];
  const sockets = new Set<net.Socket>();
  const server = tls.createServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }, (s) => {
    servernames.push((s as tls.TLSSocket & { servername?: string | false }).servername ?? false);
    s.on('error', () => {});
    s.write(`${name}\n`);
    s.pipe(s);
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    address: `127.0.0.1:${port}`,
    servernames,
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

/** A client certificate signed by `certs`' CA (for mTLS); returns cert and key paths. */
export async function makeClientCert(certs: TestCerts, cn: string): Promise<{ cert: string; key: string }> {
  const p = (f: string): string => join(certs.dir, f);
  const base = `client-${cn.replace(/[^A-Za-z0-9]/g, '_')}`;
  writeFileSync(p(`${base}.ext`), 'basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n');
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p(`${base}.key`)]);
  await openssl(['req', '-new', '-sha256', '-key', p(`${base}.key`), '-subj', `/CN=${cn}`, '-out', p(`${base}.csr`)]);
  await openssl([
    'x509', '-req', '-sha256', '-days', '2', '-in', p(`${base}.csr`), '-CA', certs.ca, '-CAkey', p('ca.key'),
    '-set_serial', `0x${Date.now().toString(16)}1`, '-extfile', p(`${base}.ext`), '-out', p(`${base}.crt`),
  ]);
  return { cert: p(`${base}.crt`), key: p(`${base}.key`) };
}

/**
 * The bytes of a real ClientHello: a Node TLS client connects to a throw-away
 * server that records the first bytes and closes. `padTo` adds cipher suites
 * until the hello is larger than one TCP segment.
 */
export async function captureClientHello(servername: string, opts: { big?: boolean } = {}): Promise<Buffer> {
  let got = Buffer.alloc(0);
  const done = new Promise<Buffer>((resolve) => {
    const server = net.createServer((s) => {
      s.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= 5 && got.length >= 5 + got.readUInt16BE(3)) {
          s.destroy();
          server.close();
          resolve(got);
        }
      });
      s.on('error', () => {});
    });
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      const c = tls.connect({
        port,
        host: '127.0.0.1',
        servername,
        rejectUnauthorized: false,
        // a long ALPN list makes a hello bigger than one 1460-byte segment
        ALPNProtocols: opts.big ? Array.from({ length: 300 }, (_, i) => `proto-${i}-padding`) : ['http/1.1'],
      });
      c.on('error', () => {});
    });
  });
  return done;
}

/** Path of haproxy, or null when it is not installed. */
export function haproxyPath(): string | null {
  for (const p of ['/usr/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/sbin/haproxy']) if (existsSync(p)) return p;
  const r = spawnSync('sh', ['-c', 'command -v haproxy'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

/** A free TCP port on 127.0.0.1 (for programs that cannot bind port 0 and report it). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Is something listening on 127.0.0.1:port (from /proc/net/tcp, without connecting)? */
function listening(port: number): boolean {
  try {
    const hex = port.toString(16).toUpperCase().padStart(4, '0');
    return readFileSync('/proc/net/tcp', 'utf8')
      .split('\n')
      .some((l) => {
        const f = l.trim().split(/\s+/);
        return f[1] === `0100007F:${hex}` && f[3] === '0A';
      });
  } catch {
    return false;
  }
}

/** Starts `haproxy -f cfg -db` with `config` written to `dir`; resolves when it listens on `port`. */
export async function startHaproxy(bin: string, dir: string, config: string, port: number): Promise<ChildProcess> {
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, config);
  const p = spawn(bin, ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  p.stdout!.resume();
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (p.exitCode !== null) throw new Error(`haproxy exited ${p.exitCode}: ${err}`);
    if (listening(port)) return p;
    if (Date.now() > deadline) {
      p.kill('SIGKILL');
      throw new Error(`haproxy did not listen on ${port}: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
