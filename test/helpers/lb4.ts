/**
 * Runs `bin/lb4` as a user does, for end-to-end tests.
 *
 * `startLb4` spawns `node bin/lb4 ...args`, parses its stdout as JSON lines
 * (docs/reference.md) and resolves once lb4 has logged one `"msg":"listening"`
 * line per listener (and `"msg":"admin listening"` when the admin server is
 * on): that is the contract for "ready". Bind to `127.0.0.1:0` and read the
 * real ports from `ports` / `adminPort`.
 *
 *     const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', b.address]);
 *     const c = await connect(lb.ports[0]!);
 *
 * `runLb4` runs a command that exits by itself (`--help`, `check`, bad flags).
 *
 * LB_* variables of the test runner's environment are not passed on; give
 * them in `opts.env`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository's `bin/lb4`. */
export const LB4_BIN = fileURLToPath(new URL('../../bin/lb4', import.meta.url));

/** A parsed log line (pino JSON). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LogLine = Record<string, any>;

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartOptions {
  /** extra environment variables (the runner's LB_* variables are dropped) */
  env?: Record<string, string>;
  /** `listening` lines to wait for; default: number of listen addresses given, or 1 */
  expectListeners?: number;
  /** wait for `admin listening`; default: true when `--admin` (or LB_ADMIN) is given */
  expectAdmin?: boolean;
  /** how long start-up may take; default 30 s, 60 s with `--workers` or in make test-native-asan (a loaded machine; the cluster forks processes) */
  timeoutMs?: number;
  /** working directory; default the repository root */
  cwd?: string;
  /** run as this uid/gid (the test runner must be root) */
  uid?: number;
  gid?: number;
  /**
   * false: without the test runner's coverage hooks (NODE_OPTIONS), which
   * write to .tap/ at exit: a process that runs as (or switches to) another
   * user cannot
   */
  coverage?: boolean;
  /**
   * run lb4 with this descriptor limit, soft and hard (spawned through
   * `prlimit --nofile=N:N`, which execs: the pid is lb4's)
   */
  nofile?: number;
}

export interface Lb4Process {
  proc: ChildProcess;
  /** the listeners' ports, in the order of their `listening` lines */
  ports: number[];
  /** the admin server's port, with `--admin` */
  adminPort?: number;
  /** the `listening` lines themselves */
  listening: LogLine[];
  /** every parsed JSON line so far (live) */
  logs: LogLine[];
  /** every stdout line so far, JSON or not (live) */
  lines: string[];
  /** stderr so far (live) */
  stderr: string;
  /** stdout so far (live) */
  readonly stdout: string;
  /**
   * The first log line matching `pred`, searching from `logs[since]` (default
   * 0: lines already seen count) and then new lines; rejects after
   * `timeoutMs` (default 15 s) or when lb4 exits first.
   */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs?: number, since?: number): Promise<LogLine>;
  /** log lines matching `pred` so far */
  logsMatching(pred: (l: LogLine) => boolean): LogLine[];
  /** sends a signal (default SIGTERM); false when the process is gone */
  kill(signal?: NodeJS.Signals): boolean;
  /** resolves when the process has exited (and its output is read) */
  exited: Promise<ExitInfo>;
  /** true once the process has exited */
  readonly hasExited: boolean;
  /** SIGTERM, wait up to `graceMs` (default 15 s) for the exit, then SIGKILL */
  stop(graceMs?: number): Promise<ExitInfo>;
}

// Children still running when the test process exits are killed, so a
// crashed test never leaves an lb4 holding a port.
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function register(p: ChildProcess): void {
  running.add(p);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

function childEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('LB_')) env[k] = v;
  }
  // No colours or pretty printing that would break JSON lines.
  env.NO_COLOR = '1';
  // make test-native-asan: lb4 (not the test process) starts with libasan,
  // so that it can load the sanitizer build of the relay (LB4_RELAY_ADDON)
  if (process.env.LB4_TEST_LD_PRELOAD) env.LD_PRELOAD = process.env.LB4_TEST_LD_PRELOAD;
  return { ...env, ...extra };
}

/** Values given to a flag, in both `--flag V` and `--flag=V` forms. */
export function flagValues(args: readonly string[], flag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === flag && i + 1 < args.length) out.push(args[++i]!);
    else if (a.startsWith(`${flag}=`)) out.push(a.slice(flag.length + 1));
  }
  return out;
}

function defaultListeners(args: readonly string[], env: Record<string, string> | undefined): number {
  const n = flagValues(args, '--listen').length;
  if (n > 0) return n;
  const fromEnv = env?.LB_LISTEN?.trim();
  if (fromEnv) return fromEnv.split(/\s+/).length;
  return 1;
}

