/**
 * PROXY protocol codec, versions 1 (text) and 2 (binary), as specified in
 * HAProxy's "The PROXY protocol, Versions 1 & 2" (doc/proxy-protocol.txt,
 * revision 2020/03/05). Pure: no sockets, no timers; the listener feeds it
 * the bytes received so far and the connector sends what it encodes.
 *
 * Why our own: the npm options lack TLV support (`proxy-protocol-js` 4.0.6,
 * our test oracle, returns TLVs as one opaque blob, and its v2 builder leaves
 * appended bytes out of the length field) and report a truncated header as
 * NaN ports and undefined address bytes instead of "need more bytes", which
 * a streaming peeker must tell apart from "malformed". They also accept
 * lines the spec forbids (leading zeros, bad addresses) and reject the short
 * `PROXY UNKNOWN\r\n` form it allows.
 *
 * Spec sections implemented:
 * - 2.1 v1: `PROXY` SP family SP src SP dst SP sport SP dport CRLF, exactly
 *   one space between fields, at most 107 bytes including CRLF, no bare CR
 *   or LF, no leading zeros in IPv4 parts or ports; `UNKNOWN` may be followed
 *   by anything up to the CRLF, which is ignored.
 * - 2.2 v2: the 12-byte signature, version nibble 2, command LOCAL (0) or
 *   PROXY (1), the seven family/protocol bytes listed there (0x00, 0x11,
 *   0x12, 0x21, 0x22, 0x31, 0x32; any other is rejected), 16 + length bytes.
 *   For LOCAL the address block is skipped and no addresses are reported.
 * - 2.2 TLVs: type, 16-bit length, value; kept in order, unknown ones too;
 *   a TLV running past the end of the header is an error.
 *   2.2.1 ALPN, 2.2.2 AUTHORITY, 2.2.3 CRC32C (RFC 4960 appendix B),
 *   2.2.4 NOOP, 2.2.5 UNIQUE_ID (<= 128 bytes), 2.2.6 SSL and its sub-TLVs,
 *   2.2.7 NETNS.
 * - 2.2 "Identifying the protocol version": we go further and reject at the
 *   first byte that cannot begin either signature (section 2.1 asks to abort
 *   "as soon as possible"), so a plain HTTP or TLS client fails at once.
 */

import { isIPv4, isIPv6 } from 'node:net';
import { formatIPv6Groups, ipv4ToInt, ipv6ToGroups } from '../core/cidr.js';

/** One TLV of a v2 header, as received (the value is a view, not a copy). */
export type ProxyTlv = { type: number; value: Buffer };

/** Decoded PP2_TYPE_SSL TLV (section 2.2.6). */
export type ProxySsl = {
  /** Bit field of PP2_CLIENT_* flags. */
  client: number;
  /** 0 when the client presented a certificate that was verified. */
  verify: number;
  version?: string;
  cn?: string;
  cipher?: string;
  sigAlg?: string;
  keyAlg?: string;
};

/** Address families a header can report. */
export type ProxyFamily = 'TCP4' | 'TCP6' | 'UNIX' | 'UNKNOWN' | 'UDP4' | 'UDP6';

/**
 * A parsed PROXY header. Addresses and ports are present only for the PROXY
 * command with a TCP/UDP/UNIX family. Every field is initialised (absent ones
 * are `undefined`) so all headers share one object shape.
 */
export type ProxyHeader = {
  version: 1 | 2;
  /** v1 is always PROXY. LOCAL: the sender's own connection (health check). */
  command: 'PROXY' | 'LOCAL';
  family: ProxyFamily;
  /** IPv4 dotted quad, canonical IPv6 (RFC 5952), or a UNIX path (`@name` for abstract). */
  sourceAddress?: string;
  sourcePort?: number;
  destinationAddress?: string;
  destinationPort?: number;
  /** All TLVs in wire order, known and unknown (v2 only; empty for v1). */
  tlvs: ProxyTlv[];
  /** PP2_TYPE_ALPN, e.g. `h2` (first occurrence). */
  alpn?: string;
  /** PP2_TYPE_AUTHORITY: the host name the client asked for (SNI). */
  authority?: string;
  ssl?: ProxySsl;
  /** PP2_TYPE_UNIQUE_ID (a view into the input). */
  uniqueId?: Buffer;
  /** PP2_TYPE_NETNS. */
  netns?: string;
  /**
   * Present when a CRC32C TLV is: whether the checksum matched. The spec
   * (2.2.3) says a receiver MUST treat a mismatch as an invalid connection;
   * callers must reject `crc32cOk === false`.
   */
  crc32cOk?: boolean;
};

/** Outcome of {@link parseProxyHeader}. */
export type ParseResult =
  | { status: 'incomplete' }
  | { status: 'ok'; header: ProxyHeader; length: number }
  | { status: 'error'; reason: string };

/** Registered v2 TLV types (section 2.2). */
export const PP2_TYPE = Object.freeze({
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  SSL_VERSION: 0x21,
  SSL_CN: 0x22,
  SSL_CIPHER: 0x23,
  SSL_SIG_ALG: 0x24,
  SSL_KEY_ALG: 0x25,
  NETNS: 0x30,
} as const);

