/**
 * The relay engine (native/relay-engine.c) on its own, under
 * AddressSanitizer, UBSan and LeakSanitizer: test/native/engine-test.c
 * drives it over real TCP sockets on 127.0.0.1 and injects the failures
 * Node never produces on demand (epoll_ctl and epoll_wait failing, through
 * the linker's --wrap; an idle scan paused while a tunnel is adopted,
 * through the engine's test hook). Bytes, splice and the refused small pipe,
 * resets passed on as resets, scan bound, and a clean stop are all checked
 * there; this file compiles it with the sanitizers and fails on any failed
 * check or sanitizer report. Linux only (epoll, splice); a missing C
 * compiler on Linux fails the test, as the addon needs one too.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

t.test('relay engine under ASan + UBSan + LSan', { skip: process.platform !== 'linux' ? 'epoll and splice are Linux only' : false }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb4-engine-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const exe = join(dir, 'engine-test');
  const cc = process.env.CC || 'cc';
  const build = spawnSync(
    cc,
    [
      '-std=gnu11', '-O1', '-g', '-Wall', '-Wextra', '-Werror',
      '-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer',
      '-DRELAY_TEST_HOOKS',
      'test/native/engine-test.c', 'native/relay-engine.c',
      '-o', exe, '-lpthread', '-Wl,--wrap=epoll_wait,--wrap=epoll_ctl',
    ],
    { cwd: root, encoding: 'utf8', timeout: 120_000 },
  );
  if (!t.equal(build.status, 0, `${cc} builds the harness with the sanitizers\n${build.error?.message ?? ''}${build.stderr}`)) return;
  const run = spawnSync(exe, [], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env: {
      ...process.env,
      ASAN_OPTIONS: 'detect_leaks=1:halt_on_error=1:abort_on_error=0',
      UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
    },
  });
  const out = `${run.stdout}\n${run.stderr}`;
  const failed = out.split('\n').filter((l) => l.startsWith('not ok'));
  t.same(failed, [], 'every check of the harness passed');
  t.notMatch(out, /ERROR: (Address|Leak)Sanitizer|runtime error:/, 'no sanitizer report');
  t.match(run.stdout, /^1\.\.\d+$/m, 'the harness ran to its end');
  t.equal(run.status, 0, `exit 0 (${run.status ?? run.signal})\n${failed.length || run.status ? out.slice(-4000) : ''}`);
});
