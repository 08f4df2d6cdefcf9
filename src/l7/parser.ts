/**
 * HTTP/1.x message parser for L7 mode: a thin, allocation-conscious wrapper
 * over llhttp compiled to WebAssembly, as shipped inside undici (pinned to an
 * exact version in package.json; `test/unit/l7-parser-pin.test.ts` fails when
 * an upgrade changes anything this file relies on).
 *
 * Everything about undici's undocumented `lib/llhttp/*` files stays in this
 * module, behind `HttpParser` / `ParserHandler` / `ParsedHead`.
 *
 * How it works (the same scheme as undici's lib/dispatcher/client-h1.js):
 * - the wasm module is compiled and instantiated once per process, lazily,
 *   preferring the SIMD build and falling back to the plain one;
 * - the `env.wasm_on_*` imports are module-level functions that look the JS
 *   parser up by the llhttp struct pointer (a Map), so no closure is created
 *   per parser or per call;
 * - one shared input area in wasm memory (grown when a chunk is larger) gets
 *   a copy of each chunk; callbacks turn wasm pointers back into offsets into
 *   the caller's ORIGINAL chunk, so the session can forward exact bytes and
 *   the body is never copied out of it;
 * - llhttp runs strictly (no lenient flag is ever set). On top of llhttp the
 *   wrapper enforces: the head size and header count limits (docs/reference.md, "L7 rules"), an
 *   exact request line `METHOD SP request-target SP HTTP/1.0|1.1 CRLF`
 *   (llhttp tolerates extra spaces, HTTP/0.9, HTTP/2.0 and RTSP/ICE),
 *   response versions 1.0/1.1 with a status of at least 100, and no
 *   Transfer-Encoding in an HTTP/1.0 message (RFC 9112 section 6.1).
 *
 * Positions: llhttp only reports data spans; to learn where a head begins and
 * ends the wrapper pauses llhttp inside on_message_begin (llhttp_get_error_pos
 * is then the first byte of the message) and on_message_complete (the byte
 * after the message), resuming at once unless the caller asked to stop. The
 * head's end is the first CRLFCRLF after its start (strict llhttp allows no
 * CR or LF inside a start line, field name or field value), found with
 * Buffer#indexOf plus a 32-byte carry of the previous chunk's head bytes.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

// ---------------------------------------------------------------------------
// llhttp constants (undici/lib/llhttp/constants.js)

interface LlhttpConstantsModule {
  ERROR: Record<string, number>;
  TYPE: Record<string, number>;
  METHODS: Record<string, number>;
}

const rawConstants = require('undici/lib/llhttp/constants.js') as LlhttpConstantsModule;

function constant(table: Record<string, number>, name: string): number {
  const v = table[name];
  if (typeof v !== 'number') throw new Error(`llhttp constant ${name} is missing from undici`);
  return v;
}

/**
 * The llhttp constants this module relies on, read once from undici's
 * constants.js. `methodNames[i]` is the name of llhttp method number `i`
 * (`''` for unused numbers). Frozen; allocated once at import.
 */
export const llhttpConstants = Object.freeze({
  ERROR: Object.freeze({
    OK: constant(rawConstants.ERROR, 'OK'),
    USER: constant(rawConstants.ERROR, 'USER'),
    PAUSED: constant(rawConstants.ERROR, 'PAUSED'),
    PAUSED_UPGRADE: constant(rawConstants.ERROR, 'PAUSED_UPGRADE'),
    PAUSED_H2_UPGRADE: constant(rawConstants.ERROR, 'PAUSED_H2_UPGRADE'),
    CB_HEADERS_COMPLETE: constant(rawConstants.ERROR, 'CB_HEADERS_COMPLETE'),
  }),
  TYPE: Object.freeze({
    REQUEST: constant(rawConstants.TYPE, 'REQUEST'),
    RESPONSE: constant(rawConstants.TYPE, 'RESPONSE'),
  }),
  methodNames: Object.freeze(buildMethodNames(rawConstants.METHODS)),
});

function buildMethodNames(methods: Record<string, number>): string[] {
  const names: string[] = [];
  for (const name of Object.keys(methods)) {
    const n = methods[name]!;
    while (names.length <= n) names.push('');
    names[n] = name;
  }
  return names;
}

/** errno -> llhttp's name without the HPE_ prefix (used only on errors). */
const errorNames: string[] = [];
for (const name of Object.keys(rawConstants.ERROR)) {
  const n = rawConstants.ERROR[name]!;
  if (n >= 0) errorNames[n] = name;
}

const E_OK = llhttpConstants.ERROR.OK;
const E_PAUSED = llhttpConstants.ERROR.PAUSED;
const E_PAUSED_UPGRADE = llhttpConstants.ERROR.PAUSED_UPGRADE;
const E_PAUSED_H2_UPGRADE = llhttpConstants.ERROR.PAUSED_H2_UPGRADE;
const METHOD_NAMES = llhttpConstants.methodNames;

// ---------------------------------------------------------------------------
// Public types

/** What `execute()` / `finish()` report. See `HttpParser.offset`. */
export const ExecResult = Object.freeze({
  /** Every byte was consumed; feed more. */
  OK: 0,
  /** Stopped at `offset` (after a message, or where pause() took effect); call execute(chunk, offset) to go on. */
  PAUSED: 1,
  /** The message before `offset` switched protocols (101, CONNECT, Upgrade): bytes from `offset` on are not HTTP. */
  PAUSED_UPGRADE: 2,
  /** Malformed input or a limit exceeded: see `errorCode`, `errorReason`, `offset`. Final until reset(). */
  ERROR: 3,
} as const);
/** One of the `ExecResult` values. */
export type ExecResult = (typeof ExecResult)[keyof typeof ExecResult];