/** Bits of the SSL TLV's `client` field (section 2.2.6). */
export const PP2_CLIENT = Object.freeze({ SSL: 0x01, CERT_CONN: 0x02, CERT_SESS: 0x04 } as const);

/** Longest v1 line the spec allows, CRLF included (section 2.1). */
export const PROXY_V1_MAX_LENGTH = 107;
/** Fixed part of a v2 header. */
export const PROXY_V2_HEADER_LENGTH = 16;
/** Longest v2 header the 16-bit length field can describe. */
export const PROXY_V2_MAX_LENGTH = PROXY_V2_HEADER_LENGTH + 0xffff;
/** Most bytes of a UNIQUE_ID value (section 2.2.5). */
const MAX_UNIQUE_ID = 128;
/** Size of each AF_UNIX address in a v2 header. */
const UNIX_ADDR_LEN = 108;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const ZERO4 = Buffer.alloc(4);

const INCOMPLETE: ParseResult = Object.freeze({ status: 'incomplete' });

function fail(reason: string): ParseResult {
  return { status: 'error', reason };
}

// ---------------------------------------------------------------------------
// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), RFC 4960 appendix B.

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32cUpdate(crc: number, buf: Uint8Array, start: number, end: number): number {
  const t = CRC32C_TABLE;
  for (let i = start; i < end; i++) crc = t[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return crc;
}

/**
 * CRC32C (Castagnoli) of `buf[start, end)`, as an unsigned 32-bit number.
 * `crc32c(Buffer.from('123456789')) === 0xe3069283`. Does not allocate.
 */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  return (crc32cUpdate(0xffffffff, buf, start, end) ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------
// Parsing

/**
 * Parse a PROXY header (v1 or v2, detected from the first byte) at the start
 * of `buf`, which holds every byte received so far on the connection.
 *
 * - `incomplete`: `buf` is a valid beginning of a header; call again with more.
 * - `ok`: `length` bytes are the header; the rest of `buf` is application data.
 * - `error`: not a PROXY header, malformed, or longer than the limits (107
 *   bytes for v1; `maxV2Length`, default 16 + 65535, for v2). Reported as soon
 *   as the bytes seen cannot begin a valid header.
 *
 * Allocates the result, the header and its strings; TLV values and
 * `uniqueId` are views into `buf` (copy them if `buf` is reused).
 */
export function parseProxyHeader(buf: Buffer, maxV2Length: number = PROXY_V2_MAX_LENGTH): ParseResult {
  if (buf.length === 0) return INCOMPLETE;
  const b0 = buf[0];
  if (b0 === 0x50) return parseV1(buf);
  if (b0 === 0x0d) return parseV2(buf, maxV2Length);
  return fail('not a PROXY protocol header');
}

function newHeader(version: 1 | 2, command: 'PROXY' | 'LOCAL', family: ProxyFamily): ProxyHeader {
  return {
    version,
    command,
    family,
    sourceAddress: undefined,
    sourcePort: undefined,
    destinationAddress: undefined,
    destinationPort: undefined,
    tlvs: [],
    alpn: undefined,
    authority: undefined,
    ssl: undefined,
    uniqueId: undefined,
    netns: undefined,
    crc32cOk: undefined,
  };
}

// --- v1 (section 2.1) ---

function parseV1(buf: Buffer): ParseResult {
  const n = buf.length;
  const pre = n < V1_PREFIX.length ? n : V1_PREFIX.length;
  for (let i = 0; i < pre; i++) {
    if (buf[i] !== V1_PREFIX[i]) return fail('not a PROXY protocol header');
  }
  if (n <= V1_PREFIX.length) return INCOMPLETE;
  const limit = n < PROXY_V1_MAX_LENGTH ? n : PROXY_V1_MAX_LENGTH;
  let cr = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const c = buf[i];
    if (c === 0x0d) {
      cr = i;
      break;
    }
    if (c === 0x0a) return fail('PROXY v1: LF without CR');
  }
  if (cr < 0) {
    if (n >= PROXY_V1_MAX_LENGTH) return fail('PROXY v1: no CRLF within 107 bytes');
    const why = checkV1Line(buf, V1_PREFIX.length, n, false, null);
    return why === null ? INCOMPLETE : fail(why);
  }
  if (cr + 2 > PROXY_V1_MAX_LENGTH) return fail('PROXY v1: no CRLF within 107 bytes');
  if (cr + 1 === n) {
    // The line ends at this CR whatever comes next: check it as complete.
    const why = checkV1Line(buf, V1_PREFIX.length, cr, true, null);
    return why === null ? INCOMPLETE : fail(why);
  }
  if (buf[cr + 1] !== 0x0a) return fail('PROXY v1: CR not followed by LF');
  const header = newHeader(1, 'PROXY', 'UNKNOWN');
  const why = checkV1Line(buf, V1_PREFIX.length, cr, true, header);
  return why === null ? { status: 'ok', header, length: cr + 2 } : fail(why);
}

function equalsAscii(buf: Buffer, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (buf[start + i] !== word.charCodeAt(i)) return false;
  return true;
}

function isPrefixOfAscii(buf: Buffer, start: number, end: number, word: string): boolean {
  if (end - start > word.length) return false;
  for (let i = start; i < end; i++) if (buf[i] !== word.charCodeAt(i - start)) return false;
  return true;
}

/** Strict decimal port: "0" or 1-5 digits without a leading zero, <= 65535; else -1. */
function parsePortText(buf: Buffer, start: number, end: number): number {
  const len = end - start;
  if (len < 1 || len > 5) return -1;
  if (len > 1 && buf[start] === 0x30) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v <= 0xffff ? v : -1;
}

const v1Groups = new Uint16Array(8);

/**
 * Validate the v1 fields in `buf[start, end)` (after `PROXY `). When
 * `complete`, `end` is the CR; otherwise it is just where the bytes stop and
 * the last field may be a prefix of a valid one. Decodes into `out` when
 * given. Returns null when valid, else the reason.
 */
function checkV1Line(buf: Buffer, start: number, end: number, complete: boolean, out: ProxyHeader | null): string | null {
  let field = 0;
  let fieldStart = start;
  let v6 = false;
  for (let i = start; ; i++) {
    const last = i === end;
    if (!last && buf[i] !== 0x20) continue;
    if (last && !complete) return checkV1Partial(buf, fieldStart, i, field, v6);
    if (i === fieldStart) return 'PROXY v1: empty field (fields are separated by exactly one space)';
    if (field === 0) {
      if (equalsAscii(buf, fieldStart, i, 'UNKNOWN')) {
        if (out !== null) out.family = 'UNKNOWN';
        return null; // the rest of the line is ignored (section 2.1)
      }
      if (equalsAscii(buf, fieldStart, i, 'TCP4')) v6 = false;
      else if (equalsAscii(buf, fieldStart, i, 'TCP6')) v6 = true;
      else return 'PROXY v1: protocol must be TCP4, TCP6 or UNKNOWN';
      if (out !== null) out.family = v6 ? 'TCP6' : 'TCP4';
    } else if (field <= 2) {
      const text = buf.toString('latin1', fieldStart, i);
      let address: string;
      if (v6) {
        if (text.length > 39 || !isIPv6(text) || !ipv6ToGroups(text, v1Groups)) {
          return `PROXY v1: bad IPv6 ${field === 1 ? 'source' : 'destination'} address`;
        }
        address = formatIPv6Groups(v1Groups);
      } else {
        if (text.length > 15 || !isIPv4(text)) {
          return `PROXY v1: bad IPv4 ${field === 1 ? 'source' : 'destination'} address`;
        }
        address = text;
      }
      if (out !== null) {
        if (field === 1) out.sourceAddress = address;
        else out.destinationAddress = address;
      }
    } else if (field <= 4) {
      const port = parsePortText(buf, fieldStart, i);
      if (port < 0) return `PROXY v1: bad ${field === 3 ? 'source' : 'destination'} port`;
      if (out !== null) {
        if (field === 3) out.sourcePort = port;
        else out.destinationPort = port;
      }
    } else {
      return 'PROXY v1: too many fields';
    }
    field++;
    if (last) break;
    fieldStart = i + 1;
  }
  return field === 5 ? null : 'PROXY v1: missing fields';
}

/** Can `buf[start, end)` begin field number `field` of a v1 line? */
function checkV1Partial(buf: Buffer, start: number, end: number, field: number, v6: boolean): string | null {
  const len = end - start;
  if (field === 0) {
    return isPrefixOfAscii(buf, start, end, 'TCP4') ||
      isPrefixOfAscii(buf, start, end, 'TCP6') ||
      isPrefixOfAscii(buf, start, end, 'UNKNOWN')
      ? null
      : 'PROXY v1: protocol must be TCP4, TCP6 or UNKNOWN';
  }
  if (field <= 2) {
    if (len > (v6 ? 39 : 15)) return 'PROXY v1: address too long';
    for (let i = start; i < end; i++) {
      const c = buf[i]!;
      const ok =
        (c >= 0x30 && c <= 0x39) ||
        c === 0x2e ||
        (v6 && (c === 0x3a || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)));
      if (!ok) return `PROXY v1: bad character in ${v6 ? 'IPv6' : 'IPv4'} address`;
    }
    return null;
  }
  if (field <= 4) {
    if (len === 0) return null;
    if (len > 1 && buf[start] === 0x30) return 'PROXY v1: port with a leading zero';
    return parsePortText(buf, start, end) < 0 ? 'PROXY v1: bad port' : null;
  }
  return 'PROXY v1: too many fields';
}

