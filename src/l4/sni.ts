/**
 * TLS ClientHello peeker for passthrough mode (the "Peek" stage): reads the
 * server name (SNI), the ALPN offer and the supported versions from the bytes
 * a client has sent so far, without consuming them. The caller keeps its
 * buffer and forwards it untouched to the backend it chooses.
 *
 * Pure: no sockets, no timers. The caller passes everything received so far
 * on every read; a parse is a walk over at most `maxBytes` bytes, so calling
 * it again per read is bounded.
 *
 * Sources:
 * - RFC 8446 §5.1 (record layer): TLSPlaintext { type, legacy_record_version,
 *   uint16 length <= 2^14, fragment }. Handshake messages may be fragmented
 *   across records, must not be interleaved with other record types, and
 *   zero-length handshake fragments must not be sent.
 * - RFC 8446 §4 (handshake header: msg_type, uint24 length) and §4.1.2
 *   (ClientHello: legacy_version, random[32], legacy_session_id<0..32>,
 *   cipher_suites<2..2^16-2>, legacy_compression_methods<1..2^8-1>,
 *   extensions<8..2^16-1>); RFC 5246 §7.4.1.2: extensions may be absent.
 * - RFC 8446 §4.2: at most one extension of each type.
 * - RFC 6066 §3: server_name (type 0), ServerNameList<1..2^16-1> of
 *   { name_type, HostName<1..2^16-1> }, at most one name per name_type,
 *   host_name (0) is an ASCII DNS name without a trailing dot.
 * - RFC 7301 §3.1: application_layer_protocol_negotiation (type 16),
 *   ProtocolNameList<2..2^16-1> of ProtocolName<1..2^8-1>.
 * - RFC 8446 §4.2.1: supported_versions (type 43), in a ClientHello
 *   ProtocolVersion versions<2..254>.
 */

/** The bytes so far are a valid prefix of a ClientHello; read more. */
export interface ClientHelloIncomplete {
  readonly status: 'incomplete';
}

/** A complete ClientHello. */
export interface ClientHelloOk {
  readonly status: 'ok';
  /** The host_name from server_name, lowercased; null when the client sent none. */
  readonly serverName: string | null;
  /** The ALPN protocols offered, in the client's order (raw, GREASE included); [] when none. */
  readonly alpn: string[];
  /** supported_versions (e.g. 0x0304 for TLS 1.3), raw; absent when the extension is. */
  readonly tlsVersions?: number[];
  /** Bytes of the records that carried the whole hello (a prefix of the buffer). */
  readonly length: number;
}

/** The first bytes are not a TLS handshake record: the client speaks something else. */
export interface ClientHelloNotTls {
  readonly status: 'not-tls';
  readonly reason: string;
}

/** A TLS handshake record, but not a ClientHello lb4 accepts. */
export interface ClientHelloError {
  readonly status: 'error';
  readonly reason: string;
}

export type ClientHelloResult = ClientHelloIncomplete | ClientHelloOk | ClientHelloNotTls | ClientHelloError;

/** Default bound on the records carrying a hello; large post-quantum hellos are ~2 KB. */
export const DEFAULT_MAX_HELLO_BYTES = 16384;

const CONTENT_TYPE_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
/** RFC 8446 §5.1: TLSPlaintext.length MUST NOT exceed 2^14 (a ClientHello is never protected). */
const MAX_RECORD_PAYLOAD = 16384;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;
const NAME_TYPE_HOST_NAME = 0;
const MAX_HOST_NAME = 253;
const MAX_LABEL = 63;

const INCOMPLETE: ClientHelloIncomplete = Object.freeze({ status: 'incomplete' });

function notTls(reason: string): ClientHelloNotTls {
  return { status: 'not-tls', reason };
}

function fail(reason: string): ClientHelloError {
  return { status: 'error', reason };
}

/**
 * Parse the TLS ClientHello at the start of `buf`, reassembling it across
 * records and across reads (pass the whole buffer received so far).
 *
 * Decides as early as it can: `not-tls` after the first two bytes (content
 * type 22, version major 3), `error` as soon as a record or handshake header
 * is wrong or announces more than `maxBytes`. `ok` only once every record
 * carrying the hello is complete; `length` is where those records end.
 *
 * Never throws and never reads out of bounds. Allocates the result, the
 * strings it returns, and one copy of the message only when it is
 * fragmented over several records.
 */
