/**
 * TLS termination settings shared by every TLS listener:
 *
 * - Certificates: the default pair (--tls-cert/--tls-key) and more chosen by
 *   SNI (config `certificates: [{cert, key}]`, --tls-cert-dir DIR with
 *   NAME.crt + NAME.key). A certificate serves the names in its
 *   subjectAltName (its CN when it has none) and, from the directory, its
 *   file name. Exact names win over `*.suffix` wildcards; no match → default.
 * - Protocol floor TLS 1.2 (--tls-min-version), TLS 1.2 ciphers limited to
 *   ECDHE with AEAD (--tls-ciphers; TLS 1.3 suites are all AEAD), server
 *   cipher order.
 * - ALPN (--alpn; `http/1.1` in l7 by default).
 * - Session resumption: tickets, with the key rotated every
 *   --tls-ticket-rotation (a timer, unref'd; tickets from before the last
 *   rotation fall back to a full handshake), and a bounded in-memory session
 *   cache for session-ID resumption (TLS 1.2 clients without tickets).
 * - mTLS (--tls-client-ca): client certificates required and verified.
 * - reload(): SIGHUP re-reads every certificate; open connections keep theirs.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext, type SecureContext, type Server as TlsServer, type TlsOptions } from 'node:tls';
import type { Config } from '../config/types.js';
import { SniRouter } from './sni.js';

/** Most entries in the session-ID cache (oldest evicted first). */
const SESSION_CACHE_MAX = 20_000;
/** Lifetime of a TLS session (tickets and cache), seconds. */
const SESSION_TIMEOUT_S = 300;

interface Loaded {
  cert: Buffer;
  key: Buffer;
  names: string[];
  source: string;
}

type Log = { warn(o: object, msg: string): void; info(o: object, msg: string): void };

/** DNS names a certificate serves: its DNS subjectAltNames, else its CN. */
export function certificateNames(cert: Buffer): string[] {
  const x = new X509Certificate(cert);
  const names: string[] = [];
  for (const part of (x.subjectAltName ?? '').split(',')) {
    const p = part.trim();
    if (p.startsWith('DNS:')) names.push(p.slice(4).toLowerCase());
  }
  if (names.length === 0) {
    const m = /(?:^|\n)CN=([^\n]+)/.exec(x.subject);
    if (m) names.push(m[1]!.trim().toLowerCase());
  }
  return names;
}

/**
 * Whether a serialized session (OpenSSL's DER SSL_SESSION: SEQUENCE {
 * version INTEGER 1, sslVersion INTEGER, ...}) is a TLS 1.3 one (0x0304).
 * Reads a few bytes; no allocation.
 */
export function isTls13Session(der: Buffer): boolean {
  if (der.length < 12 || der[0] !== 0x30) return false;
  const l = der[1]!;
  const at = l < 0x80 ? 2 : 2 + (l & 0x7f); // after the SEQUENCE length
  return der[at] === 0x02 && der[at + 1] === 0x01 && der[at + 3] === 0x02 && der[at + 4] === 0x02 && der[at + 5] === 0x03 && der[at + 6] === 0x04;
}

export class TlsTerminator {
  private config: Config;
  private readonly log: Log;
  private readonly servers: TlsServer[] = [];
  private router: SniRouter<SecureContext> = new SniRouter([]);
  private contexts: SecureContext[] = [];
  private ticketKeys: Buffer = randomBytes(48);
  private rotateTimer: NodeJS.Timeout | null = null;
  /** Keys come from the --workers primary (shared by every worker); no local rotation. */
  private sharedKeys = false;
  private readonly sessions = new Map<string, Buffer>();

  constructor(config: Config, log: Log) {
    this.config = config;
    this.log = log;
    this.loadSni();
  }

  /** Options shared by the context of every certificate. */
  private contextOptions(): TlsOptions {
    const c = this.config;
    const o: TlsOptions = {
      minVersion: c.tlsMinVersion,
      ciphers: c.tlsCiphers,
      honorCipherOrder: true,
      sessionTimeout: SESSION_TIMEOUT_S,
    };
    if (c.tlsClientCa !== null) o.ca = readFileSync(c.tlsClientCa);
    return o;
  }

  /** Options for tls.createServer (the default certificate, SNI, ALPN, mTLS). */
  serverOptions(): TlsOptions {
    const c = this.config;
    const o: TlsOptions = {
      ...this.contextOptions(),
      cert: readFileSync(c.tlsCert!),
      key: readFileSync(c.tlsKey!),
      ticketKeys: this.ticketKeys,
      SNICallback: (servername, cb) => cb(null, this.router.route(servername)),
    };
    const alpn = c.alpn.length > 0 ? [...c.alpn] : c.mode === 'l7' ? ['http/1.1'] : null;
    if (alpn) o.ALPNProtocols = alpn;
    if (c.tlsClientCa !== null) {
      o.requestCert = true;
      o.rejectUnauthorized = true;
    }
    return o;
  }