// --- v2 (section 2.2) ---

const v2Groups = new Uint16Array(8);

function parseV2(buf: Buffer, maxLength: number): ParseResult {
  const n = buf.length;
  const sig = n < 12 ? n : 12;
  for (let i = 0; i < sig; i++) {
    if (buf[i] !== V2_SIGNATURE[i]) return fail('not a PROXY protocol header');
  }
  if (n < 13) return INCOMPLETE;
  const verCmd = buf[12]!;
  if ((verCmd & 0xf0) !== 0x20) return fail(`PROXY v2: unsupported version ${verCmd >>> 4}`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return fail(`PROXY v2: unknown command ${cmd}`);
  if (n < 14) return INCOMPLETE;
  const famByte = buf[13]!;
  let family: ProxyFamily;
  let addrLen: number;
  switch (famByte) {
    case 0x00: family = 'UNKNOWN'; addrLen = 0; break;
    case 0x11: family = 'TCP4'; addrLen = 12; break;
    case 0x12: family = 'UDP4'; addrLen = 12; break;
    case 0x21: family = 'TCP6'; addrLen = 36; break;
    case 0x22: family = 'UDP6'; addrLen = 36; break;
    case 0x31:
    case 0x32: family = 'UNIX'; addrLen = 2 * UNIX_ADDR_LEN; break;
    default:
      return fail(`PROXY v2: invalid family/protocol byte 0x${famByte.toString(16).padStart(2, '0')}`);
  }
  if (n < PROXY_V2_HEADER_LENGTH) return INCOMPLETE;
  const len = buf.readUInt16BE(14);
  const total = PROXY_V2_HEADER_LENGTH + len;
  if (total > maxLength) return fail(`PROXY v2: header of ${total} bytes is over the limit of ${maxLength}`);
  if (cmd === 1 && len < addrLen) return fail(`PROXY v2: ${len}-byte address block is too short for ${family}`);
  if (n < total) return INCOMPLETE;

  const header = newHeader(2, cmd === 1 ? 'PROXY' : 'LOCAL', family);
  let tlvStart: number;
  if (cmd === 1) {
    readAddresses(buf, header, famByte >>> 4);
    tlvStart = PROXY_V2_HEADER_LENGTH + addrLen;
  } else {
    // LOCAL: the address block is ignored (section 2.2); TLVs follow it when
    // it is as long as the family says, otherwise the block is opaque.
    tlvStart = len >= addrLen ? PROXY_V2_HEADER_LENGTH + addrLen : total;
  }
  const why = parseTlvs(buf, tlvStart, total, header);
  return why === null ? { status: 'ok', header, length: total } : fail(why);
}

function formatV4At(buf: Buffer, o: number): string {
  return `${buf[o]}.${buf[o + 1]}.${buf[o + 2]}.${buf[o + 3]}`;
}

function formatV6At(buf: Buffer, o: number): string {
  for (let k = 0; k < 8; k++) v2Groups[k] = (buf[o + 2 * k]! << 8) | buf[o + 2 * k + 1]!;
  return formatIPv6Groups(v2Groups);
}

/** A NUL-padded sun_path; a leading NUL (Linux abstract socket) is shown as `@`. */
function formatUnixAt(buf: Buffer, o: number): string {
  const end = o + UNIX_ADDR_LEN;
  if (buf[o] !== 0) {
    let z = o;
    while (z < end && buf[z] !== 0) z++;
    return buf.toString('utf8', o, z);
  }
  let last = end;
  while (last > o + 1 && buf[last - 1] === 0) last--;
  return last > o + 1 ? '@' + buf.toString('utf8', o + 1, last) : '';
}

function readAddresses(buf: Buffer, h: ProxyHeader, af: number): void {
  const o = PROXY_V2_HEADER_LENGTH;
  if (af === 1) {
    h.sourceAddress = formatV4At(buf, o);
    h.destinationAddress = formatV4At(buf, o + 4);
    h.sourcePort = buf.readUInt16BE(o + 8);
    h.destinationPort = buf.readUInt16BE(o + 10);
  } else if (af === 2) {
    h.sourceAddress = formatV6At(buf, o);
    h.destinationAddress = formatV6At(buf, o + 16);
    h.sourcePort = buf.readUInt16BE(o + 32);
    h.destinationPort = buf.readUInt16BE(o + 34);
  } else if (af === 3) {
    h.sourceAddress = formatUnixAt(buf, o);
    h.destinationAddress = formatUnixAt(buf, o + UNIX_ADDR_LEN);
  }
}

function hex2(t: number): string {
  return '0x' + t.toString(16).padStart(2, '0');
}

/** Parse TLVs in `buf[start, end)` into `h`; null when well-formed, else the reason. */
function parseTlvs(buf: Buffer, start: number, end: number, h: ProxyHeader): string | null {
  let crcAt = -1;
  let i = start;
  while (i < end) {
    if (end - i < 3) return 'PROXY v2: truncated TLV';
    const type = buf[i]!;
    const vs = i + 3;
    const ve = vs + buf.readUInt16BE(i + 1);
    if (ve > end) return `PROXY v2: TLV ${hex2(type)} runs past the end of the header`;
    h.tlvs.push({ type, value: buf.subarray(vs, ve) });
    switch (type) {
      case PP2_TYPE.ALPN:
        if (h.alpn === undefined) h.alpn = buf.toString('latin1', vs, ve);
        break;
      case PP2_TYPE.AUTHORITY:
        if (h.authority === undefined) h.authority = buf.toString('utf8', vs, ve);
        break;
      case PP2_TYPE.CRC32C:
        if (ve - vs !== 4) return 'PROXY v2: CRC32C TLV must be 4 bytes';
        if (crcAt >= 0) return 'PROXY v2: more than one CRC32C TLV';
        crcAt = vs;
        break;
      case PP2_TYPE.UNIQUE_ID:
        if (ve - vs > MAX_UNIQUE_ID) return 'PROXY v2: UNIQUE_ID TLV over 128 bytes';
        if (h.uniqueId === undefined) h.uniqueId = buf.subarray(vs, ve);
        break;
      case PP2_TYPE.SSL: {
        const why = parseSsl(buf, vs, ve, h);
        if (why !== null) return why;
        break;
      }
      case PP2_TYPE.NETNS:
        if (h.netns === undefined) h.netns = buf.toString('latin1', vs, ve);
        break;
      default:
        break; // NOOP and unknown types: kept in tlvs only
    }
    i = ve;
  }
  if (crcAt >= 0) {
    // Section 2.2.3: checksum of the whole header with the value zeroed.
    let c = crc32cUpdate(0xffffffff, buf, 0, crcAt);
    c = crc32cUpdate(c, ZERO4, 0, 4);
    c = crc32cUpdate(c, buf, crcAt + 4, end);
    h.crc32cOk = ((c ^ 0xffffffff) >>> 0) === buf.readUInt32BE(crcAt);
  }
  return null;
}

/** Section 2.2.6: client (1 byte), verify (4 bytes), then sub-TLVs. */
function parseSsl(buf: Buffer, start: number, end: number, h: ProxyHeader): string | null {
  if (end - start < 5) return 'PROXY v2: SSL TLV shorter than 5 bytes';
  const ssl: ProxySsl = {
    client: buf[start]!,
    verify: buf.readUInt32BE(start + 1),
    version: undefined,
    cn: undefined,
    cipher: undefined,
    sigAlg: undefined,
    keyAlg: undefined,
  };
  let i = start + 5;
  while (i < end) {
    if (end - i < 3) return 'PROXY v2: truncated SSL sub-TLV';
    const type = buf[i]!;
    const vs = i + 3;
    const ve = vs + buf.readUInt16BE(i + 1);
    if (ve > end) return `PROXY v2: SSL sub-TLV ${hex2(type)} runs past the end of the SSL TLV`;
    switch (type) {
      case PP2_TYPE.SSL_VERSION: ssl.version ??= buf.toString('latin1', vs, ve); break;
      case PP2_TYPE.SSL_CN: ssl.cn ??= buf.toString('utf8', vs, ve); break;
      case PP2_TYPE.SSL_CIPHER: ssl.cipher ??= buf.toString('latin1', vs, ve); break;
      case PP2_TYPE.SSL_SIG_ALG: ssl.sigAlg ??= buf.toString('latin1', vs, ve); break;
      case PP2_TYPE.SSL_KEY_ALG: ssl.keyAlg ??= buf.toString('latin1', vs, ve); break;
      default: break;
    }
    i = ve;
  }
  if (h.ssl === undefined) h.ssl = ssl;
  return null;
}

// ---------------------------------------------------------------------------
// Encoding

/** Fields of a v1 header to encode. */
export type ProxyV1Fields = {
  family: 'TCP4' | 'TCP6' | 'UNKNOWN';
  sourceAddress?: string;
  sourcePort?: number;
  destinationAddress?: string;
  destinationPort?: number;
};

/** Optional v2 content beyond the addresses. */
export type ProxyV2Extras = {
  /** Raw TLVs, written after the convenience ones, in order. CRC32C entries are skipped (use `crc32c`). */
  tlvs?: readonly ProxyTlv[];
  alpn?: string;
  authority?: string;
  ssl?: ProxySsl;
  uniqueId?: Uint8Array;
  netns?: string;
  /** Append a PP2_TYPE_CRC32C TLV holding the header's checksum. */
  crc32c?: boolean;
};

/** Fields of a v2 header to encode. */
export type ProxyV2Fields = ProxyV2Extras & {
  command: 'PROXY' | 'LOCAL';
  family: 'TCP4' | 'TCP6' | 'UNKNOWN' | 'UNIX';
  sourceAddress?: string;
  sourcePort?: number;
  destinationAddress?: string;
  destinationPort?: number;
};

/** An endpoint as a Node socket reports it (fields undefined once destroyed). */
export type ProxyEndpoint = { address?: string | undefined; port?: number | undefined };

const encSrc = new Uint16Array(8);
const encDst = new Uint16Array(8);

/**
 * Parse an address into 8 groups (IPv4 as IPv4-mapped). Returns 4 for IPv4
 * or IPv4-mapped IPv6, 6 for other IPv6, 0 if not an IP address. A zone id
 * (`%eth0`) is dropped: the header has no room for it.
 */
function classify(address: string | undefined, out: Uint16Array): 0 | 4 | 6 {
  if (typeof address !== 'string') return 0;
  const pct = address.indexOf('%');
  const end = pct < 0 ? address.length : pct;
  const v4 = pct < 0 ? ipv4ToInt(address) : -1;
  if (v4 >= 0) {
    out.fill(0, 0, 5);
    out[5] = 0xffff;
    out[6] = v4 >>> 16;
    out[7] = v4 & 0xffff;
    return 4;
  }
  if (!ipv6ToGroups(address, out, 0, end)) return 0;
  const mapped = out[0] === 0 && out[1] === 0 && out[2] === 0 && out[3] === 0 && out[4] === 0 && out[5] === 0xffff;
  return mapped ? 4 : 6;
}

/** Resolve TCP4/TCP6 from the two addresses into encSrc/encDst; throws on bad input. */
function resolveTcp(family: 'TCP4' | 'TCP6', src: string | undefined, dst: string | undefined): 4 | 6 {
  const a = classify(src, encSrc);
  if (a === 0) throw new TypeError(`PROXY: bad source address ${JSON.stringify(src)}`);
  const b = classify(dst, encDst);
  if (b === 0) throw new TypeError(`PROXY: bad destination address ${JSON.stringify(dst)}`);
  if (a === 4 && b === 4) return 4; // IPv4-mapped IPv6 goes out as TCP4
  if (family === 'TCP4') throw new TypeError('PROXY: TCP4 needs IPv4 addresses');
  return 6; // any IPv4 address is sent IPv4-mapped
}

function checkPort(port: number | undefined, name: string): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new RangeError(`PROXY: ${name} must be an integer 0..65535, got ${String(port)}`);
  }
  return port;
}