export function parseClientHello(buf: Buffer, maxBytes = DEFAULT_MAX_HELLO_BYTES): ClientHelloResult {
  const n = buf.length;
  if (n === 0) return INCOMPLETE;
  if (buf[0] !== CONTENT_TYPE_HANDSHAKE) return notTls(`content type ${buf[0]} is not a TLS handshake (22)`);
  if (n < 2) return INCOMPLETE;
  if (buf[1] !== 3) return notTls(`record version major ${buf[1]} is not 3`);

  // Walk the records. `got` counts handshake bytes seen so far; the first four
  // of them (the handshake header, which may itself be fragmented) are read
  // on the way into `msgLen`.
  let off = 0;
  let got = 0;
  let acc = 0;
  let msgLen = -1; // handshake header + body, once the header is known
  let records = 0;
  let firstFragment = 0;
  for (;;) {
    if (off + RECORD_HEADER > n) {
      // A partial record header: check what is there before asking for more.
      if (off > 0 && off < n && buf[off] !== CONTENT_TYPE_HANDSHAKE) {
        return fail(`record type ${buf[off]} interleaved in the handshake`);
      }
      if (off > 0 && off + 1 < n && buf[off + 1] !== 3) return fail(`record version major ${buf[off + 1]} is not 3`);
      return INCOMPLETE;
    }
    if (off > 0) {
      // RFC 8446 §5.1: handshake messages are not interleaved with other types.
      if (buf[off] !== CONTENT_TYPE_HANDSHAKE) return fail(`record type ${buf[off]} interleaved in the handshake`);
      if (buf[off + 1] !== 3) return fail(`record version major ${buf[off + 1]} is not 3`);
    }
    const recLen = (buf[off + 3] << 8) | buf[off + 4];
    if (recLen === 0) return fail('zero-length handshake record');
    if (recLen > MAX_RECORD_PAYLOAD) return fail(`record length ${recLen} exceeds 2^14`);
    const fragStart = off + RECORD_HEADER;
    const recEnd = fragStart + recLen;
    if (recEnd > maxBytes) return fail(`ClientHello records exceed ${maxBytes} bytes`);
    if (records === 0) firstFragment = fragStart;
    records++;
    const avail = recEnd < n ? recEnd : n;

    // Handshake header bytes in this fragment, if still needed.
    let i = fragStart;
    while (got < HANDSHAKE_HEADER && i < avail) {
      const b = buf[i++];
      if (got === 0) {
        if (b !== HANDSHAKE_CLIENT_HELLO) return fail(`handshake type ${b} is not ClientHello (1)`);
      } else {
        acc = (acc << 8) | b;
      }
      got++;
      if (got === HANDSHAKE_HEADER) {
        msgLen = HANDSHAKE_HEADER + acc;
        // The hello needs at least its own bytes plus one record header.
        if (msgLen + RECORD_HEADER > maxBytes) return fail(`ClientHello of ${acc} bytes exceeds ${maxBytes} bytes`);
      }
    }
    got += avail - i;

    if (avail < recEnd) return INCOMPLETE; // the record is not all here yet
    if (msgLen >= 0 && got >= msgLen) {
      // The hello ends in this record (anything after it in the same record
      // is the backend's business). Parse the body in place when one record
      // carried it all, otherwise from a reassembled copy.
      if (records === 1) return parseBody(buf, firstFragment + HANDSHAKE_HEADER, firstFragment + msgLen, recEnd);
      const msg = reassemble(buf, msgLen);
      return parseBody(msg, HANDSHAKE_HEADER, msgLen, recEnd);
    }
    off = recEnd;
  }
}

/** Copy the first `msgLen` handshake bytes out of the (already validated) records. */
function reassemble(buf: Buffer, msgLen: number): Buffer {
  const msg = Buffer.allocUnsafe(msgLen);
  let filled = 0;
  let off = 0;
  while (filled < msgLen) {
    const recLen = (buf[off + 3] << 8) | buf[off + 4];
    const start = off + RECORD_HEADER;
    const take = recLen < msgLen - filled ? recLen : msgLen - filled;
    buf.copy(msg, filled, start, start + take);
    filled += take;
    off = start + recLen;
  }
  return msg;
}

/**
 * Parse a ClientHello body, RFC 8446 §4.1.2, from `b[pos..end)`.
 * `length` is the byte count reported on success.
 */
