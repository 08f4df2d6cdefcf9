/**
 * The README's "Using lb4 as a library" example is real: this test takes
 * the code block between its markers, compiles it with tsc against the
 * built package as an npm user gets it (`import ... from 'lb4'`, resolved
 * through package.json `exports` and `types` by a node_modules/lb4 link to
 * the repository), runs it, and checks that it prints exactly the output
 * the README shows. Also: two balancers in one process do not share a
 * custom strategy, and configFrom reports every problem at once.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..', '..');

function block(readme: string, name: string): string {
  const begin = readme.indexOf(`<!-- ${name}:begin`);
  const end = readme.indexOf(`<!-- ${name}:end -->`);
  if (begin < 0 || end < begin) throw new Error(`README.md has no ${name} markers`);
  const m = /```[a-z]*\n([\s\S]*?)```/.exec(readme.slice(begin, end));
  if (!m) throw new Error(`no code block between the ${name} markers`);
  return m[1]!;
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

t.test('the README library example compiles against the package and does what it says', { timeout: 120_000 }, async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const code = block(readme, 'library-example');
  const expected = block(readme, 'library-example-output');
  // inside the repository (under .tap/, ignored) so that tsc finds @types/node up the tree
  mkdirSync(join(root, '.tap'), { recursive: true });
  const dir = mkdtempSync(join(root, '.tap', 'readme-example-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(root, join(dir, 'node_modules', 'lb4'), 'dir');
  writeFileSync(join(dir, 'package.json'), '{"type":"module","private":true}\n');
  writeFileSync(join(dir, 'example.ts'), code);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: ['node'], outDir: 'out' }, files: ['example.ts'] }),
  );
  const tsc = await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], dir, 90_000);
  t.equal(tsc.code, 0, `tsc compiles it against dist/index.d.ts\n${tsc.stdout}${tsc.stderr}`);
  if (tsc.code !== 0) return;
  const r = await run(process.execPath, [join(dir, 'out', 'example.js')], dir, 30_000);
  t.equal(r.code, 0, `it runs and exits by itself\n${r.stderr}`);
  t.equal(r.stdout, expected, 'it prints what the README says');
});

t.test('a custom strategy belongs to one balancer', async (t) => {
  const { configFrom, createBalancer, UsageError } = await import('../../../src/index.js');
  type Factory = import('../../../src/index.js').PickerFactory;
  const first: Factory = { name: 'first', aliases: [], needs: 'none', build: (b) => ({ pick: (_k, a) => a % b.length }) };
  const options = { listen: '127.0.0.1:0', backends: ['127.0.0.1:1'], strategy: 'first', healthCheck: 'off' as const, logLevel: 'silent' as const };
  const config = configFrom(options, { strategies: [first] });
  const one = createBalancer(config, { strategies: [first] });
  t.equal(one.stats().strategy, 'first', 'the balancer given the strategy uses it');
  t.throws(() => createBalancer(config), UsageError, 'another balancer, not given it, refuses the config');
  t.throws(() => configFrom(options), /strategy: unknown strategy "first"/, 'and configFrom without it does not know the name');
  t.throws(() => createBalancer(config, { strategies: [{ ...first, name: 'rr' }] }), /"rr" is already taken by a built-in strategy/);
  t.throws(() => one.reload(configFrom({ ...options, strategy: 'other' }, { strategies: [{ ...first, name: 'other' }] })), UsageError, 'reload checks too');
  t.equal(one.stats().strategy, 'first', 'and changes nothing');
});

t.test('configFrom lists every problem, naming each key', async (t) => {
  const { configFrom, UsageError } = await import('../../../src/index.js');
  try {
    configFrom({ backends: [{ address: '127.0.0.1:1', weight: 2000 }, 'nohost'], retries: -1, workers: 2 } as never);
    t.fail('no error');
  } catch (err) {
    t.ok(err instanceof UsageError);
    const problems = (err as InstanceType<typeof UsageError>).problems;
    t.same(problems, [
      'workers: a command-line setting; the library runs one balancer in this process without a config file',
      'backends[0].weight: invalid weight "2000" (a whole number from 0 to 1000)',
      'backends[1]: invalid address "nohost" (use HOST:PORT)',
      'retries: must be a whole number from 0 to 100, not -1',
    ]);
    t.equal((err as Error).message, problems.join('\n'));
  }
});