function isPort(port: number | undefined): port is number {
  return typeof port === 'number' && Number.isInteger(port) && port >= 0 && port <= 0xffff;
}

function v4Text(g: Uint16Array): string {
  return `${g[6]! >>> 8}.${g[6]! & 0xff}.${g[7]! >>> 8}.${g[7]! & 0xff}`;
}

const V1_UNKNOWN = 'PROXY UNKNOWN\r\n';

function v1Line(ipv: 4 | 6, sport: number, dport: number): Buffer {
  // IPv6 in pure hex groups (no dotted tail): the exact form section 2.1 describes.
  const line =
    ipv === 4
      ? `PROXY TCP4 ${v4Text(encSrc)} ${v4Text(encDst)} ${sport} ${dport}\r\n`
      : `PROXY TCP6 ${formatIPv6Groups(encSrc, false)} ${formatIPv6Groups(encDst, false)} ${sport} ${dport}\r\n`;
  return Buffer.from(line, 'latin1');
}

/**
 * Encode a v1 line. TCP4 needs IPv4 (or IPv4-mapped) addresses; TCP6 with
 * two IPv4/IPv4-mapped addresses is sent as TCP4, and with one, that one is
 * sent IPv4-mapped. UNKNOWN ignores the addresses. Throws TypeError or
 * RangeError on bad addresses or ports. Allocates the returned Buffer.
 */
