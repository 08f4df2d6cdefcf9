/**
 * What a discovery source finds: its targets (a name, the addresses it has,
 * a port, a weight, an SRV priority) and the shortest TTL among the records
 * that said so. Pure DNS work over a DnsClient; turning targets into
 * backends is source.ts's.
 *
 * - `dns:HOST:PORT`: the A and AAAA records of HOST (CNAME chains followed
 *   within the answer, RFC 1034 section 3.6.2); every address is a target
 *   named `IP:PORT` (IPv6 bracketed).
 * - `srv:NAME`: the SRV records of NAME (RFC 2782). Each target is named
 *   `TARGET:PORT` (lower case, no trailing dot); its addresses come from the
 *   answer's additional section when the server put them there, else from
 *   A/AAAA queries for TARGET through the same servers. The weight is the
 *   SRV weight clamped to 1..1000; the priority is kept for the pool (lower
 *   first, see src/core/pool.ts). A target of "." (service decidedly not
 *   available) and targets without any address are left out.
 * - NXDOMAIN, or no usable record, is an empty answer: an error for the
 *   caller, which keeps what it had.
 */
import { isIP } from 'node:net';
import type { Answer, SrvAnswer, StringAnswer } from 'dns-packet';
import { formatHostPort } from '../core/address.js';
import type { DiscoverySpec } from '../config/parse.js';
import { canonicalName, DnsError, type DnsAnswer, type DnsClient } from './dns-client.js';

export interface Target {
  /** The backend name: `IP:PORT` (dns:) or `TARGET:PORT` (srv:). */
  readonly name: string;
  /** The target's host name (srv: the SRV target; dns: HOST). */
  readonly host: string;
  /** Its addresses, IPv4 first, each family in numeric order. */
  readonly addresses: readonly string[];
  readonly port: number;
  /** dns: the source's weight; srv: the record's weight clamped to 1..1000. */
  readonly weight: number;
  /** SRV priority; undefined for dns:. */
  readonly priority?: number;
}

export interface Found {
  readonly targets: readonly Target[];
  /** The shortest TTL (seconds) of the records used. */
  readonly ttl: number;
}

/** Longest CNAME chain followed within one answer. */
const MAX_CNAME_HOPS = 8;
/** SRV targets whose addresses are asked at once. */
const TARGET_LOOKUPS = 16;
/** The "TTL" of an address found in the hosts file: it is looked at again this often. */
export const HOSTS_TTL_S = 5;

/**
 * The addresses the hosts file gives a name, or null when it has none (then
 * DNS is asked). Used only when lb4 uses the system's resolvers, which
 * look at /etc/hosts first (nsswitch `hosts: files dns`).
 */
export type HostsLookup = (name: string) => readonly string[] | null;

/** hosts(5): `IP NAME [ALIAS...]` lines, `#` comments; names lower-cased → addresses in file order. */
export function parseHosts(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const fields = raw.replace(/#.*/, '').trim().split(/\s+/);
    const ip = fields[0]!.replace(/%.*$/, '');
    if (fields.length < 2 || isIP(ip) === 0) continue;
    for (const name of fields.slice(1)) {
      const key = canonicalName(name);
      const list = out.get(key) ?? [];
      if (!list.includes(ip)) list.push(ip);
      out.set(key, list);
    }
  }
  return out;
}

export interface ResolveOptions {
  /** The hosts file, asked before DNS for `dns:` hosts and SRV targets (system resolution only). */
  readonly hosts?: HostsLookup | null;
  /** The addresses a host had in the last good answer (they stand in for a family whose question failed). */
  readonly previous?: (host: string) => readonly string[];
}

/** Resolve one discovery source; throws DnsError (or the client's error) when nothing usable came back. */
export async function resolveSource(client: DnsClient, spec: DiscoverySpec, opts: ResolveOptions = {}): Promise<Found> {
  if (spec.kind === 'dns') {
    const a = await addresses(client, spec.host, opts);
    if (a.addresses.length === 0) throw new DnsError(`${spec.host}: no A/AAAA records${a.nx ? ' (NXDOMAIN)' : ''}`);
    return {
      ttl: a.ttl,
      targets: a.addresses.map((ip) => ({ name: formatHostPort(ip, spec.port), host: canonicalName(spec.host), addresses: [ip], port: spec.port, weight: spec.weight })),
    };
  }
  const srv = await client.query(spec.name, 'SRV');
  const records = follow(srv, spec.name, 'SRV');
  if (records.list.length === 0) throw new DnsError(`${spec.name}: no SRV records${srv.rcode === 'NXDOMAIN' ? ' (NXDOMAIN)' : ''}`);
  const wanted: Array<{ name: string; target: string; r: SrvAnswer }> = [];
  const seen = new Set<string>();
  for (const rec of records.list) {
    const r = rec as SrvAnswer;
    const target = canonicalName(r.data.target);
    if (target === '' || r.data.port === 0) continue; // "." = the service is not available there
    const name = `${target}:${r.data.port}`;
    if (seen.has(name)) continue;
    seen.add(name);
    wanted.push({ name, target, r });
  }
  // addresses: the additional section, else A/AAAA questions, TARGET_LOOKUPS at a time
  const found = new Array<{ addresses: string[]; ttl: number }>(wanted.length);
  let next = 0;
  const lookup = async (): Promise<void> => {
    for (let i = next++; i < wanted.length; i = next++) {
      const target = wanted[i]!.target;
      const extra = fromAdditionals(srv.additionals, target);
      found[i] = extra.addresses.length > 0 ? extra : await addresses(client, target, opts);
    }
  };
  await Promise.all(Array.from({ length: Math.min(TARGET_LOOKUPS, wanted.length) }, lookup));
  let ttl = records.ttl;
  const targets: Target[] = [];
  wanted.forEach(({ name, target, r }, i) => {
    const f = found[i]!;
    if (f.addresses.length === 0) return;
    ttl = Math.min(ttl, f.ttl);
    targets.push({
      name,
      host: target,
      addresses: f.addresses,
      port: r.data.port,
      weight: Math.min(1000, Math.max(1, r.data.weight ?? 0)),
      priority: r.data.priority ?? 0,
    });
  });
  if (targets.length === 0) throw new DnsError(`${spec.name}: no SRV target with an address`);
  return { targets, ttl };
}

