/**
 * `--watch-config` (LB_WATCH_CONFIG): lb4 re-reads --config when the file
 * changes, as on SIGHUP, debounced; editors that replace the file by a
 * rename are seen too; other files in the directory are not; an invalid
 * save is logged and keeps the running settings.
 */
import t from 'tap';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { namedBackend } from '../../helpers/backends.js';
import { nameOf } from '../../helpers/l4-e2e.js';
import { runLb4, withLb4, type Lb4Process } from '../../helpers/lb4.js';
import { entry, sleep, tempDir, writeConfig } from '../../helpers/ops.js';
import { WATCH_DEBOUNCE_MS } from '../../../src/config/watch.js';

const COMMON = ['listen: 127.0.0.1:0', 'healthCheck: off'];

/** Wait for the next `config reloaded` after `since`; returns how long it took. */
async function reloaded(lb: Lb4Process, since: number, t0: number, msg = 'config reloaded'): Promise<number> {
  await lb.waitForLog((l) => l.msg === msg, 15_000, since);
  return Date.now() - t0;
}

t.test('edits, renames and bursts are picked up, debounced', async (t) => {
  const a = await namedBackend('a');
  const b = await namedBackend('b');
  t.teardown(() => a.close());
  t.teardown(() => b.close());
  const dir = tempDir(t);
  const file = join(dir, 'lb4.yaml');
  writeConfig(file, [...COMMON, 'backends:', entry('a', a.address)]);
  const lb = await withLb4(t, ['--config', file, '--watch-config']);
  const port = lb.ports[0]!;
  t.equal(await nameOf(port), 'a');

  // an edit in place
  let since = lb.logs.length;
  let t0 = Date.now();
  writeConfig(file, [...COMMON, 'backends:', entry('b', b.address)]);
  const ms = await reloaded(lb, since, t0);
  t.ok(ms < 10_000, `reloaded ${ms} ms after the edit (debounce ${WATCH_DEBOUNCE_MS} ms)`);
  t.equal(await nameOf(port), 'b', 'the edit is in force');

  // a save by rename (vim, sed -i, ConfigMap swaps)
  since = lb.logs.length;
  t0 = Date.now();
  const tmp = join(dir, '.lb4.yaml.swp');
  writeConfig(tmp, [...COMMON, 'backends:', entry('a', a.address)]);
  renameSync(tmp, file);
  await reloaded(lb, since, t0);
  t.equal(await nameOf(port), 'a', 'the renamed-in file is in force');

  // a burst of writes makes one reload
  since = lb.logs.length;
  // (back to back: paced writes could drift apart by more than the debounce on a loaded machine)
  for (let i = 0; i < 5; i++) writeConfig(file, [...COMMON, 'backends:', entry('a', a.address, i + 1)]);
  await reloaded(lb, since, Date.now());
  await sleep(600); // an observation window: no second reload comes
  t.equal(lb.logs.slice(since).filter((l) => l.msg === 'config reloaded').length, 1, 'one reload for a burst of saves');

  // another file in the directory is not watched
  since = lb.logs.length;
  writeFileSync(join(dir, 'other.yaml'), 'x: 1\n');
  await sleep(600); // an observation window: no reload comes
  t.equal(lb.logs.slice(since).filter((l) => /config reload/.test(String(l.msg))).length, 0, 'other files do not trigger a reload');

  // an invalid save is logged, the running settings stay
  since = lb.logs.length;
  writeConfig(file, [...COMMON, 'backends:', entry('b', b.address, 5000)]);
  await reloaded(lb, since, Date.now(), 'config reload failed; keeping the running settings');
  const err = lb.logs.slice(since).find((l) => l.msg === 'config reload failed; keeping the running settings')!;
  t.equal(err.trigger, 'watch');
  t.equal(err.file, file);
  t.match(err.err, /backends\[0\]\.weight/);
  t.equal(await nameOf(port), 'a', 'still the last good settings');

  const exit = await lb.stop();
  t.equal(exit.code, 0, 'exits 0: the watcher does not hold the process');
});

t.test('LB_WATCH_CONFIG=1 turns it on; without --config it is a usage error', async (t) => {
  const a = await namedBackend('a');
  t.teardown(() => a.close());
  const file = join(tempDir(t), 'lb4.yaml');
  writeConfig(file, [...COMMON, 'backends:', entry('a', a.address)]);
  const lb = await withLb4(t, ['--config', file], { env: { LB_WATCH_CONFIG: '1' } });
  const since = lb.logs.length;
  writeConfig(file, [...COMMON, 'backends:', entry('a', a.address, 7)]);
  await reloaded(lb, since, Date.now());
  t.pass('reloaded on change');

  const r = await runLb4(['--listen', '127.0.0.1:0', '--backend', a.address, '--watch-config']);
  t.equal(r.code, 2);
  t.match(r.stderr, /--watch-config/);

  const plain = await withLb4(t, ['--config', file]);
  const s2 = plain.logs.length;
  writeConfig(file, [...COMMON, 'backends:', entry('a', a.address, 8)]);
  await sleep(700); // an observation window: no reload comes
  t.equal(plain.logs.slice(s2).filter((l) => l.msg === 'config reloaded').length, 0, 'off by default');
});
