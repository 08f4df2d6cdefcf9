#!/usr/bin/env node
// lb4's container health check (the image's HEALTHCHECK; README "Deploying").
//
// The rule: when lb4 has an admin listener (--admin, LB_ADMIN, or admin: in
// its --config file, in that order), GET /health on it must answer 200
// within 3 s: no backend up (503 "down"), draining (503 "draining") or no
// answer make it unhealthy. An admin address on 0.0.0.0 or :: is asked on
// the loopback. Without an admin listener there is nothing to ask: healthy
// while lb4 runs.
//
// lb4's settings are read from the lb4 process itself: its arguments from
// /proc/PID/cmdline and its environment from /proc/PID/environ (or this
// process's, which in a container is the same). The process is the one
// given as the first argument, else the oldest one running bin/lb4 that is
// not a --workers worker (PID 1, or the child of an init such as tini).
// Exit 0 healthy, 1 unhealthy; one line on stdout says why.
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';

function fail(why) {
  console.log(`unhealthy: ${why}`);
  process.exit(1);
}

function readNul(path) {
  return readFileSync(path, 'utf8').split('\0').filter((s, i, a) => s.length > 0 || i < a.length - 1);
}

/** lb4's own arguments in a command line (after the bin/lb4 script), or null when it is not lb4. */
function lb4Args(cmdline) {
  const i = cmdline.findIndex((a, j) => j <= 1 && /(^|\/)lb4$/.test(a));
  return i === -1 ? null : cmdline.slice(i + 1);
}

function environOf(pid) {
  try {
    const env = {};
    for (const kv of readNul(`/proc/${pid}/environ`)) {
      const eq = kv.indexOf('=');
      if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    return env;
  } catch {
    return process.env;
  }
}

function findLb4() {
  const given = process.argv[2];
  const pids = given ? [Number(given)] : readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number).sort((a, b) => a - b);
  for (const pid of pids) {
    if (pid === process.pid) continue;
    let args;
    try {
      args = lb4Args(readNul(`/proc/${pid}/cmdline`));
    } catch {
      continue;
    }
    if (args === null || args[0] === 'check') continue;
    const env = environOf(pid);
    if (env.NODE_UNIQUE_ID !== undefined) continue; // a --workers worker
    return { pid, args, env };
  }
  return null;
}

/** The last value of `--flag V` / `--flag=V` (commander keeps the last one). */
function flag(args, name) {
  let v;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name && i + 1 < args.length) v = args[++i];
    else if (args[i].startsWith(`${name}=`)) v = args[i].slice(name.length + 1);
  }
  return v;
}

async function adminSetting(args, env) {
  const cli = flag(args, '--admin');
  if (cli !== undefined) return cli;
  if (env.LB_ADMIN) return env.LB_ADMIN;
  const file = flag(args, '--config') ?? (env.LB_CONFIG || undefined);
  if (file === undefined) return undefined;
  const { parse } = await import('yaml');
  let doc;
  try {
    doc = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    fail(`cannot read lb4's --config ${file}: ${err.code ?? err.message}`);
  }
  const v = doc && typeof doc === 'object' ? doc.admin : undefined;
  return v === undefined || v === null ? undefined : String(v);
}

/** PORT, HOST:PORT or [V6]:PORT, as lb4 reads --admin (default host 127.0.0.1); wildcards become the loopback. */
function target(addr) {
  let host = '127.0.0.1';
  let port = addr;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(addr);
  if (v6) [, host, port] = v6;
  else if (addr.includes(':')) [host, port] = [addr.slice(0, addr.lastIndexOf(':')), addr.slice(addr.lastIndexOf(':') + 1)];
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return { host, port: Number(port) };
}

const lb4 = findLb4();
if (lb4 === null) fail('no lb4 process found');
const admin = await adminSetting(lb4.args, lb4.env);
if (admin === undefined) {
  console.log(`healthy: lb4 runs (pid ${lb4.pid}); no admin listener to ask`);
  process.exit(0);
}
const { host, port } = target(admin);
if (!Number.isInteger(port) || port <= 0 || port > 65535) fail(`cannot use admin address "${admin}" (port 0 or invalid)`);
const req = request({ host, port, path: '/health', timeout: 3000 }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (d) => (body += d));
  res.on('end', () => {
    if (res.statusCode === 200) {
      console.log(`healthy: /health ${res.statusCode} ${body.trim()}`);
      process.exit(0);
    }
    fail(`/health ${res.statusCode} ${body.trim()}`);
  });
});
req.on('timeout', () => req.destroy(new Error('no answer in 3 s')));
req.on('error', (err) => fail(`http://${host.includes(':') ? `[${host}]` : host}:${port}/health: ${err.message}`));
req.end();
