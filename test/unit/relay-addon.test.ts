/**
 * The relay addon's JavaScript surface (native/relay-addon.c): its end
 * reasons are the engine's, in the order src/l4/relay.ts decodes them;
 * misused calls throw a TypeError naming the problem instead of reading
 * garbage; raiseNofile() answers the limits. Loads LB4_RELAY_ADDON when set
 * (the sanitizer build, make test-native-asan), else build/Release.
 */
import t from 'tap';
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { REASONS } from '../../src/l4/relay.js';

const file = process.env.LB4_RELAY_ADDON || new URL('../../build/Release/lb4_relay.node', import.meta.url).pathname;

t.test('relay addon', { skip: process.platform !== 'linux' ? 'the native relay is Linux only' : false }, async (t) => {
  t.ok(existsSync(file), `${file} exists (make native)`);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const addon = createRequire(import.meta.url)(file) as any;

  t.test('end reasons: one list, in one order', async (t) => {
    t.same(addon.reasons, REASONS, 'the addon exports the engine names in the order of REASONS in src/l4/relay.ts');
    const header = readFileSync(new URL('../../native/relay-engine.h', import.meta.url), 'utf8');
    const inHeader = [...header.matchAll(/^\s*X\([A-Z_]+, "([a-z-]+)"\)/gm)].map((m) => m[1]);
    t.same(inHeader, REASONS, 'and RELAY_END_LIST in native/relay-engine.h has them in that order');
  });

  t.test('misuse throws a TypeError that names the problem', async (t) => {
    const cases: Array<[string, () => unknown, RegExp]> = [
      ['adopt()', () => addon.adopt(), /adopt\(clientFd, backendFd, idleMs, idleSoFarMs\): expected 4 argument\(s\), got 0/],
      ['adopt with 3 arguments', () => addon.adopt(1, 2, 3), /expected 4 argument\(s\), got 3/],
      ['adopt with a string fd', () => addon.adopt('7', 8, 0, 0), /clientFd must be a number/],
      ['adopt with a negative fd', () => addon.adopt(7, -1, 0, 0), /backendFd out of range/],
      ['adopt with NaN', () => addon.adopt(7, 8, NaN, 0), /idleMs out of range/],
      ['close()', () => addon.close(), /close\(id, reason\): expected 2/],
      ['close with an unknown reason', () => addon.close(1, 99), /reason out of range/],
      ['init without callbacks', () => addon.init(), /init\(onEnd, onFail, options\?\): expected 2 to 3 arguments, got 0/],
      ['init with a non-function', () => addon.init(() => {}, 5), /onFail must be a function/],
      ['init with a bad pipeSize', () => addon.init(() => {}, () => {}, { pipeSize: 'big' }), /options.pipeSize must be a number/],
      ['stats with arguments', () => addon.stats(1), /stats\(\): expected 0 argument/],
    ];
    for (const [what, call, message] of cases) {
      t.throws(call, { name: 'TypeError', code: 'LB_ERR_RELAY_ARG', message }, what);
    }
    t.equal(addon.adopt(7, 8, 0, 0), -108, 'adopt before init: -ESHUTDOWN, nothing thrown');
  });

  t.test('raiseNofile answers the limits it leaves', async (t) => {
    const r = addon.raiseNofile();
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))!;
    t.equal(String(r.soft), m[1], 'soft, as /proc/self/limits says');
    t.equal(String(r.hard), m[2], 'hard, as /proc/self/limits says');
    t.equal(r.soft, r.hard, 'soft raised to hard');
  });
});