export function encodeProxyV1(h: ProxyV1Fields): Buffer {
  if (h.family === 'UNKNOWN') return Buffer.from(V1_UNKNOWN, 'latin1');
  if (h.family !== 'TCP4' && h.family !== 'TCP6') throw new TypeError(`PROXY: bad v1 family ${String(h.family)}`);
  const ipv = resolveTcp(h.family, h.sourceAddress, h.destinationAddress);
  return v1Line(ipv, checkPort(h.sourcePort, 'sourcePort'), checkPort(h.destinationPort, 'destinationPort'));
}

/** Byte length of a string sent as US-ASCII/Latin-1; throws on wider characters. */
function latin1Length(s: string, name: string): number {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff) throw new TypeError(`PROXY: ${name} must be US-ASCII`);
  }
  return s.length;
}

function tlvSize(valueLength: number, name: string): number {
  if (valueLength > 0xffff) throw new RangeError(`PROXY: ${name} TLV over 65535 bytes`);
  return 3 + valueLength;
}

function unixPathLength(path: string | undefined, name: string): number {
  if (typeof path !== 'string') throw new TypeError(`PROXY: UNIX ${name} address missing`);
  const len = path.startsWith('@') ? 1 + Buffer.byteLength(path.slice(1)) : Buffer.byteLength(path);
  if (len > UNIX_ADDR_LEN) throw new RangeError(`PROXY: UNIX ${name} address over ${UNIX_ADDR_LEN} bytes`);
  return len;
}