function tail(s: string, max = 4000): string {
  return s.length > max ? `...${s.slice(-max)}` : s;
}

/** `node bin/lb4 ...args`, or through `env -u NODE_OPTIONS` (same pid: env execs node) without coverage hooks. */
function command(args: string[], coverage = true): [string, string[]] {
  if (coverage) return [process.execPath, [LB4_BIN, ...args]];
  return ['/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, LB4_BIN, ...args]];
}

/** Starts lb4 and resolves when it is ready (see the module doc). */
export function startLb4(args: string[], opts: StartOptions = {}): Promise<Lb4Process> {
  const expectListeners = opts.expectListeners ?? defaultListeners(args, opts.env);
  const expectAdmin =
    opts.expectAdmin ?? (flagValues(args, '--admin').length > 0 || Boolean(opts.env?.LB_ADMIN));
  const cluster = [...flagValues(args, '--workers'), opts.env?.LB_WORKERS ?? ''].some((v) => v !== '' && v !== '1');
  // an lb4 running under AddressSanitizer (make test-native-asan) starts about twice as slowly
  const timeoutMs = opts.timeoutMs ?? (cluster || process.env.LB4_TEST_LD_PRELOAD ? 60_000 : 30_000);
  const cwd = opts.cwd ?? fileURLToPath(new URL('../..', import.meta.url));

  let [cmd, argv] = command(args, opts.coverage);
  if (opts.nofile !== undefined) [cmd, argv] = ['prlimit', [`--nofile=${opts.nofile}:${opts.nofile}`, cmd, ...argv]];
  const proc = spawn(cmd, argv, {
    cwd,
    env: childEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    uid: opts.uid,
    gid: opts.gid,
  });
  register(proc);

  const logs: LogLine[] = [];
  const lines: string[] = [];
  const listening: LogLine[] = [];
  const ports: number[] = [];
  let stdout = '';
  let partial = '';
  let exitInfo: ExitInfo | undefined;
  const onLine: Array<() => void> = [];
  const onExit: Array<() => void> = [];

  const lb: Lb4Process = {
    proc,
    ports,
    adminPort: undefined,
    listening,
    logs,
    lines,
    stderr: '',
    get stdout() {
      return stdout;
    },
    get hasExited() {
      return exitInfo !== undefined;
    },
    exited: undefined as unknown as Promise<ExitInfo>,
    waitForLog(pred, waitMs = 15_000, since = 0) {
      return new Promise<LogLine>((resolve, reject) => {
        let next = since;
        const scan = (): boolean => {
          for (; next < logs.length; next++) {
            const l = logs[next]!;
            if (pred(l)) {
              done();
              resolve(l);
              return true;
            }
          }
          return false;
        };
        const exitCheck = (): void => {
          if (scan()) return;
          done();
          reject(new Error(`lb4 exited (${JSON.stringify(exitInfo)}) before the awaited log line\nstdout:\n${tail(stdout)}\nstderr:\n${tail(lb.stderr)}`));
        };
        const lineCheck = (): void => void scan();
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${waitMs} ms waiting for a log line\nstdout:\n${tail(stdout)}\nstderr:\n${tail(lb.stderr)}`));
        }, waitMs);
        const done = (): void => {
          clearTimeout(timer);
          const i = onLine.indexOf(lineCheck);
          if (i !== -1) onLine.splice(i, 1);
          const j = onExit.indexOf(exitCheck);
          if (j !== -1) onExit.splice(j, 1);
        };
        onLine.push(lineCheck);
        onExit.push(exitCheck);
        if (scan()) return;
        if (exitInfo) exitCheck();
      });
    },
    logsMatching(pred) {
      return logs.filter(pred);
    },
    kill(signal = 'SIGTERM') {
      if (exitInfo) return false;
      return proc.kill(signal);
    },
    async stop(graceMs = 15_000) {
      if (exitInfo) return exitInfo;
      proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          if (!exitInfo) proc.kill('SIGKILL');
          resolve();
        }, graceMs);
      });
      await Promise.race([lb.exited, killed]);
      clearTimeout(timer);
      return lb.exited;
    },
  };

  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    stdout += chunk;
    partial += chunk;
    let i: number;
    while ((i = partial.indexOf('\n')) !== -1) {
      const line = partial.slice(0, i).replace(/\r$/, '');
      partial = partial.slice(i + 1);
      handleLine(line);
    }
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (chunk: string) => {
    lb.stderr += chunk;
  });

  function handleLine(line: string): void {
    lines.push(line);
    if (line.startsWith('{')) {
      try {
        const l = JSON.parse(line) as unknown;
        if (l && typeof l === 'object' && !Array.isArray(l)) {
          const log = l as LogLine;
          logs.push(log);
          if (log.msg === 'listening') {
            listening.push(log);
            if (typeof log.port === 'number') ports.push(log.port);
          } else if (log.msg === 'admin listening' && typeof log.port === 'number') {
            lb.adminPort = log.port;
          }
        }
      } catch {
        // not JSON: kept in `lines` only
      }
    }
    for (const f of onLine.slice()) f();
  }

  lb.exited = new Promise<ExitInfo>((resolve) => {
    let code: number | null = null;
    let signal: NodeJS.Signals | null = null;
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      if (partial) {
        handleLine(partial);
        partial = '';
      }
      exitInfo = { code, signal };
      running.delete(proc);
      for (const f of onExit.slice()) f();
      resolve(exitInfo);
    };
    proc.once('exit', (c, s) => {
      code = c;
      signal = s;
      // 'close' follows once stdout/stderr are drained; don't wait forever
      // if a grandchild still holds the pipes.
      setTimeout(settle, 1_000).unref();
    });
    proc.once('close', (c, s) => {
      code = c ?? code;
      signal = s ?? signal;
      settle();
    });
    proc.once('error', () => settle());
  });

  return new Promise<Lb4Process>((resolve, reject) => {
    let spawnError: Error | undefined;
    proc.once('error', (e) => (spawnError = e));
    const ready = (): boolean => listening.length >= expectListeners && (!expectAdmin || lb.adminPort !== undefined);
    const describe = (why: string): Error =>
      new Error(
        `lb4 ${args.join(' ')}: ${why}` +
          (spawnError ? `\nspawn error: ${spawnError.message}` : '') +
          `\nstdout:\n${tail(stdout)}\nstderr:\n${tail(lb.stderr)}`,
      );
    const check = (): void => {
      if (!ready()) return;
      finish();
      resolve(lb);
    };
    const exitCheck = (): void => {
      finish();
      reject(describe(`exited before ready (code ${exitInfo?.code}, signal ${exitInfo?.signal})`));
    };
    const timer = setTimeout(() => {
      finish();
      proc.kill('SIGKILL');
      reject(
        describe(
          `not ready after ${timeoutMs} ms (saw ${listening.length}/${expectListeners} listening line(s)` +
            `${expectAdmin ? `, admin ${lb.adminPort === undefined ? 'not ' : ''}listening` : ''})`,
        ),
      );
    }, timeoutMs);
    const finish = (): void => {
      clearTimeout(timer);
      const i = onLine.indexOf(check);
      if (i !== -1) onLine.splice(i, 1);
      const j = onExit.indexOf(exitCheck);
      if (j !== -1) onExit.splice(j, 1);
    };
    onLine.push(check);
    onExit.push(exitCheck);
  });
}

/** The minimum of a tap test that `withLb4` needs. */
export interface TeardownHost {
  teardown(fn: () => unknown): void;
}

/** `startLb4`, with `t.teardown(() => lb.stop())` registered. */
export async function withLb4(t: TeardownHost, args: string[], opts?: StartOptions): Promise<Lb4Process> {
  const lb = await startLb4(args, opts);
  t.teardown(() => lb.stop());
  return lb;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** default 30 s; the process is killed after it */
  timeoutMs?: number;
  /** written to stdin, then stdin is closed */
  input?: string | Buffer;
  cwd?: string;
  /** run as this uid/gid (the test runner must be root) */
  uid?: number;
  gid?: number;
  /**
   * false: without the test runner's coverage hooks (NODE_OPTIONS), which
   * write to .tap/ at exit: a process that runs as (or switches to) another
   * user cannot
   */
  coverage?: boolean;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `bin/lb4 ...args` to completion (`--help`, `--version`, `check`, usage errors). */
export function runLb4(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return new Promise<RunResult>((resolve, reject) => {
    const [cmd, argv] = command(args, opts.coverage);
    const proc = spawn(cmd, argv, {
      cwd: opts.cwd ?? fileURLToPath(new URL('../..', import.meta.url)),
      env: childEnv(opts.env),
      stdio: ['pipe', 'pipe', 'pipe'],
      uid: opts.uid,
      gid: opts.gid,
    });
    register(proc);
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    proc.stdin.on('error', () => {});
    proc.stdin.end(opts.input);
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`lb4 ${args.join(' ')}: still running after ${timeoutMs} ms\nstdout:\n${tail(stdout)}\nstderr:\n${tail(stderr)}`));
    }, timeoutMs);
    proc.once('error', (e) => {
      clearTimeout(timer);
      running.delete(proc);
      reject(e);
    });
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(proc);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Writes `lines` (a YAML config) to a file in a temporary folder removed at
 * the test's teardown; returns the file's path for `--config`.
 */
export function configFile(t: TeardownHost, lines: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'lb4-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'lb4.yaml');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}
