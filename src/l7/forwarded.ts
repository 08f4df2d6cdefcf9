/**
 * Head rewriting for L7 mode (docs/reference.md, "L7 rules"): the outgoing request head is
 * built from the client's original bytes, line by line, with only these edits:
 *
 * - `X-Forwarded-For`: the client IP is appended to the LAST such line as
 *   `, IP` (the line's other bytes are kept), or a line is added when none;
 * - `X-Forwarded-Proto`: every client-sent line is dropped and one line
 *   `X-Forwarded-Proto: http|https` is added;
 * - hop-by-hop headers (RFC 9110 section 7.6.1): `Connection` and every
 *   header it names, `Keep-Alive`, `TE`, `Proxy-Connection`, and `Upgrade`
 *   unless the request is an upgrade, are dropped, so that client and
 *   backend persistence are managed independently. `Transfer-Encoding` and
 *   `Content-Length` always stay as sent (they frame the body we forward
 *   byte for byte), even when `Connection` names them.
 *
 * - absolute-form requests (RFC 9112 section 3.2.2, see target.ts): the
 *   request line carries the origin-form target instead, and `Host` (kept
 *   in place, with the client's name case) carries the target's authority,
 *   or is added right after the request line when the client sent none.
 *
 * Untouched lines are copied as slices of the original head (header order,
 * case and spacing kept); nothing is re-serialised. Responses get the same
 * hop-by-hop treatment plus the `Connection` line lb4 needs toward the client.
 *
 * Allocation: one Buffer per head (the result) and, only when a `Connection`
 * header is present, a small array of its tokens.
 */
import { equalsIgnoreCase, type ParsedHead } from './parser.js';

const CRLF = Buffer.from('\r\n', 'latin1');

/** Line actions. */
const KEEP = 0;
const DROP = 1;
const APPEND = 2;
const HOST = 3;

/** What to add at the end of a rewritten head. */
export interface HeadEdits {
  /** Request: the IP appended to (or added as) X-Forwarded-For; '' = none (responses). */
  xff: string;
  /** Request: the line `X-Forwarded-Proto: ...\r\n` to add ('' = none). */
  protoLine: string;
  /** Keep the `Upgrade` header (an upgrade request, or a 101 response). */
  upgrading: boolean;
  /** A `Connection: ...\r\n` line to add ('' = none). */
  connectionLine: string;
  /** Request: the origin-form target that replaces an absolute-form one in the request line ('' = keep the line). */
  target: string;
  /** Request: the value that replaces `Host` (added when absent); '' = keep Host as sent. */
  host: string;
}

export const PROTO_HTTP = 'X-Forwarded-Proto: http\r\n';
export const PROTO_HTTPS = 'X-Forwarded-Proto: https\r\n';
export const CONN_CLOSE = 'Connection: close\r\n';
export const CONN_KEEPALIVE = 'Connection: keep-alive\r\n';
export const CONN_UPGRADE = 'Connection: upgrade\r\n';

/** Scratch for line ends, grown as needed (module-level: rewriting is synchronous). */
let lineEnds = new Int32Array(128);
let actions = new Uint8Array(128);

/**
 * Rewrite one head. `raw` holds exactly the head's bytes (start line through
 * the blank line's CRLF) and `head` is what the parser made of it. Returns a
 * new Buffer with the edits of `edits` applied.
 */
