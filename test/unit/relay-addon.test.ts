/**
 * The relay addon's JavaScript surface (native/relay-addon.c), through
 * test/native/addon-check.mjs in a child process: its end reasons are the
 * engine's, in the order src/l4/relay.ts decodes them; misused calls throw
 * a TypeError naming the problem instead of reading garbage; raiseNofile()
 * answers the limits; one tunnel goes through init, adopt, its report,
 * stats and stop. Checks LB4_RELAY_ADDON when set, else build/Release; with
 * LB4_TEST_LD_PRELOAD (make test-native-asan) the child starts with libasan,
 * as the sanitizer build needs.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { REASONS } from '../../src/l4/relay.js';

const file = process.env.LB4_RELAY_ADDON || fileURLToPath(new URL('../../build/Release/lb4_relay.node', import.meta.url));
const script = fileURLToPath(new URL('../native/addon-check.mjs', import.meta.url));

t.test('relay addon', { skip: process.platform !== 'linux' ? 'the native relay is Linux only' : false }, async (t) => {
  if (!t.ok(existsSync(file), `${file} exists (make native)`)) return;
  const env = { ...process.env };
  if (process.env.LB4_TEST_LD_PRELOAD) env.LD_PRELOAD = process.env.LB4_TEST_LD_PRELOAD;
  const run = spawnSync(process.execPath, [script, file], { encoding: 'utf8', env, timeout: 60_000 });
  if (!t.equal(run.status, 0, `the check ran (${run.status ?? run.signal})\n${run.stderr}`)) return;
  const out = JSON.parse(run.stdout);

  t.test('end reasons: one list, in one order', async (t) => {
    t.same(out.reasons, REASONS, 'the addon exports the engine names in the order of REASONS in src/l4/relay.ts');
    const header = readFileSync(new URL('../../native/relay-engine.h', import.meta.url), 'utf8');
    const inHeader = [...header.matchAll(/^\s*X\([A-Z_]+, "([a-z-]+)"\)/gm)].map((m) => m[1]);
    t.same(inHeader, REASONS, 'and RELAY_END_LIST in native/relay-engine.h has them in that order');
  });

  t.test('misuse throws a TypeError that names the problem', async (t) => {
    const expected: Record<string, RegExp> = {
      'adopt()': /adopt\(clientFd, backendFd, idleMs, idleSoFarMs\): expected 4 argument\(s\), got 0/,
      'adopt(1, 2, 3)': /expected 4 argument\(s\), got 3/,
      "adopt('7', 8, 0, 0)": /clientFd must be a number/,
      'adopt(7, -1, 0, 0)': /backendFd out of range/,
      'adopt(7, 8, NaN, 0)': /idleMs out of range/,
      'close()': /close\(id, reason\): expected 2/,
      'close(1, 99)': /reason out of range/,
      'init()': /init\(onEnd, onFail, options\?\): expected 2 to 3 arguments, got 0/,
      'init(fn, 5)': /onFail must be a function/,
      "init(fn, fn, { pipeSize: 'big' })": /options.pipeSize must be a number/,
      'stats(1)': /stats\(\): expected 0 argument/,
    };
    for (const [call, message] of Object.entries(expected)) {
      const e = out.misuse[call];
      t.ok(e, `${call} throws`);
      if (!e) continue;
      t.equal(e.name, 'TypeError', `${call}: a TypeError`);
      t.equal(e.code, 'LB_ERR_RELAY_ARG', `${call}: code LB_ERR_RELAY_ARG`);
      t.match(e.message, message, `${call}: ${e.message}`);
    }
    t.equal(out.adoptBeforeInit, -108, 'adopt before init: -ESHUTDOWN, nothing thrown');
  });

  t.test('raiseNofile answers the limits it leaves', async (t) => {
    const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))!;
    t.equal(String(out.nofile.hard), m[2], 'hard, as /proc/self/limits says');
    t.equal(out.nofile.soft, out.nofile.hard, 'soft raised to hard');
  });

  t.test('a tunnel: init, adopt, report, stats, stop', async (t) => {
    const c = out.cycle;
    t.equal(c.counters, 2 * 131072, 'init returns the live byte counts (two per slot)');
    t.match(c.initTwice, /already started/, 'a second init throws');
    t.ok(c.id >= 0, `adopt returns an id (${c.id})`);
    t.equal(c.liveAfterAdopt, 1, 'stats: one live tunnel');
    t.equal(c.echoed, 'ping over the relay', 'bytes went through the relay and back');
    t.same(c.ends, [{ id: c.id, reason: REASONS.indexOf('client-close'), errno: 0, bytesIn: 19, bytesOut: 19 }], 'one report: client-close, 19 bytes each way');
    t.match(c.stats, { live: 0, highSlot: 0, pipes: 0, failed: 0 }, 'stats after: nothing live, scan bound back to 0');
    t.equal(c.adoptAfterStop, -108, 'after stop: adopt refuses (-ESHUTDOWN)');
  });
});
