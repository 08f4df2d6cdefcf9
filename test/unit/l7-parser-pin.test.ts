/**
 * Pins what src/l7/parser.ts relies on in undici's undocumented llhttp files:
 * undici's exact version, the wasm module's import names, the exports we
 * call, and the constant values we read. An undici upgrade that changes any
 * of them must fail here first; re-check the parser, then update the pins.
 */
import { createRequire } from 'node:module';
import t from 'tap';
import { LLHTTP_EXPORTS_USED, describeLlhttpModule, llhttpConstants } from '../../src/l7/parser.js';

const require = createRequire(import.meta.url);

interface WasmApi {
  Module: {
    new (bytes: Uint8Array): object;
    imports(mod: object): { module: string; name: string }[];
    exports(mod: object): { name: string }[];
  };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const IMPORTS = [
  'env.wasm_on_body',
  'env.wasm_on_header_field',
  'env.wasm_on_header_value',
  'env.wasm_on_headers_complete',
  'env.wasm_on_message_begin',
  'env.wasm_on_message_complete',
  'env.wasm_on_status',
  'env.wasm_on_url',
];

t.test('undici is exactly 7.30.2', async (t) => {
  const pkg = require('undici/package.json') as { version: string };
  t.equal(pkg.version, '7.30.2');
});

t.test('wasm module imports and exports', async (t) => {
  const d = describeLlhttpModule();
  t.same([...d.imports].sort(), IMPORTS, 'exactly the env callbacks we provide');
  for (const name of LLHTTP_EXPORTS_USED) t.ok(d.exports.includes(name), `exports ${name}`);
  t.ok(d.exports.includes('_initialize'), 'exports _initialize (called once if present)');
  t.same(
    [...LLHTTP_EXPORTS_USED].sort(),
    [
      'free',
      'llhttp_alloc',
      'llhttp_execute',
      'llhttp_finish',
      'llhttp_free',
      'llhttp_get_error_pos',
      'llhttp_get_error_reason',
      'llhttp_get_http_major',
      'llhttp_get_http_minor',
      'llhttp_get_method',
      'llhttp_reset',
      'llhttp_resume',
      'malloc',
      'memory',
    ],
    'the exports the parser uses',
  );
  t.type(d.simd, 'boolean');
  // Both builds (SIMD and the fallback) have the same interface.
  for (const file of ['undici/lib/llhttp/llhttp_simd-wasm.js', 'undici/lib/llhttp/llhttp-wasm.js']) {
    let mod: object;
    try {
      mod = new WA.Module(require(file) as Uint8Array);
    } catch (err) {
      t.ok(file.includes('simd'), `only the SIMD build may fail to compile here (${String(err)})`);
      continue;
    }
    t.same(
      WA.Module.imports(mod)
        .map((i) => `${i.module}.${i.name}`)
        .sort(),
      IMPORTS,
      `${file} imports`,
    );
    const names = WA.Module.exports(mod).map((e) => e.name);
    for (const name of LLHTTP_EXPORTS_USED) t.ok(names.includes(name), `${file} exports ${name}`);
  }
});

t.test('constants', async (t) => {
  const c = require('undici/lib/llhttp/constants.js') as {
    ERROR: Record<string, number>;
    TYPE: Record<string, number>;
    METHODS: Record<string, number>;
  };
  t.same(c.TYPE, { BOTH: 0, REQUEST: 1, RESPONSE: 2 });
  // Every errno: the parser turns them into `HPE_${name}` error codes.
  t.same(c.ERROR, {
    OK: 0,
    INTERNAL: 1,
    STRICT: 2,
    CR_EXPECTED: 25,
    LF_EXPECTED: 3,
    UNEXPECTED_CONTENT_LENGTH: 4,
    UNEXPECTED_SPACE: 30,
    CLOSED_CONNECTION: 5,
    INVALID_METHOD: 6,
    INVALID_URL: 7,
    INVALID_CONSTANT: 8,
    INVALID_VERSION: 9,
    INVALID_HEADER_TOKEN: 10,
    INVALID_CONTENT_LENGTH: 11,
    INVALID_CHUNK_SIZE: 12,
    INVALID_STATUS: 13,
    INVALID_EOF_STATE: 14,
    INVALID_TRANSFER_ENCODING: 15,
    CB_MESSAGE_BEGIN: 16,
    CB_HEADERS_COMPLETE: 17,
    CB_MESSAGE_COMPLETE: 18,
    CB_CHUNK_HEADER: 19,
    CB_CHUNK_COMPLETE: 20,
    PAUSED: 21,
    PAUSED_UPGRADE: 22,
    PAUSED_H2_UPGRADE: 23,
    USER: 24,
    CB_URL_COMPLETE: 26,
    CB_STATUS_COMPLETE: 27,
    CB_METHOD_COMPLETE: 32,
    CB_VERSION_COMPLETE: 33,
    CB_HEADER_FIELD_COMPLETE: 28,
    CB_HEADER_VALUE_COMPLETE: 29,
    CB_CHUNK_EXTENSION_NAME_COMPLETE: 34,
    CB_CHUNK_EXTENSION_VALUE_COMPLETE: 35,
    CB_RESET: 31,
    CB_PROTOCOL_COMPLETE: 38,
  });
  // Method numbers: llhttp_get_method() is mapped back to names with these.
  t.same(c.METHODS, {
    DELETE: 0,
    GET: 1,
    HEAD: 2,
    POST: 3,
    PUT: 4,
    CONNECT: 5,
    OPTIONS: 6,
    TRACE: 7,
    COPY: 8,
    LOCK: 9,
    MKCOL: 10,
    MOVE: 11,
    PROPFIND: 12,
    PROPPATCH: 13,
    SEARCH: 14,
    UNLOCK: 15,
    BIND: 16,
    REBIND: 17,
    UNBIND: 18,
    ACL: 19,
    REPORT: 20,
    MKACTIVITY: 21,
    CHECKOUT: 22,
    MERGE: 23,
    'M-SEARCH': 24,
    NOTIFY: 25,
    SUBSCRIBE: 26,
    UNSUBSCRIBE: 27,
    PATCH: 28,
    PURGE: 29,
    MKCALENDAR: 30,
    LINK: 31,
    UNLINK: 32,
    SOURCE: 33,
    PRI: 34,
    DESCRIBE: 35,
    ANNOUNCE: 36,
    SETUP: 37,
    PLAY: 38,
    PAUSE: 39,
    TEARDOWN: 40,
    GET_PARAMETER: 41,
    SET_PARAMETER: 42,
    REDIRECT: 43,
    RECORD: 44,
    FLUSH: 45,
    QUERY: 46,
  });
  t.same(llhttpConstants.ERROR, {
    OK: 0,
    USER: 24,
    PAUSED: 21,
    PAUSED_UPGRADE: 22,
    PAUSED_H2_UPGRADE: 23,
    CB_HEADERS_COMPLETE: 17,
  });
  t.same(llhttpConstants.TYPE, { REQUEST: 1, RESPONSE: 2 });
  t.equal(llhttpConstants.methodNames.length, 47);
  t.equal(llhttpConstants.methodNames[1], 'GET');
  t.equal(llhttpConstants.methodNames[5], 'CONNECT');
  t.equal(llhttpConstants.methodNames[46], 'QUERY');
  t.ok(Object.isFrozen(llhttpConstants));
});
