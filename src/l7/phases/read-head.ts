/**
 * Phase 1, read head: parse request bytes until a head is complete, keeping
 * the head's raw bytes (as slices of the reads, copied only when a head
 * spans reads, bounded by --max-header-size) for the rewrite.
 *
 * Bytes go out only after the parser accepted them: a whole read is parsed
 * before anything of it is forwarded, so a malformed head, or a malformed
 * body chunk in the same read as its head, forwards nothing (400, or 431
 * for the limits). The parser pauses after each message
 * (pauseOnComplete): pipelined requests are answered in order and unread
 * ones stay in the kernel's buffers.
 */
import { ExecResult, HEADERS_TOO_LARGE, HeadersAction, TOO_MANY_HEADERS, type ParsedHead } from '../parser.js';
import { answerError } from '../answer.js';
import { S_HEAD, T_HEADER, T_KEEPALIVE, type HttpState } from '../state.js';
import { beginRequest } from './route.js';

/**
 * Parse request bytes from `chunk[off]` while reading heads. Requests
 * answered locally (the monitor URI) loop on to the next pipelined one.
 */
export function feedHead(x: HttpState, chunk: Buffer, off: number): void {
  const p = x.reqParser;
  for (;;) {
    x.cur = chunk;
    x.curOff = off;
    x.msgStart = -1;
    const r = p.execute(chunk, off);
    x.cur = null;
    // Every client byte parsed belongs to the request being read (empty
    // lines before it included); after an error, the rest of the read too.
    const used = (r === ExecResult.ERROR ? chunk.length : p.offset) - off;
    x.reqBytesIn += used;
    x.bytesIn += used;
    if (r === ExecResult.ERROR) {
      const code = p.errorCode;
      answerError(x, code === HEADERS_TOO_LARGE || code === TOO_MANY_HEADERS ? 431 : 400, 'client-error');
      return;
    }
    const end = p.offset;
    if (x.head === null) {
      // The head goes on in a later read: keep its bytes (bounded by --max-header-size).
      if (p.headInProgress) {
        const from = x.msgStart >= 0 ? x.msgStart : off;
        const part = chunk.subarray(from, end);
        x.spill = x.spill === null ? Buffer.from(part) : Buffer.concat([x.spill, part]);
      }
      if (r !== ExecResult.OK && end < chunk.length) {
        off = end; // a pause without a message (not expected): go on parsing
        continue;
      }
      if (x.clientEnded) x.finish('client-close');
      return;
    }
    const h = x.head;
    if (r !== ExecResult.OK && end < chunk.length) {
      x.rest = chunk;
      x.restOff = end;
    }
    const body = h.headEnd < end ? chunk.subarray(h.headEnd, end) : null;
    if (!beginRequest(x, body)) return;
    // answered locally and kept alive: on to the next pipelined request
    const rest = x.rest;
    if (rest === null) return;
    x.rest = null;
    chunk = rest;
    off = x.restOff;
  }
}

/** Request parser: a message starts at `start` of the current chunk. */
export function reqBegin(x: HttpState, start: number): void {
  x.msgStart = start;
  x.reqStartedAt = performance.now();
  // (reqBytesIn/Out are reset by endRequest: bytes before this start count too)
  x.stream.assignRetries = 0;
  // idle until the first byte (keep-alive rule), then --header-timeout
  if (x.timerKind === T_KEEPALIVE) x.arm(T_HEADER, x.ctx.config.headerTimeout);
}

/** Request parser: the head is complete. */
export function reqHead(x: HttpState, head: ParsedHead): number {
  const c = x.cur!;
  if (head.headStart >= 0) {
    x.headRaw = c.subarray(head.headStart, head.headEnd);
  } else {
    const tail = c.subarray(x.curOff, head.headEnd);
    x.headRaw = x.spill === null ? Buffer.from(tail) : Buffer.concat([x.spill, tail]);
  }
  x.spill = null;
  x.head = head;
  // parsed with the head, so that any answer to it logs its path
  x.targetOk = x.target.parse(head.url);
  return HeadersAction.CONTINUE;
}

/** Bytes that arrived while requests were not being read (a pause took effect late): keep them for later. */
export function stash(x: HttpState, chunk: Buffer): void {
  x.client.pause();
  if (x.rest === null) {
    x.rest = chunk;
    x.restOff = 0;
  } else {
    x.rest = Buffer.concat([x.rest.subarray(x.restOff), chunk]);
    x.restOff = 0;
  }
}

/** Between requests: read the next pipelined request, or wait for one. */
export function readNext(x: HttpState): void {
  const rest = x.rest;
  if (rest !== null) {
    x.rest = null;
    feedHead(x, rest, x.restOff);
  }
  if (x.state === S_HEAD && !x.client.destroyed) x.client.resume();
}
