/**
 * A small stub resolver: one question to a list of DNS servers, over UDP
 * with a TCP retry when the answer is truncated (RFC 1035 section 4.2,
 * RFC 7766), returning every record with its TTL.
 *
 * Why not node:dns: `dns.Resolver#resolveSrv` gives no TTLs (only A/AAAA
 * have `{ttl: true}`), and lb4 re-resolves when the records' TTL runs out.
 * Why dns-packet: the wire format (names with compression pointers, SRV,
 * EDNS0 OPT) is the error-prone part, and dns-packet is the codec most of
 * npm's DNS tools use (multicast-dns, dns-socket), small, with no transport
 * of its own; the transport here is ~150 lines over node:dgram and node:net
 * so that timeouts, retries and cancellation are lb4's own and bounded.
 *
 * Rules:
 * - Servers are asked in order; a timeout, a refused port (ICMP, seen at
 *   once on a connected UDP socket), a malformed or mismatched answer, or
 *   an rcode other than NOERROR/NXDOMAIN moves on to the next. Two rounds
 *   over the list at most, and the whole query gives up after QUERY_BUDGET_MS.
 * - An answer must come from the server asked (connected socket), carry our
 *   random 16-bit id and echo the question (when it has a question section);
 *   anything else is ignored (RFC 5452's basic defences, with a fresh random
 *   source port per query).
 * - A FORMERR answer to our EDNS0 query is asked again without EDNS0.
 * - EDNS0 with a 1232-byte UDP payload (the DNS flag day 2020 size) keeps
 *   most SRV answers on UDP; a truncated one is asked again over TCP.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer } from 'dns-packet';
import type { HostPort } from '../core/address.js';

/** One try over UDP waits this long for the answer. */
export const UDP_TIMEOUT_MS = 1000;
/** One try over TCP (after a truncated UDP answer) waits this long. */
export const TCP_TIMEOUT_MS = 2000;
/** Rounds over the server list. */
export const ROUNDS = 2;
/** A whole query (every try over every server) gives up after this. */
export const QUERY_BUDGET_MS = 5000;
const EDNS_UDP_SIZE = 1232;

export type QueryType = 'A' | 'AAAA' | 'SRV';

export interface DnsAnswer {
  /** `NOERROR` or `NXDOMAIN` (other rcodes are errors). */
  readonly rcode: 'NOERROR' | 'NXDOMAIN';
  readonly answers: readonly Answer[];
  readonly additionals: readonly Answer[];
  /** The server that answered, `IP:PORT`. */
  readonly server: string;
}

/** A query that got no usable answer from any server. */
export class DnsError extends Error {}

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

function serverName(s: HostPort): string {
  return s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}

