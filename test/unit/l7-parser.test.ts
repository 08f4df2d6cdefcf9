/**
 * Unit tests of src/l7/parser.ts: requests and responses through the llhttp
 * wasm wrapper, splits at every byte, pipelining with pauses, upgrades, the
 * head limits and a corpus of malformed requests (written for this project in
 * the spirit of llhttp's test/request/invalid.md).
 */
import t from 'tap';
import {
  ExecResult,
  HeadersAction,
  HttpParser,
  ParsedHead,
  equalsIgnoreCase,
  type ParserHandler,
} from '../../src/l7/parser.js';

/** Records every event; body bytes are copied out (the chunk is the caller's). */
class Recorder implements ParserHandler {
  events: string[] = [];
  heads: ParsedHead[] = [];
  bodies: Buffer[] = [];
  ends: number[] = [];
  begins: number[] = [];
  action = 0;
  parts: Buffer[] = [];
  bodyChunks: Buffer[] = [];
  onMessageBegin(start: number): void {
    this.events.push('begin');
    this.begins.push(start);
    this.parts = [];
  }
  onHeadersComplete(head: ParsedHead): number {
    this.events.push('head');
    this.heads.push(head);
    return this.action;
  }
  onBody(chunk: Buffer, start: number, end: number): void {
    this.events.push('body');
    this.bodyChunks.push(chunk);
    this.parts.push(Buffer.from(chunk.subarray(start, end)));
  }
  onMessageComplete(end: number): void {
    this.events.push('complete');
    this.ends.push(end);
    this.bodies.push(Buffer.concat(this.parts));
    this.parts = [];
  }
}

interface Outcome {
  result: ExecResult;
  /** Global byte offset (across all chunks) where parsing stopped, for non-OK results. */
  stoppedAt: number;
  code: string;
}

/** Feeds chunks in order, resuming after every PAUSED; stops at upgrade or error. */
function feed(parser: HttpParser, chunks: Buffer[]): Outcome {
  let global = 0;
  for (const c of chunks) {
    let pos = 0;
    for (;;) {
      const r = parser.execute(c, pos);
      if (r === ExecResult.PAUSED) {
        pos = parser.offset;
        continue;
      }
      if (r !== ExecResult.OK) return { result: r, stoppedAt: global + parser.offset, code: parser.errorCode };
      break;
    }
    global += c.length;
  }
  return { result: ExecResult.OK, stoppedAt: global, code: '' };
}

function bufs(...parts: string[]): Buffer[] {
  return parts.map((p) => Buffer.from(p, 'latin1'));
}

function splitAt(s: string, ...cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(Buffer.from(s.slice(prev, c), 'latin1'));
    prev = c;
  }
  out.push(Buffer.from(s.slice(prev), 'latin1'));
  return out;
}

function headerPairs(h: ParsedHead): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < h.headerCount; i++) out.push([h.headerNames[i]!, h.headerValues[i]!]);
  return out;
}

function parseRequest(s: string | Buffer[], limits?: { maxHeaderSize?: number; maxHeaders?: number }) {
  const rec = new Recorder();
  const p = new HttpParser('request', rec, limits);
  const out = feed(p, typeof s === 'string' ? bufs(s) : s);
  p.destroy();
  return { rec, out };
}

t.test('simple GET', async (t) => {
  const req = 'GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Mixed-CASE: Value  \r\nEmpty:\r\nAccept: */*\r\n\r\n';
  const { rec, out } = parseRequest(req);
  t.equal(out.result, ExecResult.OK);
  t.same(rec.events, ['begin', 'head', 'complete']);
  const h = rec.heads[0]!;
  t.equal(h.method, 'GET');
  t.equal(h.url, '/a/b?c=d');
  t.equal(h.statusCode, 0);
  t.equal(h.versionMajor, 1);
  t.equal(h.versionMinor, 1);
  t.equal(h.headerCount, 4);
  t.same(headerPairs(h), [
    ['Host', 'example.com'],
    ['X-Mixed-CASE', 'Value'],
    ['Empty', ''],
    ['Accept', '*/*'],
  ]);
  t.equal(h.shouldKeepAlive, true);
  t.equal(h.upgrade, false);
  t.equal(h.contentLength, -1);
  t.equal(h.chunked, false);
  t.equal(h.headStart, 0);
  t.equal(h.headEnd, req.length);
  t.equal(h.headBytes, req.length);
  t.equal(rec.ends[0], req.length);
  t.equal(h.findHeader('x-mixed-case'), 1);
  t.equal(h.findHeader('HOST'), 0);
  t.equal(h.findHeader('host', 1), -1);
  t.equal(h.getHeader('accept'), '*/*');
  t.equal(h.getHeader('cookie'), undefined);
});