function writeUnixPath(out: Buffer, o: number, path: string): void {
  out.fill(0, o, o + UNIX_ADDR_LEN);
  if (path.startsWith('@')) out.write(path.slice(1), o + 1, 'utf8');
  else out.write(path, o, 'utf8');
}

function writeTlvHeader(out: Buffer, o: number, type: number, length: number): number {
  out[o] = type;
  out.writeUInt16BE(length, o + 1);
  return o + 3;
}

function writeStringTlv(out: Buffer, o: number, type: number, s: string, enc: 'latin1' | 'utf8'): number {
  const len = enc === 'latin1' ? s.length : Buffer.byteLength(s, 'utf8');
  o = writeTlvHeader(out, o, type, len);
  out.write(s, o, len, enc);
  return o + len;
}

const SSL_SUBS = [
  ['version', PP2_TYPE.SSL_VERSION, 'latin1'],
  ['cn', PP2_TYPE.SSL_CN, 'utf8'],
  ['cipher', PP2_TYPE.SSL_CIPHER, 'latin1'],
  ['sigAlg', PP2_TYPE.SSL_SIG_ALG, 'latin1'],
  ['keyAlg', PP2_TYPE.SSL_KEY_ALG, 'latin1'],
] as const;

function sslValueLength(ssl: ProxySsl): number {
  if (!Number.isInteger(ssl.client) || ssl.client < 0 || ssl.client > 0xff) {
    throw new RangeError('PROXY: ssl.client must be an integer 0..255');
  }
  if (!Number.isInteger(ssl.verify) || ssl.verify < 0 || ssl.verify > 0xffffffff) {
    throw new RangeError('PROXY: ssl.verify must be an unsigned 32-bit integer');
  }
  let len = 5;
  for (const [key, , enc] of SSL_SUBS) {
    const s = ssl[key];
    if (s === undefined) continue;
    len += tlvSize(enc === 'latin1' ? latin1Length(s, `ssl.${key}`) : Buffer.byteLength(s, 'utf8'), `ssl.${key}`);
  }
  return len;
}