/** Strip one trailing dot and lower-case: DNS names compare case-insensitively. */
export function canonicalName(name: string): string {
  return (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
}

export class DnsClient {
  readonly servers: readonly HostPort[];
  /** Cancel functions of the tries in flight (close() runs them). */
  private readonly inflight = new Set<() => void>();
  private closed = false;

  constructor(servers: readonly HostPort[]) {
    if (servers.length === 0) throw new Error('no DNS servers');
    this.servers = servers;
  }

  /** Ask every server in turn (see the module doc) for `name`'s `type` records. */
  async query(name: string, type: QueryType): Promise<DnsAnswer> {
    const deadline = Date.now() + QUERY_BUDGET_MS;
    const problems: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const server of this.servers) {
        if (this.closed) throw new DnsError('stopped');
        const left = deadline - Date.now();
        if (left <= 0) throw new DnsError(`${name} ${type}: no answer within ${QUERY_BUDGET_MS} ms (${problems.join('; ')})`);
        try {
          return await this.ask(server, name, type, Math.min(UDP_TIMEOUT_MS, left), deadline);
        } catch (err) {
          problems.push(`${serverName(server)}: ${(err as Error).message}`);
        }
      }
    }
    throw new DnsError(`${name} ${type}: ${problems.join('; ')}`);
  }

  /** Stop: every query in flight fails at once, later ones at their first step. */
  close(): void {
    this.closed = true;
    for (const cancel of [...this.inflight]) cancel();
  }

  private async ask(server: HostPort, name: string, type: QueryType, timeoutMs: number, deadline: number): Promise<DnsAnswer> {
    let edns = true;
    for (;;) {
      const id = randomInt(0, 65536);
      const query = dnsPacket.encode({
        type: 'query',
        id,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [{ type, name, class: 'IN' }],
        additionals: edns ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
      });
      let raw = await this.udp(server, query, timeoutMs);
      let packet = check(raw, id, name, type);
      if (packet.flag_tc) {
        // truncated: the same question over TCP (RFC 7766 section 5)
        raw = await this.tcp(server, query, Math.max(1, Math.min(TCP_TIMEOUT_MS, deadline - Date.now())));
        packet = check(raw, id, name, type);
      }
      const rcode = RCODES[raw.readUInt16BE(2) & 0xf] ?? `rcode ${raw.readUInt16BE(2) & 0xf}`;
      if (rcode === 'FORMERR' && edns && deadline - Date.now() > 0) {
        // a server that does not know EDNS0: ask again without it (RFC 6891 section 7)
        edns = false;
        continue;
      }
      if (rcode !== 'NOERROR' && rcode !== 'NXDOMAIN') throw new Error(rcode);
      return { rcode, answers: packet.answers ?? [], additionals: packet.additionals ?? [], server: serverName(server) };
    }
  }

  /** One UDP exchange on a fresh connected socket (random source port; ICMP errors surface). */
  private udp(server: HostPort, query: Buffer, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
      let done = false;
      const finish = (err: Error | null, msg?: Buffer): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.inflight.delete(cancel);
        sock.close();
        if (err) reject(err);
        else resolve(msg!);
      };
      const cancel = (): void => finish(new Error('stopped'));
      const timer = setTimeout(() => finish(new Error(`timeout ${timeoutMs} ms`)), timeoutMs);
      this.inflight.add(cancel);
      sock.on('error', (err: NodeJS.ErrnoException) => finish(new Error(err.code ?? err.message)));
      sock.on('message', (msg) => {
        // only an answer to this query settles it; stray datagrams are ignored
        if (msg.length >= 12 && msg.readUInt16BE(0) === query.readUInt16BE(0)) finish(null, msg);
      });
      sock.connect(server.port, server.host, () => {
        if (!done) sock.send(query, (err) => err && finish(new Error((err as NodeJS.ErrnoException).code ?? err.message)));
      });
    });
  }

  /** One TCP exchange: 2-byte length prefix each way (RFC 1035 section 4.2.2). */
  private tcp(server: HostPort, query: Buffer, timeoutMs: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: server.host, port: server.port });
      let done = false;
      let buf = Buffer.alloc(0);
      const finish = (err: Error | null, msg?: Buffer): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.inflight.delete(cancel);
        sock.destroy();
        if (err) reject(err);
        else resolve(msg!);
      };
      const cancel = (): void => finish(new Error('stopped'));
      const timer = setTimeout(() => finish(new Error(`tcp timeout ${timeoutMs} ms`)), timeoutMs);
      this.inflight.add(cancel);
      sock.on('error', (err: NodeJS.ErrnoException) => finish(new Error(`tcp ${err.code ?? err.message}`)));
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length);
        sock.end(Buffer.concat([len, query]));
      });
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) finish(null, buf.subarray(2, 2 + buf.readUInt16BE(0)));
      });
      sock.on('end', () => finish(new Error('tcp: connection closed before the answer')));
    });
  }
}

/** Decode an answer and check it answers our question; throws otherwise. */
function check(raw: Buffer, id: number, name: string, type: QueryType): dnsPacket.DecodedPacket {
  let p: dnsPacket.DecodedPacket;
  try {
    p = dnsPacket.decode(raw);
  } catch (err) {
    throw new Error(`malformed answer (${(err as Error).message})`);
  }
  // The question must be the one asked; an answer without a question
  // section (some minimal servers) is taken on the id and the socket alone.
  const q = p.questions?.[0];
  if (p.id !== id || p.type !== 'response' || (q !== undefined && (q.type !== type || canonicalName(q.name) !== canonicalName(name)))) {
    throw new Error('answer does not match the question');
  }
  return p;
}
