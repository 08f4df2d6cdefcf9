/**
 * CIDR blocks and a set of them, for deciding which clients are trusted
 * (to send a PROXY protocol header, to set X-Forwarded-For). Pure: no
 * `node:net` (core is pure: clock and randomness come in as parameters), so IP text is parsed here, without allocation.
 *
 * Address text forms follow RFC 4291 section 2.2 (IPv6: up to eight groups of
 * 1-4 hex digits, one `::`, optional dotted-quad tail) and the usual strict
 * dotted-quad for IPv4 (four decimal parts 0-255, no leading zeros, which
 * could be read as octal). Prefix semantics are RFC 4632 section 3.1.
 *
 * IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, RFC 4291 section 2.5.5.2),
 * which Node reports for IPv4 clients of a dual-stack socket, are IPv4 for
 * matching: `::ffff:10.1.2.3` is in `10.0.0.0/8`, and a block written as
 * `::ffff:10.0.0.0/104` is the IPv4 block `10.0.0.0/8`. IPv4 addresses are
 * matched against IPv4 blocks only (`::/0` does not contain `10.1.2.3`).
 */

/** A parsed CIDR block. Host bits of the network are cleared. */
export interface Cidr {
  /** 4 for IPv4 (including blocks written as IPv4-mapped IPv6), else 6. */
  readonly family: 4 | 6;
  /** Prefix length: 0..32 for IPv4, 0..128 for IPv6. */
  readonly prefix: number;
  /** The masked network, big-endian 32-bit words: 1 word for IPv4, 4 for IPv6. */
  readonly words: Uint32Array;
  /** Canonical text, e.g. `10.0.0.0/8`, `fd00::/8`. */
  readonly text: string;
}

/** The loopback blocks: what is trusted when nothing else is configured. */
export const LOOPBACK_CIDRS: readonly string[] = Object.freeze(['127.0.0.0/8', '::1/128']);

/**
 * Parse a strict dotted-quad IPv4 address in `text[start, end)`.
 * Returns the address as an unsigned 32-bit integer, or -1 if it is not one.
 * Does not allocate.
 */
