/**
 * What lb4 sends a backend besides the client's bytes: the PROXY protocol
 * header (`--send-proxy`, per backend `sendProxy:`) and the upstream
 * TLS options (`--backend-tls`, per backend `tls: true`). Shared by the L4
 * session, the L7 session and the health checker, so all three speak to a
 * backend the same way.
 *
 * Facts about the client (its address after PROXY protocol, TLS details when
 * lb4 terminated TLS) travel in a ClientFacts built by the peek stage.
 */
import { readFileSync } from 'node:fs';
import { isIP, type Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { Backend } from '../core/backend.js';
import type { Config } from '../config/types.js';
import { encodeProxyV1, encodeProxyV2, proxyHeaderFor, PP2_CLIENT, type ProxyHeader, type ProxySsl, type ProxyV2Extras } from './proxy-protocol.js';

/** The client as the peek stage learnt it. */
export interface ClientFacts {
  /** Client IP: the PROXY header's source when one was accepted, else the socket peer. */
  readonly ip: string;
  /** Client port (same rule). */
  readonly port: number;
  /** The PROXY header accepted from a trusted peer, or null. */
  readonly proxy: ProxyHeader | null;
  /** Server name from a peeked ClientHello (passthrough) or the handshake (terminated); null if none. */
  readonly serverName: string | null;
}

/** The PROXY version to send to `b` (0 = none): the backend's own setting, else the global one. */
export function proxyVersionFor(config: Config, b: Backend): 0 | 1 | 2 {
  if (b.sendProxy !== undefined) return b.sendProxy;
  return config.sendProxy ?? 0;
}

/** TLS facts of a terminated client connection as PROXY v2 TLVs (PROXY protocol spec, section 2.2.1, 2.2.2, 2.2.6). */
export function tlsExtras(socket: Socket): ProxyV2Extras | null {
  const s = socket as TLSSocket;
  if (s.encrypted !== true) return null;
  const x: ProxyV2Extras = {};
  if (typeof s.alpnProtocol === 'string' && s.alpnProtocol.length > 0) x.alpn = s.alpnProtocol;
  const servername = (s as TLSSocket & { servername?: string | false }).servername;
  if (typeof servername === 'string' && servername.length > 0) x.authority = servername;
  const ssl: ProxySsl = { client: PP2_CLIENT.SSL, verify: 0 };
  const version = s.getProtocol();
  if (version) ssl.version = version;
  const cipher = s.getCipher();
  if (cipher) ssl.cipher = cipher.standardName ?? cipher.name;
  const peer = s.getPeerCertificate();
  if (peer && Object.keys(peer).length > 0) {
    ssl.client |= PP2_CLIENT.CERT_CONN;
    if (s.isSessionReused()) ssl.client |= PP2_CLIENT.CERT_SESS;
    ssl.verify = s.authorized ? 0 : 1;
    const cn = peer.subject?.CN;
    if (s.authorized && typeof cn === 'string') ssl.cn = cn;
  }
  x.ssl = ssl;
  return x;
}

/**
 * The header to write first on a connection to `b`, or null. `client` is the
 * client socket (the destination is its local address), `facts` what the
 * peek stage learnt. v2 carries ALPN/authority/SSL TLVs when lb4 terminated
 * TLS, or the TLVs a trusted upstream sent us, passed on.
 */
export function proxyHeaderToSend(config: Config, b: Backend, client: Socket, facts: ClientFacts): Buffer | null {
  const v = proxyVersionFor(config, b);
  if (v === 0) return null;
  const src = { address: facts.ip, port: facts.port };
  const dst = { address: client.localAddress, port: client.localPort };
  if (v === 1) return proxyHeaderFor(1, src, dst);
  let extras = tlsExtras(client);
  if (extras === null && facts.proxy !== null) {
    const p = facts.proxy;
    if (p.alpn !== undefined || p.authority !== undefined || p.ssl !== undefined) {
      extras = {};
      if (p.alpn !== undefined) extras.alpn = p.alpn;
      if (p.authority !== undefined) extras.authority = p.authority;
      if (p.ssl !== undefined) extras.ssl = p.ssl;
    }
  }
  return proxyHeaderFor(2, src, dst, extras ?? undefined);
}

const CHECK_V1 = encodeProxyV1({ family: 'UNKNOWN' });
const CHECK_V2 = encodeProxyV2({ command: 'LOCAL', family: 'UNKNOWN' });

/**
 * The header a health check of `b` sends (HAProxy `check-send-proxy`): v2
 * LOCAL or v1 UNKNOWN, since a check carries no client. `healthCheck.sendProxy`
 * true forces one (v2 unless the backend asks for v1), false forbids it,
 * absent follows the backend's setting.
 */
export function checkProxyHeader(config: Config, b: Backend): Buffer | null {
  const want = config.healthCheck.sendProxy;
  const v = proxyVersionFor(config, b);
  if (want === false) return null;
  if (want === undefined && v === 0) return null;
  return v === 1 ? CHECK_V1 : CHECK_V2;
}

/**
 * The upstream options of one balancer (the stream's UpstreamService): the
 * PROXY header and TLS options for each backend, with the TLS options and CA
 * files cached per backend and config (decided once, not per connection: built once, not per
 * connection). The caches belong to the instance: two balancers in one
 * process share nothing.
 */
export class UpstreamOptions {
  private readonly getConfig: () => Config;
  private readonly tlsCache = new WeakMap<Backend, { config: Config; options: ConnectionOptions | null }>();
  private readonly caCache = new Map<string, Buffer>();

  constructor(getConfig: () => Config) {
    this.getConfig = getConfig;
  }

  proxyHeader(b: Backend, client: Socket, facts: ClientFacts): Buffer | null {
    return proxyHeaderToSend(this.getConfig(), b, client, facts);
  }

  /** The header a health check of `b` sends, or null (see checkProxyHeader). */
  checkHeader(b: Backend): Buffer | null {
    return checkProxyHeader(this.getConfig(), b);
  }

  /** Forget cached CA files (SIGHUP re-reads them). */
  clear(): void {
    this.caCache.clear();
  }

  private readCa(file: string): Buffer {
    let ca = this.caCache.get(file);
    if (!ca) {
      ca = readFileSync(file);
      this.caCache.set(file, ca);
    }
    return ca;
  }

  /**
   * TLS options for connecting to `b`, or null for plain TCP. Built once per
   * backend and config. Verification is on unless the backend or
   * --backend-tls-insecure turns it off; SNI is the backend's `servername`,
   * else its host when that is a name.
   */
  tls(b: Backend): ConnectionOptions | null {
    const config = this.getConfig();
    const hit = this.tlsCache.get(b);
    if (hit && hit.config === config) return hit.options;
    let options: ConnectionOptions | null = null;
    const spec = b.tls;
    if (spec !== false && (spec !== undefined || config.backendTls)) {
      const servername = spec?.servername ?? (isIP(b.host) === 0 ? b.host : undefined);
      const caFile = spec?.ca ?? config.backendTlsCa;
      const insecure = spec?.insecure ?? config.backendTlsInsecure;
      options = { rejectUnauthorized: !insecure, minVersion: 'TLSv1.2' };
      if (servername !== undefined) options.servername = servername;
      if (caFile !== null) options.ca = this.readCa(caFile);
    }
    this.tlsCache.set(b, { config, options });
    return options;
  }
}