/**
 * Encode a v2 header. PROXY with TCP4/TCP6 follows the same address rules
 * as {@link encodeProxyV1}; PROXY with UNIX takes socket paths (`@name` for
 * an abstract socket); PROXY with UNKNOWN, and every LOCAL header, is sent
 * with the UNSPEC family (0x00) and no address block, as section 2.2 asks.
 * TLVs: alpn, authority, ssl, uniqueId, netns, then `tlvs`, then CRC32C when
 * `crc32c` is set. Throws TypeError or RangeError on bad input or a header
 * over 16 + 65535 bytes. Allocates one Buffer of the exact size.
 */
export function encodeProxyV2(h: ProxyV2Fields): Buffer {
  let cmd: number;
  if (h.command === 'PROXY') cmd = 1;
  else if (h.command === 'LOCAL') cmd = 0;
  else throw new TypeError(`PROXY: bad v2 command ${String(h.command)}`);
  let famByte = 0x00;
  let sport = 0;
  let dport = 0;
  if (cmd === 1) {
    switch (h.family) {
      case 'UNKNOWN':
        break;
      case 'TCP4':
      case 'TCP6':
        famByte = resolveTcp(h.family, h.sourceAddress, h.destinationAddress) === 4 ? 0x11 : 0x21;
        sport = checkPort(h.sourcePort, 'sourcePort');
        dport = checkPort(h.destinationPort, 'destinationPort');
        break;
      case 'UNIX':
        unixPathLength(h.sourceAddress, 'source');
        unixPathLength(h.destinationAddress, 'destination');
        famByte = 0x31;
        break;
      default:
        throw new TypeError(`PROXY: bad v2 family ${String(h.family)}`);
    }
  }
  return writeV2(cmd, famByte, sport, dport, h.sourceAddress, h.destinationAddress, h);
}

