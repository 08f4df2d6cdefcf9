/**
 * The container image (README "Deploying", "Container image"), built and
 * run for real: `docker build` of the repository's Dockerfile, then the
 * image in front of a backend on this machine, with `--network host` only
 * (every address is 127.0.0.1; no bridge network is used or needed):
 * traffic flows, lb4 is PID 1 and runs as the image's non-root user, the
 * runtime stage holds no compiler, the HEALTHCHECK turns healthy, and
 * `docker stop` drains (an open connection lives on until it ends, then
 * lb4 exits 0).
 *
 * No container registry is needed: the base image is a local one made by
 * scripts/docker-local-base.sh (a minimal Debian from the Debian mirror with
 * this machine's Node.js), kept under its tag so it is made once per
 * machine; LB4_DOCKER_BASE=IMAGE uses that image instead (for example
 * node:20-bookworm-slim where a registry is reachable). The lb4 image is
 * rebuilt each run on the Docker cache (one tag per checkout; the image it
 * replaces is removed).
 *
 * Skipped, with the reason, when the Docker engine does not answer (.ci/run
 * starts one: dockerd --bridge=none --iptables=false) or when there is
 * neither LB4_DOCKER_BASE nor the local base image nor mmdebstrap to make
 * it. Timings are printed as test comments.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { closedPort, freePrivilegedPort, namedBackend } from '../../helpers/backends.js';
import { nameOf, tracked } from '../../helpers/l4-e2e.js';
import { sleep, stats, type Json } from '../../helpers/ops.js';

t.setTimeout(1_500_000);

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const NODE_VERSION = process.versions.node;
/** One image tag per checkout, so that two checkouts on one machine do not race on a tag. */
const IMAGE = `lb4-test:${createHash('sha256').update(ROOT).digest('hex').slice(0, 12)}`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + err.message });
    });
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const docker = (args: string[], timeoutMs = 60_000): Promise<Run> => run('docker', args, timeoutMs);
const firstLine = (s: string): string => s.trim().split('\n').find((l) => l.trim().length > 0) ?? '';

/** Why the test cannot run here, or false. */
async function whyNot(): Promise<string | false> {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  const info = await docker(['info', '--format', '{{.ServerVersion}}'], 20_000);
  if (info.code !== 0) return `no Docker engine answers (docker info: ${firstLine(info.stderr || info.stdout) || `exit ${info.code}`}); .ci/run installs docker.io and starts dockerd --bridge=none --iptables=false`;
  if (process.env.LB4_DOCKER_BASE) return false;
  if ((await docker(['image', 'inspect', `lb4-local-base:node${NODE_VERSION}`])).code === 0) return false;
  if (spawnSync('sh', ['-c', 'command -v mmdebstrap']).status !== 0) return 'no base image: set LB4_DOCKER_BASE=IMAGE, or install mmdebstrap to make a local one (scripts/docker-local-base.sh)';
  return false;
}

const skip = await whyNot();