function parseBody(b: Buffer, pos: number, end: number, length: number): ClientHelloResult {
  // legacy_version (2) + random (32) + legacy_session_id length (1)
  if (pos + 35 > end) return fail('ClientHello too short');
  if (b[pos] !== 3) return fail(`legacy_version major ${b[pos]} is not 3`);
  pos += 34;
  const sidLen = b[pos++];
  if (sidLen > 32) return fail(`legacy_session_id of ${sidLen} bytes (max 32)`);
  pos += sidLen;

  if (pos + 2 > end) return fail('truncated cipher_suites');
  const csLen = (b[pos] << 8) | b[pos + 1];
  pos += 2;
  if (csLen < 2 || (csLen & 1) !== 0) return fail(`cipher_suites length ${csLen} is invalid`);
  if (pos + csLen > end) return fail('truncated cipher_suites');
  pos += csLen;

  if (pos + 1 > end) return fail('truncated legacy_compression_methods');
  const cmLen = b[pos++];
  if (cmLen < 1) return fail('empty legacy_compression_methods');
  if (pos + cmLen > end) return fail('truncated legacy_compression_methods');
  pos += cmLen;

  let serverName: string | null = null;
  let alpn: string[] = [];
  let tlsVersions: number[] | undefined;
  // RFC 5246 §7.4.1.2: a hello without extensions ends here.
  if (pos === end) return { status: 'ok', serverName, alpn, length };

  if (pos + 2 > end) return fail('truncated extensions');
  const extLen = (b[pos] << 8) | b[pos + 1];
  pos += 2;
  if (pos + extLen !== end) return fail(`extensions length ${extLen} does not match the ClientHello`);

  let seenSni = false;
  let seenAlpn = false;
  while (pos < end) {
    if (pos + 4 > end) return fail('truncated extension header');
    const type = (b[pos] << 8) | b[pos + 1];
    const len = (b[pos + 2] << 8) | b[pos + 3];
    pos += 4;
    const dataEnd = pos + len;
    if (dataEnd > end) return fail(`extension ${type} overruns the ClientHello`);
    if (type === EXT_SERVER_NAME) {
      if (seenSni) return fail('duplicate server_name extension');
      seenSni = true;
      const r = parseServerName(b, pos, dataEnd);
      if (typeof r !== 'string' && r !== null) return r;
      serverName = r;
    } else if (type === EXT_ALPN) {
      if (seenAlpn) return fail('duplicate ALPN extension');
      seenAlpn = true;
      const r = parseAlpn(b, pos, dataEnd);
      if (!Array.isArray(r)) return r;
      alpn = r;
    } else if (type === EXT_SUPPORTED_VERSIONS) {
      if (tlsVersions !== undefined) return fail('duplicate supported_versions extension');
      const r = parseSupportedVersions(b, pos, dataEnd);
      if (!Array.isArray(r)) return r;
      tlsVersions = r;
    }
    pos = dataEnd;
  }
  return tlsVersions === undefined
    ? { status: 'ok', serverName, alpn, length }
    : { status: 'ok', serverName, alpn, tlsVersions, length };
}

/** RFC 6066 §3 ServerNameList: the host_name, lowercased, or null if none. */
function parseServerName(b: Buffer, pos: number, end: number): string | null | ClientHelloError {
  if (pos + 2 > end) return fail('truncated server_name list');
  const listLen = (b[pos] << 8) | b[pos + 1];
  pos += 2;
  if (listLen === 0 || pos + listLen !== end) return fail('server_name list length is invalid');
  let host: string | null = null;
  while (pos < end) {
    if (pos + 3 > end) return fail('truncated server_name entry');
    const nameType = b[pos];
    const len = (b[pos + 1] << 8) | b[pos + 2];
    pos += 3;
    if (len === 0 || pos + len > end) return fail('server_name entry length is invalid');
    // Every name type defined so far is opaque<1..2^16-1>; other types are skipped.
    if (nameType === NAME_TYPE_HOST_NAME) {
      if (host !== null) return fail('more than one host_name in server_name');
      const r = hostName(b, pos, pos + len);
      if (r === null) return fail('server_name host_name is not a valid DNS name');
      host = r;
    }
    pos += len;
  }
  return host;
}

/**
 * Validate a host_name and return it lowercased, or null. Accepts LDH labels
 * (plus `_`, which real names carry) of 1..63 bytes, 253 bytes in all; one
 * trailing dot is tolerated and dropped (RFC 6066 forbids it, some clients
 * send it). Anything else (spaces, slashes, NUL, non-ASCII, empty labels)
 * is refused so that nothing odd reaches routing tables or logs.
 */
function hostName(b: Buffer, start: number, end: number): string | null {
  if (end > start && b[end - 1] === 0x2e) end--;
  const len = end - start;
  if (len < 1 || len > MAX_HOST_NAME) return null;
  let label = 0;
  let upper = false;
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c === 0x2e) {
      if (label === 0) return null;
      label = 0;
      continue;
    }
    if (c >= 0x41 && c <= 0x5a) upper = true;
    else if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f)) return null;
    if (++label > MAX_LABEL) return null;
  }
  if (label === 0) return null;
  const s = b.toString('latin1', start, end);
  return upper ? s.toLowerCase() : s;
}