/** Write a v2 header whose TCP addresses (if any) are already in encSrc/encDst. */
function writeV2(
  cmd: number,
  famByte: number,
  sport: number,
  dport: number,
  srcPath: string | undefined,
  dstPath: string | undefined,
  x: ProxyV2Extras,
): Buffer {
  const addrLen = famByte === 0x11 ? 12 : famByte === 0x21 ? 36 : famByte === 0x31 ? 2 * UNIX_ADDR_LEN : 0;
  let len = addrLen;
  if (x.alpn !== undefined) len += tlvSize(latin1Length(x.alpn, 'alpn'), 'alpn');
  if (x.authority !== undefined) len += tlvSize(Buffer.byteLength(x.authority, 'utf8'), 'authority');
  if (x.ssl !== undefined) len += tlvSize(sslValueLength(x.ssl), 'ssl');
  if (x.uniqueId !== undefined) {
    if (x.uniqueId.length > MAX_UNIQUE_ID) throw new RangeError('PROXY: uniqueId over 128 bytes');
    len += 3 + x.uniqueId.length;
  }
  if (x.netns !== undefined) len += tlvSize(latin1Length(x.netns, 'netns'), 'netns');
  if (x.tlvs !== undefined) {
    for (const t of x.tlvs) {
      if (!Number.isInteger(t.type) || t.type < 0 || t.type > 0xff) throw new RangeError('PROXY: TLV type must be 0..255');
      if (t.type !== PP2_TYPE.CRC32C) len += tlvSize(t.value.length, `type ${hex2(t.type)}`);
    }
  }
  if (x.crc32c === true) len += 3 + 4;
  if (len > 0xffff) throw new RangeError(`PROXY: v2 header of ${PROXY_V2_HEADER_LENGTH + len} bytes is over the limit`);

  const out = Buffer.allocUnsafe(PROXY_V2_HEADER_LENGTH + len);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x20 | cmd;
  out[13] = famByte;
  out.writeUInt16BE(len, 14);
  let o = PROXY_V2_HEADER_LENGTH;
  if (famByte === 0x11) {
    out.writeUInt16BE(encSrc[6]!, o);
    out.writeUInt16BE(encSrc[7]!, o + 2);
    out.writeUInt16BE(encDst[6]!, o + 4);
    out.writeUInt16BE(encDst[7]!, o + 6);
    out.writeUInt16BE(sport, o + 8);
    out.writeUInt16BE(dport, o + 10);
  } else if (famByte === 0x21) {
    for (let k = 0; k < 8; k++) {
      out.writeUInt16BE(encSrc[k]!, o + 2 * k);
      out.writeUInt16BE(encDst[k]!, o + 16 + 2 * k);
    }
    out.writeUInt16BE(sport, o + 32);
    out.writeUInt16BE(dport, o + 34);
  } else if (famByte === 0x31) {
    writeUnixPath(out, o, srcPath!);
    writeUnixPath(out, o + UNIX_ADDR_LEN, dstPath!);
  }
  o += addrLen;
  if (x.alpn !== undefined) o = writeStringTlv(out, o, PP2_TYPE.ALPN, x.alpn, 'latin1');
  if (x.authority !== undefined) o = writeStringTlv(out, o, PP2_TYPE.AUTHORITY, x.authority, 'utf8');
  if (x.ssl !== undefined) {
    const ssl = x.ssl;
    o = writeTlvHeader(out, o, PP2_TYPE.SSL, sslValueLength(ssl));
    out[o] = ssl.client;
    out.writeUInt32BE(ssl.verify, o + 1);
    o += 5;
    for (const [key, type, enc] of SSL_SUBS) {
      const s = ssl[key];
      if (s !== undefined) o = writeStringTlv(out, o, type, s, enc);
    }
  }
  if (x.uniqueId !== undefined) {
    o = writeTlvHeader(out, o, PP2_TYPE.UNIQUE_ID, x.uniqueId.length);
    out.set(x.uniqueId, o);
    o += x.uniqueId.length;
  }
  if (x.netns !== undefined) o = writeStringTlv(out, o, PP2_TYPE.NETNS, x.netns, 'latin1');
  if (x.tlvs !== undefined) {
    for (const t of x.tlvs) {
      if (t.type === PP2_TYPE.CRC32C) continue;
      o = writeTlvHeader(out, o, t.type, t.value.length);
      out.set(t.value, o);
      o += t.value.length;
    }
  }
  if (x.crc32c === true) {
    o = writeTlvHeader(out, o, PP2_TYPE.CRC32C, 4);
    out.writeUInt32BE(0, o);
    out.writeUInt32BE(crc32c(out), o);
  }
  return out;
}

/**
 * The header to send to a backend for a client connection: `client` is the
 * client socket's remote end, `local` the address it connected to. Picks
 * TCP4 when both are IPv4 (IPv4-mapped included), else TCP6 with any IPv4
 * address IPv4-mapped (section 4.2: the receiver still learns the real
 * client). When an address or port is missing or not IP (a UNIX socket, a
 * destroyed socket), falls back to what section 2.1/2.2 prescribe for
 * information that cannot be filled: v1 `UNKNOWN`, v2 PROXY with the UNSPEC
 * family (LOCAL is for the proxy's own connections, such as health checks).
 * `extras` (v2 only) adds TLVs. Allocates the returned Buffer.
 */
export function proxyHeaderFor(version: 1 | 2, client: ProxyEndpoint, local: ProxyEndpoint, extras?: ProxyV2Extras): Buffer {
  const a = classify(client.address, encSrc);
  const b = a === 0 ? 0 : classify(local.address, encDst);
  const ok = b !== 0 && isPort(client.port) && isPort(local.port);
  const ipv: 4 | 6 = a === 4 && b === 4 ? 4 : 6;
  if (version === 1) {
    return ok ? v1Line(ipv, client.port!, local.port!) : Buffer.from(V1_UNKNOWN, 'latin1');
  }
  if (version !== 2) throw new RangeError(`PROXY: version must be 1 or 2, got ${String(version)}`);
  const x = extras ?? NO_EXTRAS;
  return ok ? writeV2(1, ipv === 4 ? 0x11 : 0x21, client.port!, local.port!, undefined, undefined, x) : writeV2(1, 0x00, 0, 0, undefined, undefined, x);
}

const NO_EXTRAS: ProxyV2Extras = Object.freeze({});