/** Return values of `ParserHandler.onHeadersComplete` (llhttp's contract). */
export const HeadersAction = Object.freeze({
  /** Read the body as the headers declare it. */
  CONTINUE: 0,
  /** The message has no body whatever the headers say (a response to HEAD). */
  SKIP_BODY: 1,
  /** No body, and the bytes after the head belong to another protocol (execute returns PAUSED_UPGRADE). */
  UPGRADE: 2,
} as const);

/** Error code when the head exceeds `maxHeaderSize` (answer 431). */
export const HEADERS_TOO_LARGE = 'HEADERS_TOO_LARGE';
/** Error code when the head (or the trailer section) has more than `maxHeaders` lines (answer 431). */
export const TOO_MANY_HEADERS = 'TOO_MANY_HEADERS';
/** Error code when a request line has anything but single spaces or a protocol other than HTTP/1.x. */
export const INVALID_REQUEST_LINE = 'INVALID_REQUEST_LINE';

/** Limits enforced by the wrapper. */
export interface ParserLimits {
  /** Bytes of the whole head: start line, header lines and every CRLF including the blank line's. Default 16384. */
  maxHeaderSize?: number;
  /** Header lines in a head (and field lines in a trailer section). Default 100. */
  maxHeaders?: number;
}

/**
 * Receives parse events. Implement it on a long-lived object (the session):
 * the parser calls methods on it, it never creates closures.
 * Positions are offsets into the chunk given to the `execute()` call that is
 * running. Handlers may call `parser.pause()`; they must not call
 * `execute()`, `finish()`, `reset()` or `destroy()` on the same parser.
 */
export interface ParserHandler {
  /** A message starts at `start` in the current chunk (bytes before it were skipped empty lines). */
  onMessageBegin(start: number): void;
  /**
   * The head is complete and valid. Return a `HeadersAction` value: 0 to go
   * on, 1 to skip the body (responses to HEAD), 2 to treat the rest as an
   * upgraded protocol. `head` is a fresh object the handler may keep.
   */
  onHeadersComplete(head: ParsedHead): number;
  /** Body bytes `chunk[start, end)` (never copied; chunked framing and trailers excluded). */
  onBody(chunk: Buffer, start: number, end: number): void;
  /** The message ended at `end` in the current chunk (-1 when ended by `finish()`). */
  onMessageComplete(end: number): void;
}

/**
 * A parsed request or response head. One is allocated per message, with its
 * header arrays and strings (latin1, so bytes map 1:1 to code units); it is
 * never mutated after `onHeadersComplete`, so it may be kept.
 */
export class ParsedHead {
  /** Request method (an interned constant string); '' for responses. */
  method = '';
  /** Request target exactly as sent; '' for responses. */
  url = '';
  /** Response status code; 0 for requests. */
  statusCode = 0;
  /** HTTP version, e.g. 1 and 1. */
  versionMajor = 0;
  versionMinor = 0;
  /** Number of header lines (entries in headerNames / headerValues). */
  headerCount = 0;
  /** Header names in arrival order, with the sender's case. */
  headerNames: string[] = [];
  /** Header values, leading and trailing whitespace removed, as latin1 strings. */
  headerValues: string[] = [];
  /** llhttp_should_keep_alive: the connection may carry another message after this one. */
  shouldKeepAlive = false;
  /** Request: CONNECT or Upgrade + Connection: upgrade. Response: status 101. */
  upgrade = false;
  /** The declared Content-Length, or -1 when absent (values above 2^53 lose precision). */
  contentLength = -1;
  /** Transfer-Encoding's final coding is chunked. */
  chunked = false;
  /** Offset in the chunk of the current execute() where the head began, or -1 if it began in an earlier chunk. */
  headStart = -1;
  /** Offset in the chunk of the current execute() just after the head's blank line. */
  headEnd = 0;
  /** Size of the whole head across chunks (what `maxHeaderSize` limits). */
  headBytes = 0;

  /**
   * Index of the first header named `name` (ASCII case-insensitive), at or
   * after `from`, or -1. Compares lengths first; does not allocate.
   */
  findHeader(name: string, from = 0): number {
    const names = this.headerNames;
    const len = name.length;
    for (let i = from; i < this.headerCount; i++) {
      const n = names[i]!;
      if (n.length === len && equalsIgnoreCase(n, name)) return i;
    }
    return -1;
  }

  /** Value of the first header named `name` (case-insensitive), or undefined. Does not allocate. */
  getHeader(name: string): string | undefined {
    const i = this.findHeader(name);
    return i < 0 ? undefined : this.headerValues[i];
  }
}

/**
 * ASCII case-insensitive equality of two strings of the same length (header
 * names are tokens, so only letters fold). Does not allocate.
 */