/** `docker logs -f` of a container, as parsed JSON lines. */
function follow(name: string): { lines: Json[]; waitFor(pred: (l: Json) => boolean, ms: number, what: string): Promise<Json>; stop(): void } {
  const lines: Json[] = [];
  const waiters: Array<() => void> = [];
  const p = spawn('docker', ['logs', '-f', name], { stdio: ['ignore', 'pipe', 'pipe'] });
  let partial = '';
  const onData = (d: string): void => {
    partial += d;
    let i: number;
    while ((i = partial.indexOf('\n')) !== -1) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      try {
        lines.push(JSON.parse(line));
      } catch {
        lines.push({ text: line });
      }
    }
    for (const w of waiters.slice()) w();
  };
  p.stdout.setEncoding('utf8').on('data', onData);
  p.stderr.setEncoding('utf8').on('data', onData);
  return {
    lines,
    waitFor(pred, ms, what) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const hit = lines.find(pred);
          if (!hit) return;
          done();
          resolve(hit);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${ms} ms waiting for ${what}; logs:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`));
        }, ms);
        const done = (): void => {
          clearTimeout(timer);
          const i = waiters.indexOf(check);
          if (i !== -1) waiters.splice(i, 1);
        };
        waiters.push(check);
        check();
      });
    },
    stop() {
      p.kill('SIGKILL');
    },
  };
}

async function inspect(name: string, format: string): Promise<string> {
  const r = await docker(['inspect', '--format', format, name]);
  if (r.code !== 0) throw new Error(`docker inspect ${name}: ${r.stderr}`);
  return r.stdout.trim();
}

t.test('the image builds, serves, reports healthy, and drains on docker stop', { skip }, async (t) => {
  const timings: string[] = [];
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    const v = await fn();
    timings.push(`${what} ${((Date.now() - start) / 1000).toFixed(1)} s`);
    return v;
  };
  t.teardown(() => t.comment(`timings: ${timings.join(', ')}`));

  let base = process.env.LB4_DOCKER_BASE ?? '';
  if (!base) {
    const made = await timed('base image', () => run('bash', [`${ROOT}/scripts/docker-local-base.sh`], 900_000));
    t.equal(made.code, 0, 'the local base image is there (scripts/docker-local-base.sh)');
    if (made.code !== 0) return t.comment(made.stderr);
    base = made.stdout.trim().split('\n').pop()!.trim();
  }

  const before = await docker(['image', 'inspect', '--format', '{{.Id}}', IMAGE]);
  const build = await timed('docker build', () => docker(['build', '--network', 'host', '--force-rm', '--build-arg', `BASE=${base}`, '-t', IMAGE, ROOT], 1_200_000));
  t.equal(build.code, 0, `docker build --build-arg BASE=${base}`);
  if (build.code !== 0) return t.comment(`${build.stdout.slice(-4000)}\n${build.stderr.slice(-4000)}`);
  const id = (await docker(['image', 'inspect', '--format', '{{.Id}}', IMAGE])).stdout.trim();
  if (before.code === 0 && before.stdout.trim() !== id) await docker(['rmi', before.stdout.trim()]);

  const config = JSON.parse(await inspect(IMAGE, '{{json .Config}}')) as Json;
  t.equal(config.User, '10001:10001', 'runs as a non-root user (numeric, for runAsNonRoot)');
  t.same(config.Entrypoint, ['/app/bin/lb4'], 'ENTRYPOINT is bin/lb4 in exec form');
  t.equal(config.StopSignal, 'SIGTERM');
  t.match(config.Healthcheck?.Test?.join(' '), /healthcheck\.mjs/, 'HEALTHCHECK runs deploy/healthcheck.mjs');
  const compilers = await docker(['run', '--rm', '--network', 'host', '--entrypoint', '/bin/sh', IMAGE, '-c', 'for c in cc gcc g++ c++ make python3; do command -v $c; done; true']);
  t.equal(compilers.code, 0);
  t.equal(compilers.stdout.trim(), '', 'the runtime stage holds no compiler (cc, gcc, g++, make, python3)');

  // lb4 in the image, in front of a backend on this machine
  const a = await namedBackend('a');
  t.teardown(() => a.close());
  const adminPort = await closedPort();
  const name = `lb4-test-${process.pid}-${Date.now()}`;
  const started = await docker([
    'run', '--detach', '--name', name, '--network', 'host', '--health-interval', '1s', '--health-retries', '3',
    IMAGE, '--listen', '127.0.0.1:0', '--admin', `127.0.0.1:${adminPort}`, '--backend', `${a.address},name=a`,
    '--health-interval', '200ms', '--drain-timeout', '30s',
  ]);
  t.equal(started.code, 0, `docker run: ${started.stderr.trim()}`);
  t.teardown(async () => {
    await docker(['rm', '--force', name]);
  });
  const logs = follow(name);
  t.teardown(() => logs.stop());
  const listening = await logs.waitFor((l) => l.msg === 'listening', 30_000, 'the listening line');
  await logs.waitFor((l) => l.msg === 'admin listening', 10_000, 'the admin listening line');
  t.equal(listening.pid, 1, 'lb4 is PID 1 in the container (exec form: it gets the signals)');
  const port = listening.port as number;

  for (let i = 0; i < 3; i++) t.equal(await nameOf(port), 'a', 'traffic flows through the container');
  const hostPid = Number(await inspect(name, '{{.State.Pid}}'));
  t.match(readFileSync(`/proc/${hostPid}/status`, 'utf8'), /^Uid:\s+10001\s+10001\s+10001\s+10001$/m, 'lb4 runs as uid 10001');
  const s: Json = await stats(adminPort);
  t.equal(s.relay.mode, 'native', 'the native relay compiled in the build stage is used');

  const healthStart = Date.now();
  let health = '';
  while (Date.now() - healthStart < 60_000) {
    health = await inspect(name, '{{.State.Health.Status}}');
    if (health === 'healthy') break;
    await sleep(250);
  }
  t.equal(health, 'healthy', 'the HEALTHCHECK turns healthy');
  timings.push(`healthy after ${((Date.now() - healthStart) / 1000).toFixed(1)} s`);
  const healthLog = JSON.parse(await inspect(name, '{{json .State.Health.Log}}')) as Json[];
  t.match(healthLog.at(-1)?.Output, /\/health 200/, 'it asked /health on the admin listener');

  // docker stop: SIGTERM, lb4 drains the open connection, then exits 0
  const c = await tracked(t, port);
  t.equal(await c.readLine(), 'a');
  const stopStart = Date.now();
  const stopping = docker(['stop', '--time', '60', name], 90_000);
  await logs.waitFor((l) => l.msg === 'draining', 20_000, 'the draining line');
  t.match(logs.lines.find((l) => l.msg === 'shutting down'), { signal: 'SIGTERM' }, 'lb4 got the SIGTERM of docker stop');
  t.match(logs.lines.find((l) => l.msg === 'draining'), { connections: 1 }, 'with one open connection');
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  t.equal(refused, 'ECONNREFUSED', 'new connections are refused while draining');
  await sleep(1500);
  t.equal(await inspect(name, '{{.State.Running}}'), 'true', 'lb4 keeps running while the connection is open');
  c.write('still here\n');
  t.equal(await c.readLine(), 'still here', 'the open connection still carries bytes during the drain');
  c.end();
  await c.readUntilEnd(10_000);
  const stopped = await stopping;
  t.equal(stopped.code, 0, 'docker stop returns');
  const stopSeconds = (Date.now() - stopStart) / 1000;
  t.ok(stopSeconds < 30, `docker stop took ${stopSeconds.toFixed(1)} s: lb4 exited when the connection ended, not at a timeout`);
  timings.push(`docker stop ${stopSeconds.toFixed(1)} s`);
  t.equal(await inspect(name, '{{.State.ExitCode}}'), '0', 'lb4 exited 0 after the drain');
  await logs.waitFor((l) => l.msg === 'stopped', 10_000, 'the stopped line');

  // started as root in the container, lb4 binds a port below 1024, then runs as lb4 (--user)
  const low = await freePrivilegedPort();
  if (low === null) throw new Error('no free port in 900..1023 on 127.0.0.1');
  const rootName = `${name}-root`;
  const rootRun = await docker(['run', '--detach', '--name', rootName, '--network', 'host', '--user', '0', IMAGE, '--listen', `127.0.0.1:${low}`, '--backend', `${a.address},name=a`, '--user', 'lb4']);
  t.equal(rootRun.code, 0, `docker run --user 0: ${rootRun.stderr.trim()}`);
  t.teardown(async () => {
    await docker(['rm', '--force', rootName]);
  });
  const rootLogs = follow(rootName);
  t.teardown(() => rootLogs.stop());
  await rootLogs.waitFor((l) => l.msg === 'listening', 30_000, 'the listening line');
  t.match(rootLogs.lines.find((l) => l.msg === 'running as'), { user: 'lb4', uid: 10001, gid: 10001 }, '--user lb4: running as uid 10001');
  t.equal(await nameOf(low), 'a', `traffic through port ${low}, bound before the switch`);
  const rootPid = Number(await inspect(rootName, '{{.State.Pid}}'));
  t.match(readFileSync(`/proc/${rootPid}/status`, 'utf8'), /^Uid:\s+10001\s+10001\s+10001\s+10001$/m, 'no longer root');
});