  /** Take charge of a server: session cache events, ticket keys, rotation. */
  attach(server: TlsServer): void {
    this.servers.push(server);
    server.on('newSession', (id: Buffer, data: Buffer, cb: () => void) => {
      // TLS 1.3 resumes with tickets only (RFC 8446 section 2.2; ours are
      // stateless): OpenSSL reports each ticket it sends (two per
      // handshake), and a cache entry for them would never be looked up.
      if (isTls13Session(data)) {
        cb();
        return;
      }
      const k = id.toString('hex');
      if (this.sessions.size >= SESSION_CACHE_MAX) this.sessions.delete(this.sessions.keys().next().value!);
      this.sessions.set(k, data);
      cb();
    });
    server.on('resumeSession', (id: Buffer, cb: (err: Error | null, data: Buffer | null) => void) => {
      cb(null, this.sessions.get(id.toString('hex')) ?? null);
    });
    server.setTicketKeys(this.ticketKeys);
    this.scheduleRotation();
  }

  private scheduleRotation(): void {
    if (this.rotateTimer !== null || this.sharedKeys || this.config.tlsTicketRotation <= 0) return;
    this.rotateTimer = setInterval(() => this.rotateTicketKeys(), this.config.tlsTicketRotation);
    this.rotateTimer.unref();
  }

  /** New ticket key for every server and SNI context. */
  rotateTicketKeys(): void {
    this.applyTicketKeys(randomBytes(48));
  }

  /**
   * Use ticket keys chosen elsewhere (the --workers primary sends the same
   * 48-byte key to every worker and rotates it), so a client resumes its
   * session whichever worker the kernel hands its next connection to.
   * Stops this terminator's own rotation.
   */
  useSharedTicketKeys(keys: Buffer): void {
    this.sharedKeys = true;
    if (this.rotateTimer !== null) {
      clearInterval(this.rotateTimer);
      this.rotateTimer = null;
    }
    this.applyTicketKeys(keys);
  }

  private applyTicketKeys(keys: Buffer): void {
    this.ticketKeys = keys;
    for (const s of this.servers) s.setTicketKeys(keys);
    for (const ctx of this.contexts) setContextTicketKeys(ctx, keys);
  }

  /** Read the SNI certificates (config list, then the directory) into a router. */
  private loadSni(): void {
    const c = this.config;
    const loaded: Loaded[] = [];
    for (const e of c.certificates) {
      const cert = readFileSync(e.cert);
      loaded.push({ cert, key: readFileSync(e.key), names: certificateNames(cert), source: e.cert });
    }
    if (c.tlsCertDir !== null) {
      for (const f of readdirSync(c.tlsCertDir).sort()) {
        if (!f.endsWith('.crt')) continue;
        const base = f.slice(0, -4);
        const keyFile = join(c.tlsCertDir, `${base}.key`);
        let key: Buffer;
        try {
          key = readFileSync(keyFile);
        } catch {
          this.log.warn({ file: join(c.tlsCertDir, f) }, 'certificate without a key file; skipped');
          continue;
        }
        const cert = readFileSync(join(c.tlsCertDir, f));
        const names = certificateNames(cert);
        if (!names.includes(base.toLowerCase())) names.unshift(base.toLowerCase());
        loaded.push({ cert, key, names, source: join(c.tlsCertDir, f) });
      }
    }
    const routes: Array<{ pattern: string; target: SecureContext }> = [];
    const contexts: SecureContext[] = [];
    const base = this.contextOptions();
    for (const l of loaded) {
      const ctx = createSecureContext({ ...base, cert: l.cert, key: l.key });
      setContextTicketKeys(ctx, this.ticketKeys);
      contexts.push(ctx);
      for (const n of l.names) {
        if (!/^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(n)) continue;
        routes.push({ pattern: n, target: ctx });
      }
    }
    this.router = new SniRouter(routes);
    this.contexts = contexts;
  }

  /**
   * SIGHUP: re-read the default certificate and the SNI set (keeping the
   * running ones on any error); open connections are untouched.
   */
  reload(config: Config): void {
    const old = this.config;
    this.config = config;
    try {
      const opts = this.serverOptions();
      this.loadSni();
      for (const s of this.servers) {
        s.setSecureContext({ ...opts, SNICallback: undefined, ticketKeys: undefined } as TlsOptions);
        s.setTicketKeys(this.ticketKeys);
      }
      this.log.info({ certificates: this.contexts.length + 1 }, 'certificates reloaded');
    } catch (err) {
      this.config = old;
      this.log.warn({ err: (err as Error).message }, 'certificate reload failed; keeping the old certificates');
    }
  }

  stop(): void {
    if (this.rotateTimer !== null) clearInterval(this.rotateTimer);
    this.rotateTimer = null;
  }
}

/** SecureContext.context.setTicketKeys: Node's own Server.setTicketKeys does this on its default context. */
function setContextTicketKeys(ctx: SecureContext, keys: Buffer): void {
  const native = (ctx as unknown as { context?: { setTicketKeys?(k: Buffer): void } }).context;
  native?.setTicketKeys?.(keys);
}
