/**
 * Differential test: our wasm llhttp wrapper against Node's own native llhttp
 * binding (`_http_common`'s HTTPParser, driven the way lib/_http_server.js and
 * lib/_http_client.js drive it, with kLenientNone as Node does unless
 * --insecure-http-parser). A corpus of valid and invalid messages, each fed
 * whole and split at random points (seeded PRNG), must give the same messages
 * (method, url, status, headers, body bytes, keep-alive, upgrade) and the
 * same verdict (ok / upgrade at byte N / error with the same HPE_* code).
 *
 * Where Node accepts what we reject, the case is listed in DIFFERENCES with
 * the reason, and our stricter outcome is asserted deliberately.
 */
import { createRequire } from 'node:module';
import t, { type Test } from 'tap';
import { ExecResult, HttpParser, llhttpConstants, type ParsedHead, type ParserHandler } from '../../src/l7/parser.js';

const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------
// Node's native parser (internal, untyped: the little we use, typed here).

interface NodeParser {
  initialize(type: number, resource: object, maxHeaderSize?: number, lenientFlags?: number): void;
  execute(chunk: Buffer): number | (Error & { code: string; bytesParsed: number });
  finish(): undefined | (Error & { code: string });
  [k: number]: unknown;
}
interface NodeParserCtor {
  new (): NodeParser;
  REQUEST: number;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kLenientNone: number;
}
const { HTTPParser } = require('_http_common') as { HTTPParser: NodeParserCtor };
// Node's native binding numbers methods as llhttp does, but _http_common's
// `methods` list may lag behind llhttp (Node 20 lacks QUERY): map with llhttp's.
const methods = llhttpConstants.methodNames;

interface Msg {
  method: string;
  url: string;
  status: number;
  headers: string[];
  body: string;
  keepAlive: boolean;
  upgrade: boolean;
}
interface Transcript {
  messages: Msg[];
  /** 'ok', 'upgrade@N' (global byte offset of the upgraded bytes) or 'error'. */
  verdict: string;
  code: string;
}

function runNode(kind: 'request' | 'response', chunks: Buffer[], eof: boolean, maxHeaderSize: number): Transcript {
  const p = new HTTPParser();
  p.initialize(kind === 'request' ? HTTPParser.REQUEST : HTTPParser.RESPONSE, {}, maxHeaderSize, HTTPParser.kLenientNone);
  const messages: Msg[] = [];
  let cur: Msg | null = null;
  let pendingHeaders: string[] = [];
  let pendingUrl = '';
  let body: Buffer[] = [];
  p[HTTPParser.kOnMessageBegin] = () => {
    pendingHeaders = [];
    pendingUrl = '';
    body = [];
  };
  // Node flushes headers early (kOnHeaders) when there are more than 32.
  p[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
    pendingHeaders.push(...headers);
    pendingUrl += url;
  };
  p[HTTPParser.kOnHeadersComplete] = (
    _major: number,
    _minor: number,
    headers: string[] | undefined,
    method: number | undefined,
    url: string | undefined,
    statusCode: number | undefined,
    _statusMessage: string | undefined,
    upgrade: boolean,
    shouldKeepAlive: boolean,
  ) => {
    cur = {
      method: method === undefined ? '' : methods[method]!,
      url: url ?? pendingUrl,
      status: statusCode ?? 0,
      headers: headers ?? pendingHeaders,
      body: '',
      keepAlive: shouldKeepAlive,
      upgrade: kind === 'request' ? upgrade : statusCode === 101,
    };
    return 0;
  };
  p[HTTPParser.kOnBody] = (b: Buffer) => {
    body.push(Buffer.from(b));
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    if (cur) {
      cur.body = Buffer.concat(body).toString('latin1');
      messages.push(cur);
    }
    cur = null;
  };
  let global = 0;
  for (const c of chunks) {
    const r = p.execute(c);
    if (typeof r !== 'number') return { messages, verdict: 'error', code: r.code };
    // An upgrade stops the parser: r is where the other protocol begins.
    if (messages.length > 0 && messages[messages.length - 1]!.upgrade) {
      return { messages, verdict: `upgrade@${global + r}`, code: '' };
    }
    global += c.length;
  }
  if (eof) {
    const r = p.finish();
    if (r instanceof Error) return { messages, verdict: 'error', code: r.code };
  }
  return { messages, verdict: 'ok', code: '' };
}