t.test('HTTP/1.0 request, keep-alive rules, leading empty lines', async (t) => {
  let { rec } = parseRequest('GET / HTTP/1.0\r\n\r\n');
  t.equal(rec.heads[0]!.versionMinor, 0);
  t.equal(rec.heads[0]!.shouldKeepAlive, false);
  ({ rec } = parseRequest('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'));
  t.equal(rec.heads[0]!.shouldKeepAlive, true);
  ({ rec } = parseRequest('GET / HTTP/1.1\r\nConnection: close\r\n\r\n'));
  t.equal(rec.heads[0]!.shouldKeepAlive, false);
  // RFC 9112 2.2: empty lines before a request line are skipped (not head bytes).
  const r2 = parseRequest('\r\n\r\nGET / HTTP/1.1\r\n\r\n');
  t.equal(r2.out.result, ExecResult.OK);
  t.equal(r2.rec.begins[0], 4);
  t.equal(r2.rec.heads[0]!.headStart, 4);
  t.equal(r2.rec.heads[0]!.headBytes, 18);
  t.equal(r2.rec.heads[0]!.headEnd, 22);
});

t.test('POST with Content-Length body: positions into the original chunk', async (t) => {
  const head = 'POST /submit HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n';
  const chunk = Buffer.from(head + 'hello world', 'latin1');
  const rec = new Recorder();
  const p = new HttpParser('request', rec);
  t.equal(p.execute(chunk), ExecResult.OK);
  t.equal(p.offset, chunk.length);
  t.same(rec.events, ['begin', 'head', 'body', 'complete']);
  const h = rec.heads[0]!;
  t.equal(h.method, 'POST');
  t.equal(h.contentLength, 11);
  t.equal(h.headEnd, head.length);
  t.equal(rec.bodyChunks[0], chunk, 'onBody gets the very chunk given to execute');
  t.equal(rec.bodies[0]!.toString(), 'hello world');
  t.equal(rec.ends[0], chunk.length);
  p.destroy();
});

t.test('execute(chunk, start, end) reports offsets into the whole chunk', async (t) => {
  const msg = 'POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc';
  const chunk = Buffer.from('JUNK' + msg + 'MORE', 'latin1');
  const rec = new Recorder();
  const p = new HttpParser('request', rec);
  t.equal(p.execute(chunk, 4, 4 + msg.length), ExecResult.OK);
  t.equal(rec.begins[0], 4);
  t.equal(rec.heads[0]!.headStart, 4);
  t.equal(rec.heads[0]!.headEnd, 4 + msg.length - 3);
  t.equal(rec.bodies[0]!.toString(), 'abc');
  t.equal(rec.ends[0], 4 + msg.length);
  t.equal(p.offset, 4 + msg.length);
  t.throws(() => p.execute(chunk, 5, chunk.length + 1), RangeError);
  p.destroy();
});

t.test('chunked body with extensions and trailers', async (t) => {
  const req =
    'POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '5;name=value;flag\r\nhello\r\n' +
    '6;q="quoted ext"\r\n world\r\n' +
    '0\r\nX-Trailer: yes\r\nOther: 1\r\n\r\n';
  const { rec, out } = parseRequest(req);
  t.equal(out.result, ExecResult.OK);
  const h = rec.heads[0]!;
  t.equal(h.chunked, true);
  t.equal(h.contentLength, -1);
  t.equal(h.headerCount, 2, 'trailers are not head headers');
  t.equal(rec.bodies[0]!.toString(), 'hello world');
  t.equal(rec.ends[0], req.length);
  // Transfer-Encoding with codings before chunked.
  const r2 = parseRequest('POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n');
  t.equal(r2.out.result, ExecResult.OK);
  t.equal(r2.rec.heads[0]!.chunked, true);
});

t.test('pipelined requests in one chunk: pause after each message, resume at offset', async (t) => {
  const a = 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\n';
  const b = 'POST /2 HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody';
  const c = 'POST /3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n';
  const chunk = Buffer.from(a + b + c, 'latin1');
  const rec = new Recorder();
  const p = new HttpParser('request', rec);
  p.pauseOnComplete = true;
  t.equal(p.execute(chunk), ExecResult.PAUSED);
  t.equal(p.offset, a.length);
  t.equal(rec.heads.length, 1);
  t.equal(p.execute(chunk, p.offset), ExecResult.PAUSED);
  t.equal(p.offset, a.length + b.length);
  t.equal(rec.heads[1]!.headStart, a.length);
  t.equal(p.execute(chunk, p.offset), ExecResult.PAUSED);
  t.equal(p.offset, chunk.length);
  t.equal(p.execute(chunk, p.offset), ExecResult.OK, 'an empty range after the last message');
  t.same(
    rec.heads.map((h) => h.url),
    ['/1', '/2', '/3'],
  );
  t.same(
    rec.bodies.map((b) => b.toString()),
    ['', 'body', 'ok'],
  );
  t.same(rec.ends, [a.length, a.length + b.length, chunk.length]);

  // Without pauseOnComplete every message is parsed in one call.
  const rec2 = new Recorder();
  const p2 = new HttpParser('request', rec2);
  t.equal(p2.execute(chunk), ExecResult.OK);
  t.same(rec2.ends, [a.length, a.length + b.length, chunk.length]);
  t.same(rec2.begins, [0, a.length, a.length + b.length]);
  p.destroy();
  p2.destroy();
});