/** RFC 7301 §3.1 ProtocolNameList. Names are decoded byte-for-byte (latin1). */
function parseAlpn(b: Buffer, pos: number, end: number): string[] | ClientHelloError {
  if (pos + 2 > end) return fail('truncated ALPN list');
  const listLen = (b[pos] << 8) | b[pos + 1];
  pos += 2;
  if (listLen < 2 || pos + listLen !== end) return fail('ALPN list length is invalid');
  const out: string[] = [];
  while (pos < end) {
    const len = b[pos++];
    if (len === 0) return fail('empty ALPN protocol name');
    if (pos + len > end) return fail('truncated ALPN protocol name');
    out.push(b.toString('latin1', pos, pos + len));
    pos += len;
  }
  return out;
}

/** RFC 8446 §4.2.1 supported_versions in a ClientHello: versions<2..254>. */
function parseSupportedVersions(b: Buffer, pos: number, end: number): number[] | ClientHelloError {
  if (pos + 1 > end) return fail('truncated supported_versions');
  const len = b[pos++];
  if (len < 2 || (len & 1) !== 0 || pos + len !== end) return fail('supported_versions length is invalid');
  const out: number[] = [];
  for (; pos < end; pos += 2) out.push((b[pos] << 8) | b[pos + 1]);
  return out;
}

/**
 * Does a server name match a pattern? Case-insensitive. `*.example.com`
 * matches any name ending in `.example.com` with at least one label before
 * it (`a.example.com`, `a.b.example.com`), not `example.com` itself: nginx
 * `server_name` semantics, not the one-label certificate wildcard. Any other
 * pattern is compared exactly. Allocates only to lowercase.
 */
export function matchServerName(name: string, pattern: string): boolean {
  const n = name.toLowerCase();
  const p = pattern.toLowerCase();
  if (p.length > 2 && p.charCodeAt(0) === 0x2a /* * */ && p.charCodeAt(1) === 0x2e /* . */) {
    const suffix = p.slice(1); // ".example.com"
    return n.length > suffix.length && n.endsWith(suffix);
  }
  return n === p;
}

/**
 * Routes a server name to a target: an exact name first (one Map lookup),
 * then the longest matching `*.suffix` wildcard (one lookup per label), then
 * the default. Built once per configuration; the first route wins among
 * duplicates. Throws TypeError on a pattern that is neither a name nor
 * `*.suffix` (config validation should have caught it first).
 */
export class SniRouter<T> {
  private readonly exact: Map<string, T>;
  /** Keyed by the suffix with its leading dot: `.example.com`. */
  private readonly wildcard: Map<string, T>;
  private readonly defaultTarget: T | undefined;

  constructor(routes: ReadonlyArray<{ pattern: string; target: T }>, defaultTarget?: T) {
    this.exact = new Map();
    this.wildcard = new Map();
    this.defaultTarget = defaultTarget;
    for (const { pattern, target } of routes) {
      const p = pattern.toLowerCase();
      const star = p.indexOf('*');
      if (star === -1) {
        if (p.length === 0 || p.startsWith('.') || p.endsWith('.')) {
          throw new TypeError(`invalid server name pattern ${JSON.stringify(pattern)}`);
        }
        if (!this.exact.has(p)) this.exact.set(p, target);
        continue;
      }
      const suffix = p.slice(1);
      if (star !== 0 || suffix.length < 2 || suffix.charCodeAt(0) !== 0x2e || suffix.indexOf('*') !== -1 || suffix.endsWith('.') || suffix.includes('..')) {
        throw new TypeError(`invalid server name pattern ${JSON.stringify(pattern)}: use a name or *.suffix`);
      }
      if (!this.wildcard.has(suffix)) this.wildcard.set(suffix, target);
    }
  }

  /** The target for a server name (null: the client sent none), or undefined. */
  route(serverName: string | null): T | undefined {
    if (serverName === null || serverName.length === 0) return this.defaultTarget;
    const name = serverName.toLowerCase();
    const hit = this.exact.get(name);
    if (hit !== undefined) return hit;
    if (this.wildcard.size > 0) {
      // The leftmost dot after the first character gives the longest suffix.
      for (let dot = name.indexOf('.', 1); dot !== -1; dot = name.indexOf('.', dot + 1)) {
        const w = this.wildcard.get(name.slice(dot));
        if (w !== undefined) return w;
      }
    }
    return this.defaultTarget;
  }
}