class Collector implements ParserHandler {
  messages: Msg[] = [];
  cur: Msg | null = null;
  body: Buffer[] = [];
  constructor(readonly kind: 'request' | 'response') {}
  onMessageBegin(): void {
    this.body = [];
  }
  onHeadersComplete(h: ParsedHead): number {
    const headers: string[] = [];
    for (let i = 0; i < h.headerCount; i++) headers.push(h.headerNames[i]!, h.headerValues[i]!);
    this.cur = {
      method: h.method,
      url: h.url,
      status: h.statusCode,
      headers,
      body: '',
      keepAlive: h.shouldKeepAlive,
      upgrade: h.upgrade,
    };
    return 0;
  }
  onBody(chunk: Buffer, start: number, end: number): void {
    this.body.push(Buffer.from(chunk.subarray(start, end)));
  }
  onMessageComplete(): void {
    if (this.cur) {
      this.cur.body = Buffer.concat(this.body).toString('latin1');
      this.messages.push(this.cur);
    }
    this.cur = null;
  }
}

function runOurs(kind: 'request' | 'response', chunks: Buffer[], eof: boolean, pauseOnComplete: boolean): Transcript {
  const c = new Collector(kind);
  const p = new HttpParser(kind, c);
  p.pauseOnComplete = pauseOnComplete;
  try {
    let global = 0;
    for (const chunk of chunks) {
      let pos = 0;
      for (;;) {
        const r = p.execute(chunk, pos);
        if (r === ExecResult.PAUSED) {
          pos = p.offset;
          continue;
        }
        if (r === ExecResult.ERROR) return { messages: c.messages, verdict: 'error', code: p.errorCode };
        if (r === ExecResult.PAUSED_UPGRADE) return { messages: c.messages, verdict: `upgrade@${global + p.offset}`, code: '' };
        break;
      }
      global += chunk.length;
    }
    if (eof && p.finish() === ExecResult.ERROR) return { messages: c.messages, verdict: 'error', code: p.errorCode };
    return { messages: c.messages, verdict: 'ok', code: '' };
  } finally {
    p.destroy();
  }
}

// ---------------------------------------------------------------------------
// Seeded splitting.

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function splits(data: Buffer, rand: () => number, trials: number): Buffer[][] {
  const out: Buffer[][] = [[data]];
  for (let i = 0; i < trials && data.length > 1; i++) {
    const n = 1 + Math.floor(rand() * 3);
    const cuts = new Set<number>();
    for (let k = 0; k < n; k++) cuts.add(1 + Math.floor(rand() * (data.length - 1)));
    const sorted = [...cuts].sort((a, b) => a - b);
    const chunks: Buffer[] = [];
    let prev = 0;
    for (const c of sorted) {
      chunks.push(data.subarray(prev, c));
      prev = c;
    }
    chunks.push(data.subarray(prev));
    out.push(chunks);
  }
  return out;
}

// ---------------------------------------------------------------------------
// The corpus.

const headers40 = Array.from({ length: 40 }, (_, i) => `X-H${i}: v${i}\r\n`).join('');

const VALID_REQUESTS: string[] = [
  'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n',
  'GET /a/b?c=d&e=%20f HTTP/1.1\r\nHost: x\r\nUser-Agent: test/1.0\r\nAccept: */*\r\n\r\n',
  'GET http://example.com:8080/abs?x HTTP/1.1\r\nHost: example.com:8080\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /q?"{}|^`\\ HTTP/1.1\r\n\r\n',
  'HEAD /h HTTP/1.0\r\n\r\n',
  'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
  'GET / HTTP/1.1\r\nConnection: close\r\n\r\n',
  'GET / HTTP/1.1\r\nMiXeD-CaSe: KeEp\r\nEmpty:\r\nSpaces:   padded   \r\nTab:\tt\tv\t\r\nNoSpace:x\r\n\r\n',
  'GET / HTTP/1.1\r\nX-Latin: caf\xe9 \xff\r\nX-Quote: "a,b"\r\n\r\n',
  'GET / HTTP/1.1\r\nCookie: a=1\r\nCookie: b=2\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2\r\n\r\n',
  `GET /many HTTP/1.1\r\n${headers40}\r\n`,
  `GET /${'long'.repeat(300)} HTTP/1.1\r\nX-Long: ${'v'.repeat(2000)}\r\n\r\n`,
  'POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\nhello, world!',
  'POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n',
  'POST / HTTP/1.1\r\nContent-Length: 5 \r\n\r\n12345',
  'PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
  'PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\na;name=val;flag\r\n0123456789\r\nA;q="quoted \\" ext"\r\nabcdefghij\r\n0\r\n\r\n',
  'POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 42\r\nX-Other: 1\r\n\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n1\r\nz\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok',
  'QUERY /search HTTP/1.1\r\nContent-Length: 3\r\n\r\nq=1',
  'M-SEARCH * HTTP/1.1\r\nMan: "ssdp:discover"\r\n\r\n',
  'PATCH /p HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}',
  'DELETE /d HTTP/1.1\r\n\r\n',
  '\r\n\r\nGET /after-empty-lines HTTP/1.1\r\n\r\n',
  'GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcPUT /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\nGET /4 HTTP/1.1\r\nConnection: close\r\n\r\n',
  'GET /1 HTTP/1.1\r\n\r\n\r\nGET /2 HTTP/1.1\r\n\r\n',
  'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello',
  'GET /chat HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
  'POST /up HTTP/1.1\r\nUpgrade: x\r\nConnection: upgrade\r\nContent-Length: 3\r\n\r\nabcRAW',
  'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01',
  'GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n',
];