t.test('a head split at every byte offset gives the same message', async (t) => {
  const messages = [
    'POST /path?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 10.0.0.1\r\nCookie: a=b; c=d\r\nEmpty:\r\nContent-Length: 10\r\n\r\n0123456789',
    'PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nX:  padded  \r\n\r\n3;e=1\r\nabc\r\n4\r\ndefg\r\n0\r\nT: v\r\n\r\n',
    'GET / HTTP/1.1\r\n\r\n',
  ];
  for (const msg of messages) {
    const ref = parseRequest(msg);
    t.equal(ref.out.result, ExecResult.OK);
    const refHead = ref.rec.heads[0]!;
    let mismatches = 0;
    for (let cut = 1; cut < msg.length; cut++) {
      const rec = new Recorder();
      const p = new HttpParser('request', rec);
      const chunks = splitAt(msg, cut);
      const out = feed(p, chunks);
      const h = rec.heads[0];
      const headChunk = refHead.headBytes <= cut ? 0 : 1;
      const expectEnd = headChunk === 0 ? refHead.headBytes : refHead.headBytes - cut;
      if (
        out.result !== ExecResult.OK ||
        !h ||
        h.method !== refHead.method ||
        h.url !== refHead.url ||
        JSON.stringify(headerPairs(h)) !== JSON.stringify(headerPairs(refHead)) ||
        h.headBytes !== refHead.headBytes ||
        h.headEnd !== expectEnd ||
        h.headStart !== (headChunk === 0 ? 0 : -1) ||
        h.contentLength !== refHead.contentLength ||
        h.chunked !== refHead.chunked ||
        !rec.bodies[0]!.equals(ref.rec.bodies[0]!)
      ) {
        mismatches++;
        t.fail(`cut at ${cut} of ${JSON.stringify(msg.slice(0, 20))}`);
      }
      p.destroy();
    }
    t.equal(mismatches, 0, `every 2-way split of ${JSON.stringify(msg.slice(0, 20))}`);
    // One byte per chunk.
    const rec = new Recorder();
    const p = new HttpParser('request', rec);
    const out = feed(p, [...Buffer.from(msg, 'latin1')].map((b) => Buffer.from([b])));
    t.equal(out.result, ExecResult.OK);
    t.same(headerPairs(rec.heads[0]!), headerPairs(refHead));
    t.equal(rec.heads[0]!.url, refHead.url);
    t.equal(rec.heads[0]!.headBytes, refHead.headBytes);
    t.same(rec.bodies[0], ref.rec.bodies[0]);
    p.destroy();
  }
});

