/**
 * The npm package (README "Deploying", "From npm"): `npm pack` builds the
 * TypeScript and a prebuilt native relay into the tarball; `npm i -g` of
 * that tarball on a machine with no compiler (no cc, gcc, g++, make or
 * python3 on PATH) compiles nothing, and the installed `lb4` runs its
 * tunnels on the native relay (`/stats` `relay.mode` is `native`, and an
 * open connection is handed to it).
 *
 * The pack runs in a copy of the repository (prepack rebuilds dist/ and
 * node-gyp rebuilds build/, which the other tests are using here).
 * Slow-ish (a TypeScript build and an install): about 30-60 s.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { echoBackend } from '../../helpers/backends.js';
import { tracked } from '../../helpers/l4-e2e.js';
import { statsUntil, type Json } from '../../helpers/ops.js';

t.setTimeout(300_000);

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const NPM_CLI = join(dirname(process.execPath), '../lib/node_modules/npm/bin/npm-cli.js');
const git = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
const skip =
  process.platform !== 'linux' || process.arch !== 'x64'
    ? `the prebuilt relay is made for linux-x64 (this is ${process.platform}-${process.arch})`
    : git.status !== 0
      ? 'needs git to list the repository files'
      : !existsSync(NPM_CLI)
        ? `npm not found at ${NPM_CLI}`
        : false;

/** The environment without the runner's npm, tap and lb4 variables. */
function cleanEnv(path: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|NODE_OPTIONS$|TAP|_TAPJS|LB_|LB4_|CC$|CXX$|PYTHON$)/i.test(k)) continue;
    env[k] = v;
  }
  env.PATH = path;
  return env;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: still running after ${timeoutMs} ms\n${out}`));
    }, timeoutMs);
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

t.test('npm pack ships a prebuilt relay; npm i -g without a compiler runs it', { skip }, async (t) => {
  const started = Date.now();
  const tmp = mkdtempSync(join(tmpdir(), 'lb4-pack-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

  // a copy of the repository's files, with its node_modules (TypeScript, prebuildify)
  const src = join(tmp, 'src');
  for (const f of git.stdout.split('\0').filter(Boolean)) {
    const from = join(ROOT, f);
    if (!existsSync(from) || !statSync(from).isFile()) continue;
    mkdirSync(dirname(join(src, f)), { recursive: true });
    copyFileSync(from, join(src, f));
    chmodSync(join(src, f), statSync(from).mode);
  }
  symlinkSync(join(ROOT, 'node_modules'), join(src, 'node_modules'));

  const out = join(tmp, 'out');
  mkdirSync(out);
  const packEnv = cleanEnv(process.env.PATH ?? '');
  const pack = await run(process.execPath, [NPM_CLI, 'pack', '--json', '--pack-destination', out], src, packEnv, 180_000);
  t.equal(pack.code, 0, 'npm pack (prepack: build, prebuild) succeeds');
  if (pack.code !== 0) return t.comment(pack.out);
  const packed = (JSON.parse(pack.out.slice(pack.out.indexOf('[')).trim()) as Json[])[0];
  const files: string[] = packed.files.map((f: Json) => f.path);
  t.ok(files.includes('prebuilds/linux-x64/lb4_relay.napi.glibc.node'), 'the tarball holds the prebuilt relay');
  t.ok(files.includes('dist/cli.js') && files.includes('bin/lb4'), 'and the compiled code');
  t.ok(files.includes('LICENSE'), 'and the license');
  t.notOk(files.some((f) => f.startsWith('build/')), 'and no local build/');
  const packSeconds = (Date.now() - started) / 1000;

  // PATH: node and sh (npm runs scripts with it) alone; no cc, gcc, g++, make or python3 to be found
  const bin = join(tmp, 'nocc-bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync('/bin/sh', join(bin, 'sh'));
  for (const tool of ['cc', 'gcc', 'g++', 'c++', 'make', 'python3', 'python']) {
    t.not(spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { env: { PATH: bin } }).status, 0, `${tool} is not on the install's PATH`);
  }
  const prefix = join(tmp, 'prefix');
  const env = cleanEnv(bin);
  const installStarted = Date.now();
  const install = await run(
    process.execPath,
    [NPM_CLI, 'install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', join(out, packed.filename)],
    tmp,
    env,
    180_000,
  );
  t.equal(install.code, 0, 'npm i -g of the tarball succeeds');
  if (install.code !== 0) return t.comment(install.out);
  t.notMatch(install.out, /native relay not built|compiling it/, 'the install compiled nothing');
  const installed = join(prefix, 'lib', 'node_modules', 'lb4');
  t.notOk(existsSync(join(installed, 'build')), 'no build/ in the installed package');
  t.same(readdirSync(join(installed, 'prebuilds', 'linux-x64')), ['lb4_relay.napi.glibc.node']);
  const installSeconds = (Date.now() - installStarted) / 1000;

  // the installed lb4, on the same compiler-less PATH
  const backend = await echoBackend();
  t.teardown(() => backend.close());
  const lb = spawn(join(prefix, 'bin', 'lb4'), ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--backend', backend.address], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let lbOut = '';
  lb.stderr.setEncoding('utf8').on('data', (d: string) => (lbOut += d));
  const exited = new Promise<number | null>((resolve) => lb.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    lb.kill('SIGKILL');
  });
  const ports = await new Promise<{ port: number; admin: number }>((resolve, reject) => {
    let buf = '';
    let port = 0;
    const timer = setTimeout(() => reject(new Error(`installed lb4 not ready after 15 s:\n${buf}\n${lbOut}`)), 15_000);
    lb.stdout.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      for (const line of buf.split('\n')) {
        if (line.includes('"msg":"listening"')) port = (JSON.parse(line) as Json).port;
        if (line.includes('"msg":"admin listening"') && port > 0) {
          clearTimeout(timer);
          resolve({ port, admin: (JSON.parse(line) as Json).port });
        }
      }
    });
    lb.once('exit', (code) => reject(new Error(`installed lb4 exited with ${code}:\n${buf}\n${lbOut}`)));
  });
  const s: Json = await statsUntil(ports.admin, () => true);
  t.equal(s.relay.mode, 'native', `the installed lb4 uses the native relay (${JSON.stringify(s.relay)})`);

  // an open connection is handed to the relay after a second, and still echoes
  const c = await tracked(t, ports.port);
  c.write('ping\n');
  t.equal(await c.readLine(), 'ping');
  await statsUntil(ports.admin, (x) => x.relay.tunnels === 1, 10_000, 'the connection on the relay');
  c.write('pong\n');
  t.equal(await c.readLine(), 'pong', 'bytes flow through the prebuilt relay');
  c.end();
  lb.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM: exit 0');
  t.comment(`npm pack ${packSeconds.toFixed(1)} s, npm i -g ${installSeconds.toFixed(1)} s, total ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