const INVALID_REQUESTS: string[] = [
  'POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
  'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
  'POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc',
  'POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n',
  'POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n',
  'POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n',
  'GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n',
  'GET / HTTP/1.1\r\nX: a\r\n\tfolded\r\n\r\n',
  'GET / HTTP/1.1\nHost: x\n\n',
  'GET / HTTP/1.1\r\nHost: x\n\r\n',
  'GET / HTTP/1.1\r\nHost: x\r\n\n',
  'GET / HTTP/1.1\r\nX: a\rb\r\n\r\n',
  'GET / HTTP/1.1\r\nHost : x\r\n\r\n',
  'GET / HTTP/1.1\r\nHost\t: x\r\n\r\n',
  'GET / HTTP/1.1\r\nX(y): z\r\n\r\n',
  'GET / HTTP/1.1\r\nX"y: z\r\n\r\n',
  'GET / HTTP/1.1\r\n: z\r\n\r\n',
  'GET / HTTP/1.1\r\nNoColon\r\n\r\n',
  'GET / HTTP/1.1\r\n Host: x\r\n\r\n',
  'GET / HTTP/1.1\r\nX: a\0b\r\n\r\n',
  'GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n',
  'GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n',
  'GET / HTTP/1.1\r\nX\0: a\r\n\r\n',
  'GET / HTTP/1.1\r\nX\x80: a\r\n\r\n',
  'FOO / HTTP/1.1\r\n\r\n',
  'get / HTTP/1.1\r\n\r\n',
  'GETS / HTTP/1.1\r\n\r\n',
  'DESCRIBE / HTTP/1.1\r\n\r\n',
  'GET / HTTP/1.2\r\n\r\n',
  'GET / HTTP/3.0\r\n\r\n',
  'GET / HTTP/11.1\r\n\r\n',
  'GET / HTTP/1.\r\n\r\n',
  'GET / http/1.1\r\n\r\n',
  'GET / HTTPS/1.1\r\n\r\n',
  'GET\t/ HTTP/1.1\r\n\r\n',
  'GET /\tHTTP/1.1\r\n\r\n',
  'GET / HTTP/1.1 \r\n\r\n',
  'GET /a b HTTP/1.1\r\n\r\n',
  'GET /\x01 HTTP/1.1\r\n\r\n',
  'GET /\x7f HTTP/1.1\r\n\r\n',
  'GET /\xff HTTP/1.1\r\n\r\n',
  'GET / HTTP/1.1\r\r\n\r\n',
  ' GET / HTTP/1.1\r\n\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1FFFFFFFFFFFFFFFF\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\x01\r\nabc\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: x\r\n\r\n',
  'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc',
  'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc',
  'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
  'GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n',
  'GET /ok HTTP/1.1\r\n\r\nGET /bad HTTP/1.1\r\nX : y\r\n\r\n',
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
];

const VALID_RESPONSES: [string, boolean][] = [
  // [response bytes, EOF after them]
  ['HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello', false],
  ['HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n', false],
  ['HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the connection closes', true],
  ['HTTP/1.0 200 OK\r\n\r\nold style', true],
  ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw gzip until close', true],
  ['HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n', false],
  ['HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n', false],
  ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', false],
  ['HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', false],
  ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nbb', false],
  ['HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n', false],
  ['HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n', false],
  ['HTTP/1.1 500 Internal\tServer \xe9rror\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', false],
  ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00', false],
  ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort', true],
  // llhttp (strict, in Node too) accepts control characters in a reason
  // phrase; so do we: it is forwarded verbatim and frames nothing.
  ['HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n', false],
];

const INVALID_RESPONSES: string[] = [
  'HTTP/1.1  200 OK\r\n\r\n',
  'HTTP/1.1 2000 OK\r\n\r\n',
  'HTTP/1.1 20 OK\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
  'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n',
  'HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n',
  'HTTX/1.1 200 OK\r\n\r\n',
];

/**
 * Node (default, strict llhttp) accepts these; lb4 rejects them on purpose.
 * [kind, bytes, our error code, why]
 */