export function equalsIgnoreCase(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const lx = x | 0x20;
    if (lx !== (y | 0x20) || lx < 0x61 || lx > 0x7a) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// The wasm module and its instance (one per process)

// The project compiles without the DOM lib and @types/node 20 does not
// declare WebAssembly: the little of it used here, typed locally.
interface WasmDescriptor {
  module?: string;
  name: string;
  kind: string;
}
type WasmModule = object;
interface WasmApi {
  Module: {
    new (bytes: Uint8Array): WasmModule;
    imports(mod: WasmModule): WasmDescriptor[];
    exports(mod: WasmModule): WasmDescriptor[];
  };
  Instance: new (mod: WasmModule, imports: Record<string, Record<string, unknown>>) => {
    exports: Record<string, unknown>;
  };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface LlhttpExports {
  memory: { readonly buffer: ArrayBuffer };
  llhttp_alloc(type: number): number;
  llhttp_free(p: number): void;
  llhttp_reset(p: number): void;
  llhttp_execute(p: number, data: number, len: number): number;
  llhttp_finish(p: number): number;
  llhttp_resume(p: number): void;
  llhttp_get_error_pos(p: number): number;
  llhttp_get_error_reason(p: number): number;
  llhttp_get_method(p: number): number;
  llhttp_get_http_major(p: number): number;
  llhttp_get_http_minor(p: number): number;
  malloc(n: number): number;
  free(p: number): void;
}

/** Names of the exports `LlhttpExports` uses (pinned by the pin test). */
export const LLHTTP_EXPORTS_USED: readonly string[] = Object.freeze([
  'memory',
  'llhttp_alloc',
  'llhttp_free',
  'llhttp_reset',
  'llhttp_execute',
  'llhttp_finish',
  'llhttp_resume',
  'llhttp_get_error_pos',
  'llhttp_get_error_reason',
  'llhttp_get_method',
  'llhttp_get_http_major',
  'llhttp_get_http_minor',
  'malloc',
  'free',
]);

let wasmModule: WasmModule | null = null;
let wasmSimd = false;
let ll: LlhttpExports | null = null;
let heap: Uint8Array = new Uint8Array(0);
/** Shared input area in wasm memory, and whether an execute() is using it. */
let inputPtr = 0;
let inputCap = 0;
let inputBusy = false;
const parsers = new Map<number, HttpParser>();

function compileModule(): WasmModule {
  if (wasmModule !== null) return wasmModule;
  try {
    wasmModule = new WA.Module(require('undici/lib/llhttp/llhttp_simd-wasm.js') as Uint8Array);
    wasmSimd = true;
  } catch {
    // No wasm SIMD on this CPU/engine (or a broken one): the plain build.
    wasmModule = new WA.Module(require('undici/lib/llhttp/llhttp-wasm.js') as Uint8Array);
    wasmSimd = false;
  }
  return wasmModule;
}

/**
 * Compile and instantiate llhttp now (the L7 balancer calls it at start):
 * loading it takes file descriptors, which the first client under
 * descriptor pressure would not find.
 */
export function preloadParser(): void {
  llhttp();
}

function llhttp(): LlhttpExports {
  if (ll !== null) return ll;
  const instance = new WA.Instance(compileModule(), {
    env: {
      wasm_on_message_begin: cbMessageBegin,
      wasm_on_url: cbUrl,
      wasm_on_status: cbStatus,
      wasm_on_header_field: cbHeaderField,
      wasm_on_header_value: cbHeaderValue,
      wasm_on_headers_complete: cbHeadersComplete,
      wasm_on_body: cbBody,
      wasm_on_message_complete: cbMessageComplete,
    },
  });
  const exp = instance.exports as unknown as LlhttpExports;
  const init = instance.exports['_initialize'];
  if (typeof init === 'function') (init as () => void)();
  ll = exp;
  inputCap = 16384;
  inputPtr = exp.malloc(inputCap);
  if (inputPtr === 0) throw new Error('llhttp: out of wasm memory');
  return exp;
}

/** A view of the whole wasm memory, renewed after the memory grew. */
function heapView(exp: LlhttpExports): Uint8Array {
  const buf = exp.memory.buffer;
  if (heap.buffer !== buf) heap = new Uint8Array(buf);
  return heap;
}

function readCString(exp: LlhttpExports, ptr: number): string {
  if (ptr === 0) return '';
  const mem = heapView(exp);
  let end = ptr;
  while (end < mem.length && mem[end] !== 0) end++;
  return Buffer.from(mem.buffer, ptr, end - ptr).toString('latin1');
}

/**
 * Names of the wasm module's imports and exports, for the pin test and for
 * diagnostics. Compiles the module if needed; allocates the arrays.
 */
export function describeLlhttpModule(): { imports: string[]; exports: string[]; simd: boolean } {
  const mod = compileModule();
  return {
    imports: WA.Module.imports(mod).map((d) => `${d.module}.${d.name}`),
    exports: WA.Module.exports(mod).map((d) => d.name),
    simd: wasmSimd,
  };
}

// The env callbacks. Each looks up its parser by the llhttp pointer and
// returns llhttp's verdict: 0 go on, HPE_PAUSED pause, -1 fail.

function cbMessageBegin(p: number): number {
  return parsers.get(p)!.wasmMessageBegin();
}
function cbUrl(p: number, at: number, len: number): number {
  return parsers.get(p)!.wasmUrl(at, len);
}
function cbStatus(p: number, at: number, len: number): number {
  return parsers.get(p)!.wasmStatus(at, len);
}
function cbHeaderField(p: number, at: number, len: number): number {
  return parsers.get(p)!.wasmHeaderField(at, len);
}
function cbHeaderValue(p: number, at: number, len: number): number {
  return parsers.get(p)!.wasmHeaderValue(at, len);
}
function cbHeadersComplete(p: number, statusCode: number, upgrade: number, keepAlive: number): number {
  return parsers.get(p)!.wasmHeadersComplete(statusCode, upgrade, keepAlive);
}
function cbBody(p: number, at: number, len: number): number {
  return parsers.get(p)!.wasmBody(at, len);
}
function cbMessageComplete(p: number): number {
  return parsers.get(p)!.wasmMessageComplete();
}

// ---------------------------------------------------------------------------
// The parser

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = Buffer.alloc(0);
/** " HTTP/1.1\r\n": the 11 bytes that end a valid request line (index 8 is the minor digit). */
const LINE_TAIL = Buffer.from(' HTTP/1.1\r\n', 'latin1');
const TAIL_CAP = 32;

/** Why llhttp was paused by us (as opposed to by an error). */
const PAUSE_NONE = 0;
const PAUSE_BEGIN = 1;
const PAUSE_COMPLETE = 2;
const PAUSE_USER = 3;

/** Parser states outside a running execute(). */
const ST_READY = 0;
const ST_PAUSED = 1;
const ST_UPGRADED = 2;
const ST_ERROR = 3;
const ST_DESTROYED = 4;

/**
 * One direction of one connection: parses requests (client side) or
 * responses (backend side), message after message.
 *
 * Allocation: construction allocates the llhttp struct in wasm memory (free
 * it with destroy()). Per message: one `ParsedHead`, its two arrays and the
 * header/url strings. Per execute(): nothing on the JS heap, except strings
 * when a head is being parsed and error strings on ERROR.
 */
export class HttpParser {
  /** The chunk offset where parsing stopped: the end after OK, else where it paused / failed (-1 after finish()). */
  offset = 0;
  /** After ERROR: `HPE_*` (llhttp's name) or one of HEADERS_TOO_LARGE, TOO_MANY_HEADERS, INVALID_REQUEST_LINE. */
  errorCode = '';
  /** After ERROR: a human-readable reason (llhttp_get_error_reason or ours). */
  errorReason = '';
  /** When true, execute() returns PAUSED after every complete message (pipelining). */
  pauseOnComplete = false;

  private kind: 'request' | 'response';
  private readonly handler: ParserHandler;
  private readonly maxHeaderSize: number;
  private readonly maxHeaders: number;
  private ptr: number;
  private state = ST_READY;
  private running = false;
  private pauseRequested = false;
  private pauseKind = PAUSE_NONE;
  private inFinish = false;
  private thrown: unknown = null;
  private ownCode = '';
  private ownReason = '';

  // The chunk being executed: chunk[base] is at wasm address inPtr.
  private chunk: Buffer | null = null;
  private base = 0;
  private inPtr = 0;

  // Head tracking. A head "coordinate" counts bytes from the message start.
  // chunk[headAnchor] has coordinate headBase; tail holds the head bytes of
  // coordinates [headBase - tailLen, headBase) (earlier chunks).
  private inHead = false;
  private headAnchor = 0;
  private headBase = 0;
  private headStart = -1;
  private readonly tail = Buffer.alloc(TAIL_CAP);
  private tailLen = 0;

  // Per-message accumulation.
  private url = '';
  private names: string[] = [];
  private values: string[] = [];
  private count = 0;
  private lastWasField = false;
  private lineChecked = false;
  private trailerCount = 0;
  private trailerBytes = 0;

  /**
   * @param kind    'request' for the client side, 'response' for the backend side.
   * @param handler receives the events (see ParserHandler).
   * @param limits  maxHeaderSize (default 16384) and maxHeaders (default 100), positive integers.
   * Allocates the llhttp struct in wasm memory; compiles the wasm module on first use.
   */
  constructor(kind: 'request' | 'response', handler: ParserHandler, limits?: ParserLimits) {
    const maxHeaderSize = limits?.maxHeaderSize ?? 16384;
    const maxHeaders = limits?.maxHeaders ?? 100;
    if (!Number.isSafeInteger(maxHeaderSize) || maxHeaderSize < 1) {
      throw new RangeError(`maxHeaderSize must be a positive integer, got ${String(maxHeaderSize)}`);
    }
    if (!Number.isSafeInteger(maxHeaders) || maxHeaders < 1) {
      throw new RangeError(`maxHeaders must be a positive integer, got ${String(maxHeaders)}`);
    }
    this.kind = kind;
    this.handler = handler;
    this.maxHeaderSize = maxHeaderSize;
    this.maxHeaders = maxHeaders;
    this.ptr = this.alloc(kind);
  }

  /** 'request' or 'response'. */
  get type(): 'request' | 'response' {
    return this.kind;
  }

  /** True between a message's first byte and the end of its head. */
  get headInProgress(): boolean {
    return this.inHead;
  }

  /**
   * Parse `chunk[start, end)`. Events go to the handler with offsets into
   * `chunk`. Returns OK (all consumed), PAUSED or PAUSED_UPGRADE (see
   * `offset`), or ERROR (see `errorCode`). A paused parser is resumed by the
   * next execute(): pass the rest of the chunk from `offset`.
   * Copies the bytes into wasm memory; allocates only head strings.
   * Throws what a handler threw (the parser is then in the ERROR state).
   */
  execute(chunk: Buffer, start = 0, end = chunk.length): ExecResult {
    if (this.running) throw new Error('HttpParser.execute() re-entered from its own handler');
    switch (this.state) {
      case ST_DESTROYED:
        throw new Error('HttpParser used after destroy()');
      case ST_ERROR:
        this.offset = start;
        return ExecResult.ERROR;
      case ST_UPGRADED:
        this.offset = start;
        return ExecResult.PAUSED_UPGRADE;
      default:
        break;
    }
    if (start < 0 || end > chunk.length || start > end) {
      throw new RangeError(`bad range [${start}, ${end}) for a chunk of ${chunk.length} bytes`);
    }
    const exp = llhttp();
    if (this.state === ST_PAUSED) {
      exp.llhttp_resume(this.ptr);
      this.state = ST_READY;
    }

    const len = end - start;
    let ptr: number;
    const shared = !inputBusy;
    if (shared) {
      if (len > inputCap) {
        exp.free(inputPtr);
        inputCap = Math.ceil(len / 16384) * 16384;
        inputPtr = exp.malloc(inputCap);
        if (inputPtr === 0) throw new Error('llhttp: out of wasm memory');
      }
      ptr = inputPtr;
      inputBusy = true;
    } else {
      // A handler of another parser is executing this one: use a private area.
      ptr = exp.malloc(len > 0 ? len : 1);
      if (ptr === 0) throw new Error('llhttp: out of wasm memory');
    }
    chunk.copy(heapView(exp), ptr, start, end);

    this.chunk = chunk;
    this.base = start;
    this.inPtr = ptr;
    this.running = true;
    if (this.inHead) this.headAnchor = start;
    try {
      return this.run(exp, start, end);
    } catch (err) {
      // A handler threw (from inside a wasm callback it was carried out).
      this.thrown = null;
      this.state = ST_ERROR;
      this.inHead = false;
      this.errorCode = 'HANDLER_THREW';
      this.errorReason = 'a ParserHandler method threw';
      throw err;
    } finally {
      this.running = false;
      this.chunk = null;
      if (shared) inputBusy = false;
      else exp.free(ptr);
    }
  }

  /**
   * Signal the end of input (the connection's read side ended). Completes a
   * response delimited by the close (onMessageComplete(-1)); returns ERROR
   * (HPE_INVALID_EOF_STATE) when a message was cut short, OK otherwise.
   */
  finish(): ExecResult {
    if (this.running) throw new Error('HttpParser.finish() called from its own handler');
    if (this.state === ST_DESTROYED) throw new Error('HttpParser used after destroy()');
    if (this.state === ST_ERROR) return ExecResult.ERROR;
    if (this.state === ST_UPGRADED) return ExecResult.OK;
    // A pause leaves llhttp inside a callback, before the steps that follow
    // it (e.g. the one marking the end of a message as a safe EOF point):
    // let them run on an empty input first.
    for (let i = 0; this.state === ST_PAUSED && i < 4; i++) {
      this.pauseRequested = false;
      const r = this.execute(EMPTY, 0, 0);
      if (r === ExecResult.ERROR) return r;
      if (r === ExecResult.PAUSED_UPGRADE) return ExecResult.OK;
    }
    const exp = llhttp();
    if (this.state === ST_PAUSED) {
      exp.llhttp_resume(this.ptr);
      this.state = ST_READY;
    }
    this.offset = -1;
    this.running = true;
    this.inFinish = true;
    let ret: number;
    try {
      ret = exp.llhttp_finish(this.ptr);
    } finally {
      this.running = false;
      this.inFinish = false;
    }
    if (this.thrown !== null) return this.rethrow();
    if (ret === E_OK) {
      this.inHead = false;
      return ExecResult.OK;
    }
    return this.fail(exp, ret, -1);
  }

  /**
   * Ask llhttp to stop at the next opportunity: after the current onBody
   * span, after onHeadersComplete when it returns CONTINUE, else at the end of
   * the message. execute() then returns PAUSED with `offset`.
   */
  pause(): void {
    this.pauseRequested = true;
  }

  /**
   * Leave the paused state without parsing (execute() also does it). Cancels
   * a pause() that has not taken effect yet.
   */
  resume(): void {
    this.pauseRequested = false;
    if (this.state === ST_PAUSED) {
      llhttp().llhttp_resume(this.ptr);
      this.state = ST_READY;
    }
  }

  /**
   * Start over for a new connection (or after ERROR / PAUSED_UPGRADE),
   * optionally switching between request and response parsing. Keeps the
   * handler, the limits and `pauseOnComplete`.
   */
  reset(kind?: 'request' | 'response'): void {
    if (this.running) throw new Error('HttpParser.reset() called from its own handler');
    if (this.state === ST_DESTROYED) throw new Error('HttpParser used after destroy()');
    const exp = llhttp();
    if (kind !== undefined && kind !== this.kind) {
      parsers.delete(this.ptr);
      exp.llhttp_free(this.ptr);
      this.kind = kind;
      this.ptr = this.alloc(kind);
    } else {
      exp.llhttp_reset(this.ptr);
    }
    this.state = ST_READY;
    this.offset = 0;
    this.errorCode = '';
    this.errorReason = '';
    this.pauseRequested = false;
    this.pauseKind = PAUSE_NONE;
    this.thrown = null;
    this.ownCode = '';
    this.ownReason = '';
    this.inHead = false;
    this.startMessage(0);
    this.inHead = false;
  }

  /** Free the llhttp struct. The parser cannot be used afterwards; idempotent. */
  destroy(): void {
    if (this.running) throw new Error('HttpParser.destroy() called from its own handler');
    if (this.state === ST_DESTROYED) return;
    parsers.delete(this.ptr);
    llhttp().llhttp_free(this.ptr);
    this.ptr = 0;
    this.state = ST_DESTROYED;
  }

  // -- internals ------------------------------------------------------------

  private alloc(kind: 'request' | 'response'): number {
    const exp = llhttp();
    const ptr = exp.llhttp_alloc(kind === 'request' ? llhttpConstants.TYPE.REQUEST : llhttpConstants.TYPE.RESPONSE);
    if (ptr === 0) throw new Error('llhttp: out of wasm memory');
    parsers.set(ptr, this);
    return ptr;
  }

  /** The execute loop: runs llhttp, handles our own pauses, maps the verdict. */
  private run(exp: LlhttpExports, start: number, end: number): ExecResult {
    let pos = start;
    for (;;) {
      const ret = exp.llhttp_execute(this.ptr, this.inPtr + (pos - start), end - pos);
      if (this.thrown !== null) return this.rethrow();
      if (ret === E_OK) {
        if (this.inHead && !this.leaveHead(end)) return this.failOwn(end);
        this.offset = end;
        return ExecResult.OK;
      }
      const at = exp.llhttp_get_error_pos(this.ptr) - this.inPtr + start;
      if (ret === E_PAUSED) {
        const kind = this.pauseKind;
        this.pauseKind = PAUSE_NONE;
        if (kind === PAUSE_BEGIN) {
          this.startMessage(at);
          this.handler.onMessageBegin(at);
        } else if (kind === PAUSE_COMPLETE) {
          this.inHead = false;
          this.handler.onMessageComplete(at);
          if (this.pauseOnComplete) this.pauseRequested = true;
        }
        if (kind === PAUSE_USER || this.pauseRequested) {
          this.pauseRequested = false;
          if (this.inHead && !this.leaveHead(at)) return this.failOwn(at);
          this.state = ST_PAUSED;
          this.offset = at;
          return ExecResult.PAUSED;
        }
        exp.llhttp_resume(this.ptr);
        pos = at;
        continue;
      }
      if (ret === E_PAUSED_UPGRADE) {
        this.inHead = false;
        this.state = ST_UPGRADED;
        this.offset = at;
        return ExecResult.PAUSED_UPGRADE;
      }
      return this.fail(exp, ret, at);
    }
  }

  /** Per-message state for a message whose first byte is at `at`. */
  private startMessage(at: number): void {
    this.inHead = true;
    this.headAnchor = at;
    this.headBase = 0;
    this.headStart = at;
    this.tailLen = 0;
    this.url = '';
    this.names = [];
    this.values = [];
    this.count = 0;
    this.lastWasField = false;
    this.lineChecked = false;
    this.trailerCount = 0;
    this.trailerBytes = 0;
  }

  /**
   * The head goes on past chunk offset `at` (end of this execute, or a
   * pause): check the size limit and carry the last head bytes over.
   */
  private leaveHead(at: number): boolean {
    const chunk = this.chunk!;
    const n = at - this.headAnchor;
    const total = this.headBase + n;
    if (total > this.maxHeaderSize) {
      this.setOwn(HEADERS_TOO_LARGE, `head larger than ${this.maxHeaderSize} bytes`);
      return false;
    }
    const tail = this.tail;
    if (n >= TAIL_CAP) {
      chunk.copy(tail, 0, at - TAIL_CAP, at);
      this.tailLen = TAIL_CAP;
    } else if (n > 0) {
      const keep = Math.min(this.tailLen, TAIL_CAP - n);
      tail.copy(tail, 0, this.tailLen - keep, this.tailLen);
      chunk.copy(tail, keep, this.headAnchor, at);
      this.tailLen = keep + n;
    }
    this.headBase = total;
    this.headAnchor = at;
    this.headStart = -1;
    return true;
  }

  /** Head coordinate of chunk offset `off`. */
  private coord(off: number): number {
    return this.headBase + (off - this.headAnchor);
  }

  /** Head byte at coordinate `c` (already consumed), or -1 if not retained. */
  private byteAt(c: number): number {
    if (c >= this.headBase) return this.chunk![this.headAnchor + (c - this.headBase)]!;
    const i = c - (this.headBase - this.tailLen);
    return i >= 0 ? this.tail[i]! : -1;
  }

  private offsetOf(at: number): number {
    return at - this.inPtr + this.base;
  }

  private setOwn(code: string, reason: string): void {
    if (this.ownCode === '') {
      this.ownCode = code;
      this.ownReason = reason;
    }
  }

  private failOwn(at: number): ExecResult {
    this.state = ST_ERROR;
    this.inHead = false;
    this.errorCode = this.ownCode;
    this.errorReason = this.ownReason;
    this.offset = at;
    return ExecResult.ERROR;
  }

  private fail(exp: LlhttpExports, ret: number, at: number): ExecResult {
    if (this.ownCode !== '') return this.failOwn(at);
    this.state = ST_ERROR;
    this.inHead = false;
    this.offset = at;
    if (ret === E_PAUSED_H2_UPGRADE) {
      this.errorCode = 'HPE_PAUSED_H2_UPGRADE';
      this.errorReason = 'HTTP/2 connection preface (h2c prior knowledge is not supported)';
    } else {
      this.errorCode = 'HPE_' + (errorNames[ret] ?? String(ret));
      this.errorReason = readCString(exp, exp.llhttp_get_error_reason(this.ptr));
    }
    return ExecResult.ERROR;
  }

  private rethrow(): never {
    const err = this.thrown;
    this.thrown = null;
    this.state = ST_ERROR;
    this.inHead = false;
    this.errorCode = 'HANDLER_THREW';
    this.errorReason = 'a ParserHandler method threw';
    throw err;
  }

  /** Whether the head, consumed up to chunk offset `endOff`, is still within maxHeaderSize. */
  private headFits(endOff: number): boolean {
    if (this.coord(endOff) > this.maxHeaderSize) {
      this.setOwn(HEADERS_TOO_LARGE, `head larger than ${this.maxHeaderSize} bytes`);
      return false;
    }
    return true;
  }

  /**
   * Request line: exactly METHOD SP target SP HTTP/1.0|1.1 CRLF, the line
   * ending at head coordinate `lineEnd`. llhttp accepts several spaces,
   * HTTP/0.9 "GET /", HTTP/2.0 and RTSP/ICE; a proxy forwarding the original
   * bytes must not let a backend read them differently.
   */
  private checkRequestLine(lineEnd: number): boolean {
    this.lineChecked = true;
    const method = METHOD_NAMES[llhttp().llhttp_get_method(this.ptr)] ?? '';
    if (lineEnd !== method.length + 1 + this.url.length + LINE_TAIL.length) {
      this.setOwn(INVALID_REQUEST_LINE, 'Request line must be METHOD SP request-target SP HTTP-version CRLF');
      return false;
    }
    const from = lineEnd - LINE_TAIL.length;
    for (let i = 0; i < LINE_TAIL.length; i++) {
      const b = this.byteAt(from + i);
      if (i === 8) {
        if (b !== 0x30 && b !== 0x31) {
          this.setOwn('HPE_INVALID_VERSION', 'Only HTTP/1.0 and HTTP/1.1 requests are accepted');
          return false;
        }
      } else if (b !== LINE_TAIL[i]) {
        if (i === 6 && b >= 0x30 && b <= 0x39) {
          this.setOwn('HPE_INVALID_VERSION', 'Only HTTP/1.0 and HTTP/1.1 requests are accepted');
        } else {
          this.setOwn(INVALID_REQUEST_LINE, 'Request line must end with SP HTTP/1.x CRLF');
        }
        return false;
      }
    }
    return true;
  }

  /** Chunk offset just after the head's CRLFCRLF (called in on_headers_complete). */
  private findHeadEnd(): number {
    const seg = this.headAnchor;
    const base = this.headBase;
    // A CRLFCRLF straddling the previous chunk and this one.
    for (let k = 1; k <= 3 && base + k >= 4; k++) {
      const c = base + k - 4;
      if (this.byteAt(c) === 13 && this.byteAt(c + 1) === 10 && this.byteAt(c + 2) === 13 && this.byteAt(c + 3) === 10) {
        return seg + k;
      }
    }
    const i = this.chunk!.indexOf(CRLFCRLF, seg);
    return i < 0 ? -1 : i + 4;
  }

  // -- wasm callbacks (called by the module-level env functions) -----------

  /** @internal */
  wasmMessageBegin(): number {
    this.pauseKind = PAUSE_BEGIN;
    return E_PAUSED;
  }

  /** @internal */
  wasmUrl(at: number, len: number): number {
    if (len === 0) return 0;
    const off = this.offsetOf(at);
    this.url += this.chunk!.toString('latin1', off, off + len);
    return this.headFits(off + len) ? 0 : -1;
  }

  /** @internal */
  wasmStatus(at: number, len: number): number {
    if (len === 0) return 0;
    return this.headFits(this.offsetOf(at) + len) ? 0 : -1;
  }

  /** @internal */
  wasmHeaderField(at: number, len: number): number {
    const off = this.offsetOf(at);
    if (!this.inHead) return this.trailerSpan(len, true);
    if (!this.lastWasField) {
      this.lastWasField = true;
      if (this.count > 0) this.trimLastValue();
      if (this.count >= this.maxHeaders) {
        this.setOwn(TOO_MANY_HEADERS, `more than ${this.maxHeaders} header lines`);
        return -1;
      }
      if (this.count === 0 && this.kind === 'request' && !this.checkRequestLine(this.coord(off))) return -1;
      this.names.push(this.chunk!.toString('latin1', off, off + len));
      this.values.push('');
      this.count++;
    } else if (len > 0) {
      this.names[this.count - 1] += this.chunk!.toString('latin1', off, off + len);
    }
    return this.headFits(off + len) ? 0 : -1;
  }

  /** @internal */
  wasmHeaderValue(at: number, len: number): number {
    if (!this.inHead) return this.trailerSpan(len, false);
    this.lastWasField = false;
    if (len === 0) return 0;
    const off = this.offsetOf(at);
    this.values[this.count - 1] += this.chunk!.toString('latin1', off, off + len);
    return this.headFits(off + len) ? 0 : -1;
  }

  /** Trailer fields: not exposed, but counted against the same limits as a head. */
  private trailerSpan(len: number, isField: boolean): number {
    if (isField && !this.lastWasField && ++this.trailerCount > this.maxHeaders) {
      this.setOwn(TOO_MANY_HEADERS, `more than ${this.maxHeaders} trailer lines`);
      return -1;
    }
    this.lastWasField = isField;
    this.trailerBytes += len;
    if (this.trailerBytes > this.maxHeaderSize) {
      this.setOwn(HEADERS_TOO_LARGE, `trailer section larger than ${this.maxHeaderSize} bytes`);
      return -1;
    }
    return 0;
  }

  /** Field values exclude trailing OWS (RFC 9110 5.5); llhttp already dropped the leading OWS. */
  private trimLastValue(): void {
    const i = this.count - 1;
    const v = this.values[i]!;
    let e = v.length;
    while (e > 0) {
      const c = v.charCodeAt(e - 1);
      if (c !== 0x20 && c !== 0x09) break;
      e--;
    }
    if (e !== v.length) this.values[i] = v.slice(0, e);
  }

  /** @internal */
  wasmHeadersComplete(statusCode: number, upgrade: number, keepAlive: number): number {
    const exp = llhttp();
    if (this.count > 0) this.trimLastValue();
    const headEnd = this.findHeadEnd();
    if (headEnd < 0) {
      this.setOwn('INTERNAL', 'end of head not found');
      return -1;
    }
    const headBytes = this.coord(headEnd);
    if (headBytes > this.maxHeaderSize) {
      this.setOwn(HEADERS_TOO_LARGE, `head larger than ${this.maxHeaderSize} bytes`);
      return -1;
    }
    const isRequest = this.kind === 'request';
    if (isRequest && !this.lineChecked && !this.checkRequestLine(headBytes - 2)) return -1;
    const major = exp.llhttp_get_http_major(this.ptr);
    const minor = exp.llhttp_get_http_minor(this.ptr);
    if (!isRequest) {
      if (major !== 1 || minor > 1) {
        this.setOwn('HPE_INVALID_VERSION', 'Only HTTP/1.0 and HTTP/1.1 responses are accepted');
        return -1;
      }
      if (statusCode < 100) {
        this.setOwn('HPE_INVALID_STATUS', 'Status code below 100');
        return -1;
      }
    }

    const head = new ParsedHead();
    head.versionMajor = major;
    head.versionMinor = minor;
    if (isRequest) {
      head.method = METHOD_NAMES[exp.llhttp_get_method(this.ptr)] ?? '';
      head.url = this.url;
      head.upgrade = upgrade === 1;
    } else {
      head.statusCode = statusCode;
      head.upgrade = statusCode === 101;
    }
    head.headerCount = this.count;
    head.headerNames = this.names;
    head.headerValues = this.values;
    head.shouldKeepAlive = keepAlive === 1;
    head.headStart = this.headStart;
    head.headEnd = headEnd;
    head.headBytes = headBytes;
    // llhttp has already rejected duplicate or malformed Content-Length and
    // Content-Length together with Transfer-Encoding.
    const cl = head.findHeader('content-length');
    if (cl >= 0) head.contentLength = Number(head.headerValues[cl]);
    let te = -1;
    for (let i = head.findHeader('transfer-encoding'); i >= 0; i = head.findHeader('transfer-encoding', i + 1)) te = i;
    if (te >= 0) {
      // RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding has
      // faulty framing (an HTTP/1.0 hop in between may frame it differently:
      // request smuggling); llhttp accepts it, we do not.
      if (minor === 0) {
        this.setOwn('HPE_INVALID_TRANSFER_ENCODING', 'Transfer-Encoding in an HTTP/1.0 message');
        return -1;
      }
      head.chunked = lastCodingIsChunked(head.headerValues[te]!);
    }

    this.inHead = false;
    this.lastWasField = false;
    let action: number;
    try {
      action = this.handler.onHeadersComplete(head);
    } catch (err) {
      this.thrown = err;
      return -1;
    }
    if (action === 1 || action === 2) return action;
    if (this.pauseRequested) {
      this.pauseKind = PAUSE_USER;
      return E_PAUSED;
    }
    return 0;
  }

  /** @internal */
  wasmBody(at: number, len: number): number {
    // llhttp re-flushes an open body span with length 0 after a resume.
    if (len === 0) return 0;
    const off = this.offsetOf(at);
    try {
      this.handler.onBody(this.chunk!, off, off + len);
    } catch (err) {
      this.thrown = err;
      return -1;
    }
    if (this.pauseRequested) {
      this.pauseKind = PAUSE_USER;
      return E_PAUSED;
    }
    return 0;
  }

  /** @internal */
  wasmMessageComplete(): number {
    if (this.inFinish) {
      // llhttp_finish() ignores a pause; deliver here.
      this.inHead = false;
      try {
        this.handler.onMessageComplete(-1);
      } catch (err) {
        this.thrown = err;
        return -1;
      }
      return 0;
    }
    this.pauseKind = PAUSE_COMPLETE;
    return E_PAUSED;
  }
}

/** Whether a Transfer-Encoding value's last coding is `chunked` (case-insensitive). */
function lastCodingIsChunked(v: string): boolean {
  let e = v.length;
  while (e > 0 && (v.charCodeAt(e - 1) === 0x20 || v.charCodeAt(e - 1) === 0x09)) e--;
  const s = e - 7;
  if (s < 0) return false;
  if (s > 0) {
    const c = v.charCodeAt(s - 1);
    if (c !== 0x2c && c !== 0x20 && c !== 0x09) return false;
  }
  return equalsIgnoreCase(v.slice(s, e), 'chunked');
}