export function ipv4ToInt(text: string, start = 0, end = text.length): number {
  let value = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    const partStart = i;
    let part = 0;
    while (i < end) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      part = part * 10 + (c - 0x30);
      i++;
    }
    const digits = i - partStart;
    if (digits === 0 || digits > 3 || part > 255) return -1;
    if (digits > 1 && text.charCodeAt(partStart) === 0x30) return -1; // leading zero
    value = value * 256 + part;
    parts++;
    if (parts < 4) {
      if (i >= end || text.charCodeAt(i) !== 0x2e) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/**
 * Parse an IPv6 address in `text[start, end)` (RFC 4291 section 2.2 text
 * forms; no zone id) into eight 16-bit groups written to `out[0..8)`.
 * Returns false (leaving `out` in an unspecified state) if it is not one.
 * Does not allocate.
 */
export function ipv6ToGroups(text: string, out: Uint16Array, start = 0, end = text.length): boolean {
  let n = 0; // groups written
  let gap = -1; // index in out where '::' stands
  let i = start;
  if (i < end && text.charCodeAt(i) === 0x3a) {
    if (i + 1 >= end || text.charCodeAt(i + 1) !== 0x3a) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    if (n === 8) return false;
    const groupStart = i;
    let v = 0;
    while (i < end) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) break;
      v = v * 16 + h;
      i++;
    }
    const digits = i - groupStart;
    if (i < end && text.charCodeAt(i) === 0x2e) {
      // Dotted-quad tail: must be last and leave room for two groups.
      if (n > 6) return false;
      const v4 = ipv4ToInt(text, groupStart, end);
      if (v4 < 0) return false;
      out[n++] = v4 >>> 16;
      out[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (digits === 0 || digits > 4) return false;
    out[n++] = v;
    if (i === end) break;
    if (text.charCodeAt(i) !== 0x3a) return false;
    i++;
    if (i < end && text.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return false; // a second '::'
      gap = n;
      i++;
    } else if (i === end) {
      return false; // trailing single ':'
    }
  }
  if (gap < 0) return n === 8;
  if (n >= 8) return false; // '::' stands for at least one group
  // Move the groups after the gap to the end and zero the gap.
  const tail = n - gap;
  for (let k = 0; k < tail; k++) out[7 - k] = out[n - 1 - k]!;
  for (let k = gap; k < 8 - tail; k++) out[k] = 0;
  return true;
}

/** Scratch for has(): module-level so matching never allocates. */
const scratchGroups = new Uint16Array(8);

/** Mask of the top `bits` (0..32) bits of a 32-bit word. */
function topMask(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

function formatV4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/**
 * RFC 5952 (section 4) text of eight 16-bit groups: lowercase hex without
 * leading zeros, the longest run of two or more zero groups (the first on a
 * tie) as `::`; IPv4-mapped addresses as `::ffff:a.b.c.d` when
 * `dottedMapped` (section 5). Allocates only the result string.
 */
export function formatIPv6Groups(g: Uint16Array, dottedMapped = true): string {
  if (dottedMapped && isMappedGroups(g)) {
    return `::ffff:${g[6]! >>> 8}.${g[6]! & 0xff}.${g[7]! >>> 8}.${g[7]! & 0xff}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += '::';
      i += bestLen - 1;
      continue;
    }
    if (s.length > 0 && !s.endsWith(':')) s += ':';
    s += g[i]!.toString(16);
  }
  return s;
}

/**
 * Parse `1.2.3.4`, `1.2.3.0/24`, `::1`, `fd00::/8` or `::ffff:10.0.0.0/104`.
 * A bare address is a /32 or /128; host bits after the prefix are cleared.
 * Throws an Error naming the bad text on anything else.
 */
export function parseCidr(text: string): Cidr {
  const fail = (why: string): never => {
    throw new Error(`invalid CIDR ${JSON.stringify(text)}: ${why}`);
  };
  if (typeof text !== 'string' || text.length === 0) fail('empty');
  const slash = text.indexOf('/');
  const addrEnd = slash < 0 ? text.length : slash;
  let prefix = -1;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) fail('the prefix length must be a decimal number');
    prefix = Number(p);
  }
  const v4 = ipv4ToInt(text, 0, addrEnd);
  if (v4 >= 0) {
    if (prefix < 0) prefix = 32;
    if (prefix > 32) fail('an IPv4 prefix length is at most 32');
    return makeV4(v4, prefix);
  }
  const g = new Uint16Array(8);
  if (!ipv6ToGroups(text, g, 0, addrEnd)) {
    fail('not an IPv4 or IPv6 address');
  }
  if (prefix < 0) prefix = 128;
  if (prefix > 128) fail('an IPv6 prefix length is at most 128');
  if (isMappedGroups(g) && prefix >= 96) {
    return makeV4(((g[6]! << 16) | g[7]!) >>> 0, prefix - 96);
  }
  const words = new Uint32Array(4);
  for (let w = 0; w < 4; w++) {
    const word = ((g[2 * w]! << 16) | g[2 * w + 1]!) >>> 0;
    words[w] = (word & topMask(prefix - 32 * w)) >>> 0;
    g[2 * w] = words[w]! >>> 16;
    g[2 * w + 1] = words[w]! & 0xffff;
  }
  return { family: 6, prefix, words, text: `${formatIPv6Groups(g, false)}/${prefix}` };
}

function makeV4(addr: number, prefix: number): Cidr {
  const net = (addr & topMask(prefix)) >>> 0;
  return { family: 4, prefix, words: Uint32Array.of(net), text: `${formatV4(net)}/${prefix}` };
}

function isMappedGroups(g: Uint16Array): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
}

/**
 * An immutable set of CIDR blocks with a cheap membership test. Built once
 * (at config time); `has()` scans flat typed arrays and does not allocate.
 */
export class CidrSet {
  /** The parsed blocks, in the order given. */
  readonly entries: readonly Cidr[];
  /** IPv4 blocks as [network, mask] pairs. */
  private readonly v4: Uint32Array;
  /** IPv6 blocks as [w0..w3, m0..m3] runs of 8 words. */
  private readonly v6: Uint32Array;

  /** Throws (see parseCidr) on the first bad entry. */
  constructor(list: readonly string[]) {
    const entries = list.map(parseCidr);
    const v4 = entries.filter((c) => c.family === 4);
    const v6 = entries.filter((c) => c.family === 6);
    this.entries = Object.freeze(entries);
    this.v4 = new Uint32Array(v4.length * 2);
    v4.forEach((c, k) => {
      this.v4[2 * k] = c.words[0]!;
      this.v4[2 * k + 1] = topMask(c.prefix);
    });
    this.v6 = new Uint32Array(v6.length * 8);
    v6.forEach((c, k) => {
      for (let w = 0; w < 4; w++) {
        this.v6[8 * k + w] = c.words[w]!;
        this.v6[8 * k + 4 + w] = topMask(c.prefix - 32 * w);
      }
    });
  }

  /** Number of blocks. */
  get size(): number {
    return this.entries.length;
  }

  /**
   * Is `address` (IPv4, IPv6, IPv4-mapped IPv6; an IPv6 zone suffix `%eth0`
   * is ignored) inside one of the blocks? False for anything that is not an
   * IP address. Does not allocate.
   */
  has(address: string): boolean {
    if (typeof address !== 'string') return false;
    const pct = address.indexOf('%');
    const end = pct < 0 ? address.length : pct;
    const v4 = ipv4ToInt(address, 0, end);
    if (v4 >= 0) return pct < 0 && this.hasV4(v4);
    const g = scratchGroups;
    if (!ipv6ToGroups(address, g, 0, end)) return false;
    if (isMappedGroups(g)) return this.hasV4(((g[6]! << 16) | g[7]!) >>> 0);
    const a0 = ((g[0]! << 16) | g[1]!) >>> 0;
    const a1 = ((g[2]! << 16) | g[3]!) >>> 0;
    const a2 = ((g[4]! << 16) | g[5]!) >>> 0;
    const a3 = ((g[6]! << 16) | g[7]!) >>> 0;
    const t = this.v6;
    for (let k = 0; k < t.length; k += 8) {
      if (
        ((a0 & t[k + 4]!) >>> 0) === t[k] &&
        ((a1 & t[k + 5]!) >>> 0) === t[k + 1] &&
        ((a2 & t[k + 6]!) >>> 0) === t[k + 2] &&
        ((a3 & t[k + 7]!) >>> 0) === t[k + 3]
      ) {
        return true;
      }
    }
    return false;
  }

  private hasV4(a: number): boolean {
    const t = this.v4;
    for (let k = 0; k < t.length; k += 2) {
      if (((a & t[k + 1]!) >>> 0) === t[k]) return true;
    }
    return false;
  }
}