const DIFFERENCES: ['request' | 'response', string, string, string][] = [
  ['request', 'GET  / HTTP/1.1\r\n\r\n', 'INVALID_REQUEST_LINE', 'llhttp skips extra spaces before the target; a backend may split the line differently'],
  ['request', 'GET /  HTTP/1.1\r\nHost: x\r\n\r\n', 'INVALID_REQUEST_LINE', 'extra spaces before the version'],
  ['request', 'GET /\r\n\r\n', 'INVALID_REQUEST_LINE', 'llhttp parses an HTTP/0.9 simple request; we only speak HTTP/1.x'],
  ['request', 'GET / HTTP/0.9\r\n\r\n', 'HPE_INVALID_VERSION', 'llhttp accepts version 0.9'],
  ['request', 'GET / HTTP/2.0\r\n\r\n', 'HPE_INVALID_VERSION', 'llhttp accepts version 2.0 in an HTTP/1 request line'],
  ['request', 'GET / RTSP/1.0\r\n\r\n', 'INVALID_REQUEST_LINE', 'llhttp also parses RTSP'],
  ['request', 'SOURCE / ICE/1.0\r\n\r\n', 'INVALID_REQUEST_LINE', 'llhttp also parses Icecast ICE/1.0'],
  [
    'request',
    `GET / HTTP/1.1\r\n${Array.from({ length: 101 }, (_, i) => `H${i}: v\r\n`).join('')}\r\n`,
    'TOO_MANY_HEADERS',
    '--max-headers 100 (Node limits header count in JS, maxHeadersCount 2000, and does not fail)',
  ],
  [
    'request',
    `GET / HTTP/1.1\r\nX: ${'a'.repeat(16385 - 23)}\r\n\r\n`,
    'HEADERS_TOO_LARGE',
    '--max-header-size counts every head byte (16385 here); Node counts only url/field/value bytes against its 16384',
  ],
  ['response', 'HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_STATUS', 'llhttp accepts status codes below 100'],
  ['response', 'HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_VERSION', 'llhttp accepts an HTTP/2.0 status line'],
  ['response', 'HTTP/0.9 200 OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_VERSION', 'llhttp accepts an HTTP/0.9 status line'],
  ['request', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING', 'RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing'],
  ['response', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING', 'RFC 9112 6.1, responses too'],
];

// ---------------------------------------------------------------------------

const TRIALS = 12;

function compare(
  t: Test,
  kind: 'request' | 'response',
  data: string,
  eof: boolean,
  rand: () => number,
  expect: 'ok' | 'error' | 'any',
): void {
  const buf = Buffer.from(data, 'latin1');
  let bad = 0;
  let first: Transcript | null = null;
  for (const chunks of splits(buf, rand, TRIALS)) {
    const theirs = runNode(kind, chunks, eof, 1 << 20);
    for (const pause of [false, true]) {
      const ours = runOurs(kind, chunks, eof, pause);
      first ??= ours;
      if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
        bad++;
        if (bad <= 2) {
          t.same(ours, theirs, `${JSON.stringify(data.slice(0, 50))} split ${chunks.map((c) => c.length).join('+')} pause=${pause}`);
        }
      }
    }
  }
  t.equal(bad, 0, `${kind} ${JSON.stringify(data.slice(0, 60))}: same as Node in every split`);
  if (expect === 'ok') t.not(first!.verdict, 'error', 'accepted');
  if (expect === 'error') t.equal(first!.verdict, 'error', 'rejected');
}

t.test('valid requests: same messages as Node', async (t) => {
  const rand = mulberry32(0x1b4);
  for (const req of VALID_REQUESTS) compare(t, 'request', req, false, rand, 'ok');
});

t.test('invalid requests: same verdict and error code as Node', async (t) => {
  const rand = mulberry32(0x5eed);
  for (const req of INVALID_REQUESTS) compare(t, 'request', req, false, rand, 'error');
});

t.test('responses: same messages and verdicts as Node', async (t) => {
  const rand = mulberry32(42);
  for (const [resp, eof] of VALID_RESPONSES) compare(t, 'response', resp, eof, rand, 'any');
  for (const resp of INVALID_RESPONSES) compare(t, 'response', resp, false, rand, 'error');
});

t.test('documented differences: lb4 is stricter than Node', async (t) => {
  const rand = mulberry32(7);
  for (const [kind, data, code, why] of DIFFERENCES) {
    const buf = Buffer.from(data, 'latin1');
    for (const chunks of splits(buf, rand, 4)) {
      // Node with its default header size limit (16384).
      const theirs = runNode(kind, chunks, false, 0);
      t.equal(theirs.verdict, 'ok', `Node accepts: ${why}`);
      const ours = runOurs(kind, chunks, false, false);
      t.equal(ours.verdict, 'error', `lb4 rejects: ${why}`);
      t.equal(ours.code, code, `lb4 code for: ${why}`);
    }
  }
});