export function rewriteHead(raw: Buffer, head: ParsedHead, edits: HeadEdits): Buffer {
  const n = head.headerCount;
  if (lineEnds.length < n + 1) {
    lineEnds = new Int32Array(n + 1);
    actions = new Uint8Array(n + 1);
  }
  // lineEnds[0] = end of the start line (after its CRLF); lineEnds[i+1] = end of header line i.
  let pos = raw.indexOf(CRLF, 0) + 2;
  lineEnds[0] = pos;
  for (let i = 0; i < n; i++) {
    pos = raw.indexOf(CRLF, pos) + 2;
    lineEnds[i + 1] = pos;
  }
  const tokens = connectionTokens(head);
  const names = head.headerNames;
  let lastXff = -1;
  // The request line is `METHOD SP target SP HTTP/1.x CRLF` exactly (the
  // parser insists): a new target keeps the method and the 11-byte tail.
  const newTarget = edits.target !== '';
  let size = newTarget ? head.method.length + 1 + edits.target.length + 11 : lineEnds[0]!;
  let hostAt = -1;
  for (let i = 0; i < n; i++) {
    const name = names[i]!;
    let a = KEEP;
    switch (name.length) {
      case 4:
        if (edits.host !== '' && equalsIgnoreCase(name, 'host')) {
          // (a second Host line never gets here: answered 400)
          a = hostAt < 0 ? HOST : DROP;
          if (hostAt < 0) hostAt = i;
        }
        break;
      case 2:
        if (equalsIgnoreCase(name, 'te')) a = DROP;
        break;
      case 7:
        if (!edits.upgrading && equalsIgnoreCase(name, 'upgrade')) a = DROP;
        break;
      case 10:
        if (equalsIgnoreCase(name, 'connection') || equalsIgnoreCase(name, 'keep-alive')) a = DROP;
        break;
      case 15:
        if (edits.xff !== '' && equalsIgnoreCase(name, 'x-forwarded-for')) lastXff = i;
        break;
      case 16:
        if (equalsIgnoreCase(name, 'proxy-connection')) a = DROP;
        break;
      case 17:
        if (edits.protoLine !== '' && equalsIgnoreCase(name, 'x-forwarded-proto')) a = DROP;
        break;
      default:
        break;
    }
    if (a === KEEP && tokens !== null && isNamed(tokens, name, edits.upgrading)) a = DROP;
    actions[i] = a;
    if (a === KEEP) size += lineEnds[i + 1]! - lineEnds[i]!;
    else if (a === HOST) size += name.length + 2 + edits.host.length + 2;
  }
  const addHost = edits.host !== '' && hostAt < 0;
  if (addHost) size += 6 + edits.host.length + 2;
  let xffValueEnd = 0;
  let xffSep = '';
  if (lastXff >= 0 && actions[lastXff] === KEEP) {
    actions[lastXff] = APPEND;
    const start = lineEnds[lastXff]!;
    let e = lineEnds[lastXff + 1]! - 2;
    while (e > start && (raw[e - 1] === 0x20 || raw[e - 1] === 0x09)) e--;
    xffValueEnd = e;
    xffSep = head.headerValues[lastXff] === '' ? ' ' : ', ';
    size += e - start - (lineEnds[lastXff + 1]! - lineEnds[lastXff]!) + xffSep.length + edits.xff.length + 2;
  } else if (edits.xff !== '') {
    lastXff = -1;
  }
  const addXff = edits.xff !== '' && lastXff < 0;
  if (addXff) size += 17 + edits.xff.length + 2;
  size += edits.protoLine.length + edits.connectionLine.length + 2;

  const out = Buffer.allocUnsafe(size);
  let o: number;
  if (newTarget) {
    o = out.write(head.method, 0, 'latin1');
    out[o++] = 0x20;
    o += out.write(edits.target, o, 'latin1');
    o += raw.copy(out, o, lineEnds[0]! - 11, lineEnds[0]!);
  } else {
    o = raw.copy(out, 0, 0, lineEnds[0]!);
  }
  if (addHost) {
    o += out.write('Host: ', o, 'latin1');
    o += out.write(edits.host, o, 'latin1');
    out[o++] = 13;
    out[o++] = 10;
  }
  // Copy runs of kept lines in one go.
  let runStart = -1;
  for (let i = 0; i < n; i++) {
    const a = actions[i]!;
    if (a === KEEP) {
      if (runStart < 0) runStart = lineEnds[i]!;
      continue;
    }
    if (runStart >= 0) {
      o += raw.copy(out, o, runStart, lineEnds[i]!);
      runStart = -1;
    }
    if (a === APPEND) {
      o += raw.copy(out, o, lineEnds[i]!, xffValueEnd);
      o += out.write(xffSep, o, 'latin1');
      o += out.write(edits.xff, o, 'latin1');
      out[o++] = 13;
      out[o++] = 10;
    } else if (a === HOST) {
      o += out.write(names[i]!, o, 'latin1');
      out[o++] = 0x3a;
      out[o++] = 0x20;
      o += out.write(edits.host, o, 'latin1');
      out[o++] = 13;
      out[o++] = 10;
    }
  }
  if (runStart >= 0) o += raw.copy(out, o, runStart, lineEnds[n]!);
  if (addXff) {
    o += out.write('X-Forwarded-For: ', o, 'latin1');
    o += out.write(edits.xff, o, 'latin1');
    out[o++] = 13;
    out[o++] = 10;
  }
  if (edits.protoLine !== '') o += out.write(edits.protoLine, o, 'latin1');
  if (edits.connectionLine !== '') o += out.write(edits.connectionLine, o, 'latin1');
  out[o++] = 13;
  out[o++] = 10;
  return o === size ? out : out.subarray(0, o);
}

/** Lower-cased tokens of every `Connection` header, or null when there is none. */
function connectionTokens(head: ParsedHead): string[] | null {
  let i = head.findHeader('connection');
  if (i < 0) return null;
  const tokens: string[] = [];
  for (; i >= 0; i = head.findHeader('connection', i + 1)) {
    for (const part of head.headerValues[i]!.split(',')) {
      const tok = part.trim().toLowerCase();
      if (tok !== '' && tok !== 'close' && tok !== 'keep-alive') tokens.push(tok);
    }
  }
  return tokens.length > 0 ? tokens : null;
}

/** Is header `name` listed in Connection (framing headers never are, for us)? */
function isNamed(tokens: string[], name: string, upgrading: boolean): boolean {
  const len = name.length;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.length !== len || !equalsIgnoreCase(t, name)) continue;
    if (len === 14 && equalsIgnoreCase(name, 'content-length')) return false;
    if (len === 17 && equalsIgnoreCase(name, 'transfer-encoding')) return false;
    if (len === 4 && equalsIgnoreCase(name, 'host')) return false;
    if (upgrading && len === 7) return false;
    return true;
  }
  return false;
}

/**
 * The client IP (docs/reference.md, "L7 rules") of one request: `peer` itself unless it is
 * a trusted proxy; then the rightmost `X-Forwarded-For` address (over every
 * XFF line, in order) that is not trusted, or the leftmost when all are. An
 * entry that is not an IP address ends the walk (the nearest trusted hop is
 * used): a forged value never becomes the client IP. Allocates only when the
 * peer is trusted and the header is present.
 */
export function clientIpFrom(peer: string, head: ParsedHead, trusted: { has(ip: string): boolean } | null, isIp: (s: string) => boolean): string {
  if (trusted === null || !trusted.has(peer)) return peer;
  let ip = peer;
  // collect entries right to left across lines (last line first)
  const lines: number[] = [];
  for (let i = head.findHeader('x-forwarded-for'); i >= 0; i = head.findHeader('x-forwarded-for', i + 1)) lines.push(i);
  for (let l = lines.length - 1; l >= 0; l--) {
    const parts = head.headerValues[lines[l]!]!.split(',');
    for (let k = parts.length - 1; k >= 0; k--) {
      const e = parts[k]!.trim();
      if (e === '') continue;
      if (!isIp(e)) return ip;
      ip = e;
      if (!trusted.has(e)) return e;
    }
  }
  return ip;
}
