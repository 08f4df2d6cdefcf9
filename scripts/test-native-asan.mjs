#!/usr/bin/env node
// make test-native-asan: the relay's tests against the sanitizer build of
// the addon (build-asan/lb4_relay.node, make native-asan).
//
// Every process that loads the addon (each bin/lb4 the tests start, with its
// --workers children, and the addon check of test/unit/relay-addon.test.ts)
// starts with libasan preloaded (an ASan-built addon loads only into such a
// process; test/helpers/lb4.ts reads LB4_TEST_LD_PRELOAD) and with
// LB4_RELAY_ADDON naming the sanitizer build. tap and the test files run
// without it (they never load the addon; ASan would only slow them down).
// Reports go to files in a temporary directory, read once tap is done. The
// run fails when:
// - tap fails (a relay test fails, or an lb4 aborted on an ASan or UBSan
//   error: both are fatal in this build);
// - any AddressSanitizer or UBSan error was reported, by any process;
// - a LeakSanitizer report was allocated by the relay: its first frame past
//   the allocator (and libc) is in lb4_relay.node or native/relay-*.c.
//   Node itself leaves memory behind at exit (V8, by design), some of it
//   allocated by JavaScript the relay's callback runs: those reports are
//   counted, not failed.
// Arguments: test files to run instead of the default list.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const addon = join(root, 'build-asan/lb4_relay.node');
const files = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [
  'test/unit/relay-addon.test.ts',
  'test/integration/l4/relay.test.ts',
  'test/integration/l4/relay-stress.test.ts',
  'test/integration/l4/relay-ops.test.ts',
];

function fail(msg) {
  console.error(`test-native-asan: ${msg}`);
  process.exit(1);
}

if (!existsSync(addon)) fail(`${addon} is missing (make native-asan)`);
const cc = process.env.CC || 'cc';
const found = spawnSync(cc, ['-print-file-name=libasan.so'], { encoding: 'utf8' });
const libasan = found.status === 0 ? found.stdout.trim() : '';
if (!libasan.startsWith('/') || !existsSync(libasan)) fail(`${cc} knows no libasan.so (Debian: apt-get install gcc, which brings libasan8)`);

const logs = mkdtempSync(join(tmpdir(), 'lb4-asan-'));
const env = {
  ...process.env,
  LB4_TEST_LD_PRELOAD: libasan,
  LB4_RELAY_ADDON: addon,
  // abort_on_error: an error kills the process (so its test fails too);
  // exitcode=0: Node's own leaks at exit do not change exit codes (read below instead);
  // malloc_context_size=8: enough to name who allocated, and it keeps the
  // leak check at exit near a second (30 frames per allocation of all of
  // Node's: 15 s per exit)
  ASAN_OPTIONS: `detect_leaks=1:abort_on_error=1:exitcode=0:malloc_context_size=8:handle_segv=1:allow_user_segv_handler=1:log_path=${join(logs, 'asan')}`,
  UBSAN_OPTIONS: `print_stacktrace=1:halt_on_error=1:abort_on_error=1:log_path=${join(logs, 'ubsan')}`,
};
const started = Date.now();
// tap in a process group of its own: an lb4 left behind by a test that tap
// killed (its timeout) is ended with the group once tap is done
const child = spawn('npx', ['tap', '--disable-coverage', '--jobs=2', ...files], { cwd: root, env, stdio: 'inherit', detached: true });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.kill(-child.pid, sig)); // Ctrl-C still reaches it
const tap = await new Promise((resolve) => child.on('exit', (status, signal) => resolve({ status, signal })));
try {
  process.kill(-child.pid, 'SIGKILL');
} catch {
  // ESRCH: nothing left in the group
}

const relayFrame = /lb4_relay\.node|native\/relay-[a-z]+\.c/;
const runtimeFrame = /libsanitizer|\/libasan\.so|\/libubsan\.so|\/libc\.so|\/libstdc\+\+\.so|\/ld-linux/;

/** The leak's allocation site: the first frame past the allocator and libc is the relay's. */
function allocatedByRelay(block) {
  for (const line of block.split('\n')) {
    if (!/^\s*#\d+ /.test(line) || runtimeFrame.test(line)) continue;
    return relayFrame.test(line);
  }
  return false;
}
const problems = [];
let nodeLeaks = 0;
let processes = 0;
for (const name of readdirSync(logs)) {
  processes++;
  const text = readFileSync(join(logs, name), 'utf8');
  if (/ERROR: AddressSanitizer/.test(text) || /runtime error:/.test(text)) problems.push(`${name}:\n${text}`);
  // leak reports: one block per leak, "Direct leak of ..." up to the blank line
  for (const block of text.split(/\n(?=(?:Direct|Indirect) leak of )/)) {
    if (!/^(?:Direct|Indirect) leak of /.test(block)) continue;
    if (allocatedByRelay(block)) problems.push(`${name}: a leak from the relay:\n${block.split('\n\n')[0]}`);
    else nodeLeaks++;
  }
}
rmSync(logs, { recursive: true, force: true });
const secs = ((Date.now() - started) / 1000).toFixed(1);
for (const p of problems) console.error(p);
console.error(`test-native-asan: ${processes} process report(s), ${nodeLeaks} leak(s) of Node itself ignored, ${problems.length} relay problem(s); tap exit ${tap.status ?? tap.signal}; ${secs} s`);
if (tap.status !== 0) fail('tap failed');
if (problems.length > 0) fail('sanitizer reports above');
console.error('test-native-asan: ok');