/**
 * The A and AAAA records of `host` (or its hosts-file entry), asked at once.
 * When one of the two questions fails (a timeout, SERVFAIL; some servers
 * never answer AAAA) while the other brings addresses, the failed family's
 * addresses of the last good answer stand in for it; when both fail, or the
 * one that answered has nothing, the error is thrown.
 */
async function addresses(client: DnsClient, host: string, opts: ResolveOptions): Promise<{ addresses: string[]; ttl: number; nx: boolean }> {
  const local = opts.hosts?.(canonicalName(host));
  if (local && local.length > 0) {
    const v4 = local.filter((ip) => isIP(ip) === 4);
    const v6 = local.filter((ip) => isIP(ip) === 6);
    return { addresses: [...sortIps(v4), ...sortIps(v6)], ttl: HOSTS_TTL_S, nx: false };
  }
  const [a, aaaa] = await Promise.allSettled([client.query(host, 'A'), client.query(host, 'AAAA')]);
  if (a.status === 'rejected' && aaaa.status === 'rejected') throw a.reason;
  const v4 = a.status === 'fulfilled' ? follow(a.value, host, 'A') : null;
  const v6 = aaaa.status === 'fulfilled' ? follow(aaaa.value, host, 'AAAA') : null;
  let ips4 = v4 === null ? null : v4.list.map((r) => (r as StringAnswer).data);
  let ips6 = v6 === null ? null : v6.list.map((r) => (r as StringAnswer).data);
  if (ips4 === null || ips6 === null) {
    if ((ips4 ?? ips6)!.length === 0) throw (a.status === 'rejected' ? a.reason : (aaaa as PromiseRejectedResult).reason);
    const prev = opts.previous?.(canonicalName(host)) ?? [];
    if (ips4 === null) ips4 = prev.filter((ip) => isIP(ip) === 4);
    else ips6 = prev.filter((ip) => isIP(ip) === 6);
  }
  const list = [...sortIps(ips4), ...sortIps(ips6!)];
  return { addresses: dedupe(list), ttl: Math.min(v4?.ttl ?? Infinity, v6?.ttl ?? Infinity), nx: a.status === 'fulfilled' && a.value.rcode === 'NXDOMAIN' };
}

/** A/AAAA records for `target` that the server added to an SRV answer. */
function fromAdditionals(additionals: readonly Answer[], target: string): { addresses: string[]; ttl: number } {
  const v4: string[] = [];
  const v6: string[] = [];
  let ttl = Infinity;
  for (const r of additionals) {
    if ((r.type !== 'A' && r.type !== 'AAAA') || canonicalName(r.name) !== target) continue;
    (r.type === 'A' ? v4 : v6).push(r.data);
    ttl = Math.min(ttl, r.ttl ?? 0);
  }
  return { addresses: dedupe([...sortIps(v4), ...sortIps(v6)]), ttl };
}

/**
 * The records of type `type` that answer `name`, following CNAMEs inside
 * the answer section; `ttl` is the shortest of them and of the CNAMEs on
 * the way (Infinity when there are none).
 */
function follow(answer: DnsAnswer, name: string, type: 'A' | 'AAAA' | 'SRV'): { list: Answer[]; ttl: number } {
  let current = canonicalName(name);
  let ttl = Infinity;
  for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
    const list: Answer[] = [];
    let next: string | null = null;
    let cnameTtl = Infinity;
    for (const r of answer.answers) {
      if (canonicalName(r.name) !== current) continue;
      if (r.type === type) list.push(r);
      else if (r.type === 'CNAME' && next === null) {
        next = canonicalName(r.data);
        cnameTtl = r.ttl ?? 0;
      }
    }
    if (list.length > 0) {
      for (const r of list) ttl = Math.min(ttl, (r as StringAnswer).ttl ?? 0);
      return { list, ttl };
    }
    if (next === null) return { list, ttl };
    ttl = Math.min(ttl, cnameTtl);
    current = next;
  }
  return { list: [], ttl };
}

function dedupe(list: string[]): string[] {
  return [...new Set(list)];
}

/** IPs of one family in numeric order (stable whatever order the server rotates them in). */
function sortIps(ips: string[]): string[] {
  return ips.slice().sort((x, y) => {
    const a = ipKey(x);
    const b = ipKey(y);
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

/** A sortable key: IPv4 as 4 zero-padded numbers, IPv6 expanded to 8 hex groups. */
function ipKey(ip: string): string {
  if (ip.includes('.') && !ip.includes(':')) return ip.split('.').map((n) => n.padStart(3, '0')).join('.');
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => g.padStart(4, '0')).join(':');
}