t.test('a chunk larger than the shared wasm input area', async (t) => {
  const body = Buffer.alloc(200_000, 0x61);
  const head = Buffer.from(`POST / HTTP/1.1\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1');
  const { rec, out } = parseRequest([Buffer.concat([head, body])]);
  t.equal(out.result, ExecResult.OK);
  t.ok(rec.bodies[0]!.equals(body));
});

t.test('upgrades', async (t) => {
  const head = 'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
  const chunk = Buffer.from(head + '\x81\x05hello', 'latin1');
  const rec = new Recorder();
  const p = new HttpParser('request', rec);
  t.equal(p.execute(chunk), ExecResult.PAUSED_UPGRADE);
  t.equal(p.offset, head.length);
  t.equal(rec.heads[0]!.upgrade, true);
  t.same(rec.events, ['begin', 'head', 'complete']);
  t.equal(p.execute(chunk, p.offset), ExecResult.PAUSED_UPGRADE, 'stays upgraded until reset');
  p.reset();
  t.equal(p.execute(Buffer.from('GET / HTTP/1.1\r\n\r\n')), ExecResult.OK);
  t.equal(rec.heads.length, 2);

  // With pauseOnComplete the message ends first, then the upgrade is reported.
  const rec2 = new Recorder();
  const p2 = new HttpParser('request', rec2);
  p2.pauseOnComplete = true;
  t.equal(p2.execute(chunk), ExecResult.PAUSED);
  t.equal(p2.offset, head.length);
  t.equal(p2.execute(chunk, p2.offset), ExecResult.PAUSED_UPGRADE);
  t.equal(p2.offset, head.length);

  // CONNECT.
  const c = parseRequest('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nTLS...');
  t.equal(c.out.result, ExecResult.PAUSED_UPGRADE);
  t.equal(c.rec.heads[0]!.url, 'example.com:443');
  t.equal(c.rec.heads[0]!.upgrade, true);

  // Upgrade header without Connection: upgrade is a plain request.
  const n = parseRequest('GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n');
  t.equal(n.out.result, ExecResult.OK);
  t.equal(n.rec.heads[0]!.upgrade, false);

  // The handler decides to treat the rest as another protocol.
  const rec3 = new Recorder();
  rec3.action = HeadersAction.UPGRADE;
  const p3 = new HttpParser('request', rec3);
  t.equal(p3.execute(Buffer.from('GET / HTTP/1.1\r\n\r\nraw bytes')), ExecResult.PAUSED_UPGRADE);
  t.equal(p3.offset, 18);

  // A 101 response.
  const rec4 = new Recorder();
  const p4 = new HttpParser('response', rec4);
  const resp = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
  t.equal(p4.execute(Buffer.from(resp + 'frames', 'latin1')), ExecResult.PAUSED_UPGRADE);
  t.equal(p4.offset, resp.length);
  t.equal(rec4.heads[0]!.statusCode, 101);
  t.equal(rec4.heads[0]!.upgrade, true);
  for (const x of [p, p2, p3, p4]) x.destroy();
});

t.test('responses', async (t) => {
  const rec = new Recorder();
  const p = new HttpParser('response', rec);
  const r1 = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';
  const r2 = 'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
  t.equal(p.execute(Buffer.from(r1 + r2)), ExecResult.OK);
  t.same(
    rec.heads.map((h) => [h.statusCode, h.method, h.url, h.contentLength, h.chunked]),
    [
      [200, '', '', 5, false],
      [404, '', '', -1, true],
    ],
  );
  t.same(
    rec.bodies.map((b) => b.toString()),
    ['hello', 'abc'],
  );

  // 100 Continue, then the final response.
  const rec2 = new Recorder();
  const p2 = new HttpParser('response', rec2);
  t.equal(p2.execute(Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n')), ExecResult.OK);
  t.same(
    rec2.heads.map((h) => h.statusCode),
    [100, 204],
  );
  t.equal(rec2.ends.length, 2);

  // Response with a reason phrase containing tabs and obs-text; no reason.
  const rec3 = new Recorder();
  const p3 = new HttpParser('response', rec3);
  t.equal(p3.execute(Buffer.from('HTTP/1.1 200 O\tK \xe9\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200\r\nContent-Length: 0\r\n\r\n', 'latin1')), ExecResult.OK);
  t.equal(rec3.heads.length, 2);
  for (const x of [p, p2, p3]) x.destroy();
});

t.test('response to HEAD: the handler skips the body', async (t) => {
  const rec = new Recorder();
  rec.action = HeadersAction.SKIP_BODY;
  const p = new HttpParser('response', rec);
  const r1 = 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n';
  const r2 = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
  t.equal(p.execute(Buffer.from(r1 + r2)), ExecResult.OK);
  t.equal(rec.heads.length, 2);
  t.equal(rec.heads[0]!.contentLength, 1234, 'declared length is still reported');
  t.same(rec.ends, [r1.length, r1.length + r2.length]);
  t.same(
    rec.bodies.map((b) => b.length),
    [0, 0],
  );
  p.destroy();
});

t.test('response delimited by EOF: finish()', async (t) => {
  const rec = new Recorder();
  const p = new HttpParser('response', rec);
  t.equal(p.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome ')), ExecResult.OK);
  t.equal(p.execute(Buffer.from('bytes')), ExecResult.OK);
  t.equal(rec.ends.length, 0);
  t.equal(rec.heads[0]!.shouldKeepAlive, false);
  t.equal(p.finish(), ExecResult.OK);
  t.same(rec.ends, [-1]);
  t.equal(rec.bodies[0]!.toString(), 'some bytes');
  p.destroy();

  // Cut short: Content-Length not reached.
  const rec2 = new Recorder();
  const p2 = new HttpParser('response', rec2);
  t.equal(p2.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc')), ExecResult.OK);
  t.equal(p2.finish(), ExecResult.ERROR);
  t.equal(p2.errorCode, 'HPE_INVALID_EOF_STATE');
  t.equal(p2.offset, -1);
  p2.destroy();

  // EOF between messages is fine; EOF inside a head is not.
  const rec3 = new Recorder();
  const p3 = new HttpParser('request', rec3);
  t.equal(p3.execute(Buffer.from('GET / HTTP/1.1\r\n\r\n')), ExecResult.OK);
  t.equal(p3.finish(), ExecResult.OK);
  p3.reset();
  t.equal(p3.execute(Buffer.from('GET / HTTP/1.1\r\nHo')), ExecResult.OK);
  t.equal(p3.headInProgress, true);
  t.equal(p3.finish(), ExecResult.ERROR);
  t.equal(p3.errorCode, 'HPE_INVALID_EOF_STATE');
  p3.destroy();

  // finish() on a parser paused after a message.
  const rec4 = new Recorder();
  const p4 = new HttpParser('response', rec4);
  p4.pauseOnComplete = true;
  t.equal(p4.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')), ExecResult.PAUSED);
  t.equal(p4.finish(), ExecResult.OK);
  t.equal(rec4.ends.length, 1, 'the message completes once');
  p4.destroy();

  // finish() on a parser paused inside an EOF-delimited body.
  class BodyPauser extends Recorder {
    parser!: HttpParser;
    override onBody(chunk: Buffer, start: number, end: number): void {
      super.onBody(chunk, start, end);
      this.parser.pause();
    }
  }
  const rec5 = new BodyPauser();
  const p5 = new HttpParser('response', rec5);
  rec5.parser = p5;
  const r5 = Buffer.from('HTTP/1.0 200 OK\r\n\r\nuntil close');
  t.equal(p5.execute(r5), ExecResult.PAUSED);
  t.equal(p5.offset, r5.length);
  t.equal(p5.finish(), ExecResult.OK);
  t.same(rec5.ends, [-1]);
  t.equal(rec5.bodies[0]!.toString(), 'until close');
  p5.destroy();
});

t.test('pause() from onBody and onHeadersComplete', async (t) => {
  class Pauser extends Recorder {
    parser!: HttpParser;
    override onHeadersComplete(head: ParsedHead): number {
      this.parser.pause();
      return super.onHeadersComplete(head);
    }
    override onBody(chunk: Buffer, start: number, end: number): void {
      super.onBody(chunk, start, end);
      this.parser.pause();
    }
  }
  const rec = new Pauser();
  const p = new HttpParser('request', rec);
  rec.parser = p;
  const head = 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n';
  const chunk = Buffer.from(head + '2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n', 'latin1');
  t.equal(p.execute(chunk), ExecResult.PAUSED);
  t.equal(p.offset, head.length, 'after the head');
  t.same(rec.events, ['begin', 'head']);
  t.equal(p.execute(chunk, p.offset), ExecResult.PAUSED);
  t.equal(p.offset, head.length + 5, 'after the first body span');
  t.equal(p.execute(chunk, p.offset), ExecResult.PAUSED);
  t.equal(p.offset, head.length + 13);
  t.equal(p.execute(chunk, p.offset), ExecResult.OK);
  t.equal(rec.bodies[0]!.toString(), 'abcde');
  t.same(rec.events, ['begin', 'head', 'body', 'body', 'complete']);
  p.destroy();
});

t.test('maxHeaderSize counts the whole head, including every CRLF', async (t) => {
  const base = 'GET / HTTP/1.1\r\nX: ';
  const make = (size: number) => base + 'a'.repeat(size - base.length - 4) + '\r\n\r\n';
  for (const limit of [64, 1000, 16384]) {
    const ok = make(limit);
    t.equal(ok.length, limit);
    const over = make(limit + 1);
    const r1 = parseRequest(ok, { maxHeaderSize: limit });
    t.equal(r1.out.result, ExecResult.OK, `exactly ${limit} passes`);
    t.equal(r1.rec.heads[0]!.headBytes, limit);
    const r2 = parseRequest(over, { maxHeaderSize: limit });
    t.equal(r2.out.result, ExecResult.ERROR, `${limit + 1} fails`);
    t.equal(r2.out.code, 'HEADERS_TOO_LARGE');
    t.equal(r2.rec.heads.length, 0);
    // The same split at several places, including inside the final CRLFCRLF.
    for (const cut of [1, 10, limit - 3, limit - 2, limit - 1, limit]) {
      const a = parseRequest(splitAt(ok, cut), { maxHeaderSize: limit });
      t.equal(a.out.result, ExecResult.OK, `exactly ${limit}, cut at ${cut}`);
      const b = parseRequest(splitAt(over, cut), { maxHeaderSize: limit });
      t.equal(b.out.code, 'HEADERS_TOO_LARGE', `${limit + 1}, cut at ${cut}`);
    }
  }
  // Default 16384.
  t.equal(parseRequest(make(16384)).out.result, ExecResult.OK);
  t.equal(parseRequest(make(16385)).out.code, 'HEADERS_TOO_LARGE');
  // A head that never ends fails once it is over the limit, before any CRLFCRLF.
  const rec = new Recorder();
  const p = new HttpParser('request', rec, { maxHeaderSize: 100 });
  t.equal(p.execute(Buffer.from('GET / HTTP/1.1\r\nX: ' + 'b'.repeat(60))), ExecResult.OK);
  t.equal(p.execute(Buffer.from('b'.repeat(60))), ExecResult.ERROR);
  t.equal(p.errorCode, 'HEADERS_TOO_LARGE');
  t.equal(p.execute(Buffer.from('\r\n\r\n')), ExecResult.ERROR, 'ERROR is final');
  p.reset();
  t.equal(p.execute(Buffer.from('GET / HTTP/1.1\r\n\r\n')), ExecResult.OK, 'until reset()');
  p.destroy();
  // A long URL counts too.
  t.equal(parseRequest('GET /' + 'u'.repeat(200) + ' HTTP/1.1\r\n\r\n', { maxHeaderSize: 100 }).out.code, 'HEADERS_TOO_LARGE');
  // Responses.
  const rr = new Recorder();
  const rp = new HttpParser('response', rr, { maxHeaderSize: 40 });
  t.equal(rp.execute(Buffer.from('HTTP/1.1 200 OK\r\nServer: ' + 's'.repeat(40) + '\r\n\r\n')), ExecResult.ERROR);
  t.equal(rp.errorCode, 'HEADERS_TOO_LARGE');
  rp.destroy();
});

t.test('maxHeaders: 100 header lines pass, 101 fail', async (t) => {
  const make = (n: number) => {
    let s = 'GET / HTTP/1.1\r\n';
    for (let i = 0; i < n; i++) s += `H${i}: v\r\n`;
    return s + '\r\n';
  };
  const ok = parseRequest(make(100));
  t.equal(ok.out.result, ExecResult.OK);
  t.equal(ok.rec.heads[0]!.headerCount, 100);
  const bad = parseRequest(make(101));
  t.equal(bad.out.result, ExecResult.ERROR);
  t.equal(bad.out.code, 'TOO_MANY_HEADERS');
  t.equal(parseRequest(make(3), { maxHeaders: 3 }).out.result, ExecResult.OK);
  t.equal(parseRequest(make(4), { maxHeaders: 3 }).out.code, 'TOO_MANY_HEADERS');
  // Split names count once.
  const split = parseRequest(splitAt(make(3), 18, 19), { maxHeaders: 3 });
  t.equal(split.out.result, ExecResult.OK);
  t.same(split.rec.heads[0]!.headerNames, ['H0', 'H1', 'H2']);
  // Trailer lines are limited the same way.
  let trailers = '';
  for (let i = 0; i < 4; i++) trailers += `T${i}: v\r\n`;
  const tr = parseRequest('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n' + trailers + '\r\n', { maxHeaders: 3 });
  t.equal(tr.out.code, 'TOO_MANY_HEADERS');
  t.throws(() => new HttpParser('request', new Recorder(), { maxHeaders: 0 }), RangeError);
  t.throws(() => new HttpParser('request', new Recorder(), { maxHeaderSize: 1.5 }), RangeError);
});

t.test('malformed requests are errors', async (t) => {
  const cases: [string, string, string][] = [
    // [name, request, expected error code]
    ['CL + TE', 'POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['TE + CL', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    ['two different CL', 'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['two equal CL', 'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['CL list', 'POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc', 'HPE_INVALID_CONTENT_LENGTH'],
    ['CL with sign', 'POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc', 'HPE_INVALID_CONTENT_LENGTH'],
    ['CL overflow', 'POST / HTTP/1.1\r\nContent-Length: 184467440737095516160\r\n\r\n', 'HPE_INVALID_CONTENT_LENGTH'],
    ['obs-fold', 'GET / HTTP/1.1\r\nX: a\r\n  folded\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['obs-fold with tab', 'GET / HTTP/1.1\r\nX: a\r\n\tfolded\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['bare LF after request line', 'GET / HTTP/1.1\nHost: x\r\n\r\n', 'HPE_INVALID_VERSION'],
    ['bare LF after header', 'GET / HTTP/1.1\r\nHost: x\n\r\n', 'HPE_CR_EXPECTED'],
    ['bare LF ends head', 'GET / HTTP/1.1\r\nHost: x\r\n\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['bare CR in value', 'GET / HTTP/1.1\r\nX: a\rb\r\n\r\n', 'HPE_LF_EXPECTED'],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['tab before colon', 'GET / HTTP/1.1\r\nHost\t: x\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['invalid header token', 'GET / HTTP/1.1\r\nX(y): z\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['empty header name', 'GET / HTTP/1.1\r\n: z\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['header without colon', 'GET / HTTP/1.1\r\nNoColon\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['whitespace before first header', 'GET / HTTP/1.1\r\n Host: x\r\n\r\n', 'HPE_UNEXPECTED_SPACE'],
    ['NUL in header value', 'GET / HTTP/1.1\r\nX: a\0b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['control char in header value', 'GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['DEL in header value', 'GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['NUL in header name', 'GET / HTTP/1.1\r\nX\0: a\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['invalid method', 'FOO / HTTP/1.1\r\n\r\n', 'HPE_INVALID_METHOD'],
    ['lower-case method', 'get / HTTP/1.1\r\n\r\n', 'HPE_INVALID_METHOD'],
    ['method prefix', 'GETS / HTTP/1.1\r\n\r\n', 'HPE_INVALID_METHOD'],
    ['RTSP method over HTTP', 'DESCRIBE / HTTP/1.1\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['invalid version 1.2', 'GET / HTTP/1.2\r\n\r\n', 'HPE_INVALID_VERSION'],
    ['invalid version 2.0', 'GET / HTTP/2.0\r\n\r\n', 'HPE_INVALID_VERSION'],
    ['invalid version 0.9', 'GET / HTTP/0.9\r\n\r\n', 'HPE_INVALID_VERSION'],
    ['version with two digits', 'GET / HTTP/11.1\r\n\r\n', 'HPE_INVALID_VERSION'],
    ['lower-case protocol', 'GET / http/1.1\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['RTSP protocol', 'GET / RTSP/1.0\r\n\r\n', 'INVALID_REQUEST_LINE'],
    ['ICE protocol', 'SOURCE / ICE/1.0\r\n\r\n', 'INVALID_REQUEST_LINE'],
    ['HTTP/0.9 simple request', 'GET /\r\n\r\n', 'INVALID_REQUEST_LINE'],
    ['request line with tab', 'GET\t/ HTTP/1.1\r\n\r\n', 'HPE_INVALID_METHOD'],
    ['tab before version', 'GET /\tHTTP/1.1\r\n\r\n', 'HPE_INVALID_URL'],
    ['two spaces before target', 'GET  / HTTP/1.1\r\n\r\n', 'INVALID_REQUEST_LINE'],
    ['two spaces before version', 'GET /  HTTP/1.1\r\nHost: x\r\n\r\n', 'INVALID_REQUEST_LINE'],
    ['space after version', 'GET / HTTP/1.1 \r\n\r\n', 'HPE_INVALID_VERSION'],
    ['space in target', 'GET /a b HTTP/1.1\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['control char in target', 'GET /\x01 HTTP/1.1\r\n\r\n', 'HPE_INVALID_URL'],
    ['obs-text in target', 'GET /\xff HTTP/1.1\r\n\r\n', 'HPE_INVALID_URL'],
    ['CR in request line', 'GET / HTTP/1.1\r\r\n\r\n', 'HPE_STRICT'],
    ['bad chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['negative chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['chunk size overflow', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1FFFFFFFFFFFFFFFF\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['space after chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['bare LF after chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n', 'HPE_CR_EXPECTED'],
    ['missing CRLF after chunk', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n', 'HPE_STRICT'],
    ['control char in chunk extension', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\x01\r\nabc\r\n0\r\n\r\n', 'HPE_STRICT'],
    ['TE not ending in chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['TE chunked then gzip', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['TE chunked twice', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['data after Connection: close', 'GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n', 'HPE_CLOSED_CONNECTION'],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'HPE_PAUSED_H2_UPGRADE'],
  ];
  for (const [name, req, code] of cases) {
    const whole = parseRequest(req);
    t.equal(whole.out.result, ExecResult.ERROR, name);
    t.equal(whole.out.code, code, `${name}: code`);
    // The verdict does not depend on how the bytes arrive.
    for (const cut of [1, Math.floor(req.length / 2), req.length - 1]) {
      const split = parseRequest(splitAt(req, cut));
      t.equal(split.out.code, code, `${name}: split at ${cut}`);
    }
  }
  const rec = new Recorder();
  const p = new HttpParser('request', rec);
  t.equal(p.execute(Buffer.from('GET / HTTP/1.1\r\nX : y\r\n\r\n')), ExecResult.ERROR);
  t.equal(p.errorReason, 'Invalid header token');
  t.equal(p.offset, 17, 'where llhttp stopped');
  p.destroy();
});

t.test('malformed responses are errors', async (t) => {
  const cases: [string, string][] = [
    ['HTTP/1.1  200 OK\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 2000 OK\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_VERSION'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n', 'HPE_LF_EXPECTED'],
    ['HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
  ];
  for (const [resp, code] of cases) {
    const rec = new Recorder();
    const p = new HttpParser('response', rec);
    const out = feed(p, bufs(resp));
    t.equal(out.result, ExecResult.ERROR, JSON.stringify(resp));
    t.ok(out.code === code || (code === 'HPE_LF_EXPECTED' && out.code.startsWith('HPE_')), `${JSON.stringify(resp)}: ${out.code}`);
    p.destroy();
  }
});

t.test('accepted edge cases', async (t) => {
  const ok = [
    'GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n',
    'OPTIONS * HTTP/1.1\r\n\r\n',
    'GET /a#frag HTTP/1.1\r\n\r\n',
    'GET / HTTP/1.1\r\nX: a\tb\r\n\r\n',
    'GET / HTTP/1.1\r\nX:no-space\r\n\r\n',
    'GET / HTTP/1.1\r\nX: caf\xe9\r\n\r\n',
    'POST / HTTP/1.1\r\nContent-Length: 3 \r\n\r\nabc',
    'QUERY /q HTTP/1.1\r\nContent-Length: 0\r\n\r\n',
    'M-SEARCH * HTTP/1.1\r\n\r\n',
  ];
  for (const req of ok) {
    const r = parseRequest(req);
    t.equal(r.out.result, ExecResult.OK, JSON.stringify(req));
  }
  t.equal(parseRequest('GET / HTTP/1.1\r\nX: caf\xe9\r\n\r\n').rec.heads[0]!.headerValues[0], 'caf\xe9', 'latin1 keeps bytes');
  t.equal(parseRequest('GET / HTTP/1.1\r\nX:no-space\r\n\r\n').rec.heads[0]!.headerValues[0], 'no-space');
  t.equal(parseRequest('M-SEARCH * HTTP/1.1\r\n\r\n').rec.heads[0]!.method, 'M-SEARCH');
});

t.test('handler errors, nesting, lifecycle', async (t) => {
  class Thrower extends Recorder {
    override onHeadersComplete(): number {
      throw new Error('boom');
    }
  }
  const p = new HttpParser('request', new Thrower());
  t.throws(() => p.execute(Buffer.from('GET / HTTP/1.1\r\n\r\n')), /boom/);
  t.equal(p.execute(Buffer.from('GET / HTTP/1.1\r\n\r\n')), ExecResult.ERROR);
  t.equal(p.errorCode, 'HANDLER_THREW');
  p.reset();
  p.destroy();

  // A handler that parses with another parser (e.g. a response arriving
  // while a request is being handled) must not clobber the shared input.
  const inner = new Recorder();
  const innerParser = new HttpParser('response', inner);
  class Nester extends Recorder {
    override onBody(chunk: Buffer, start: number, end: number): void {
      innerParser.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
      super.onBody(chunk, start, end);
    }
  }
  const outer = new Nester();
  const op = new HttpParser('request', outer);
  t.equal(op.execute(Buffer.from('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n')), ExecResult.OK);
  t.equal(outer.bodies[0]!.toString(), 'abcde');
  t.equal(inner.bodies.length, 2);
  t.equal(inner.bodies[1]!.toString(), 'ok');
  op.destroy();
  innerParser.destroy();

  // Re-entering the same parser is refused.
  class SelfCaller extends Recorder {
    parser!: HttpParser;
    override onHeadersComplete(head: ParsedHead): number {
      this.parser.execute(Buffer.from('x'));
      return super.onHeadersComplete(head);
    }
  }
  const sc = new SelfCaller();
  const sp = new HttpParser('request', sc);
  sc.parser = sp;
  t.throws(() => sp.execute(Buffer.from('GET / HTTP/1.1\r\n\r\n')), /re-entered/);
  sp.destroy();

  // reset(kind) switches direction; destroy is final and idempotent.
  const rec = new Recorder();
  const rp = new HttpParser('request', rec);
  t.equal(rp.type, 'request');
  rp.reset('response');
  t.equal(rp.type, 'response');
  t.equal(rp.execute(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n')), ExecResult.OK);
  t.equal(rec.heads[0]!.statusCode, 204);
  rp.destroy();
  rp.destroy();
  t.throws(() => rp.execute(Buffer.from('x')), /destroy/);
});

t.test('equalsIgnoreCase', async (t) => {
  t.ok(equalsIgnoreCase('Content-Length', 'content-length'));
  t.ok(equalsIgnoreCase('X-FORWARDED-FOR', 'x-forwarded-for'));
  t.notOk(equalsIgnoreCase('Host', 'Hosts'));
  t.notOk(equalsIgnoreCase('a-b', 'a\rb'), '- and \\r differ by 0x20 but are not letters');
  t.notOk(equalsIgnoreCase('[', '{'));
});
