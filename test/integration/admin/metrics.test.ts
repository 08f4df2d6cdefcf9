/**
 * `GET /metrics` end to end (docs/reference.md, "Admin API", README "Operating lb4"): the
 * exposition parses as Prometheus text under a strict parser written here,
 * and the counters move by exactly what real traffic through `bin/lb4` did.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { closedPort, httpBackend, namedBackend, type NamedBackend } from '../../helpers/backends.js';
import { connect, request } from '../../helpers/clients.js';
import { getJson, post } from '../../helpers/admin.js';
import { withLb4 } from '../../helpers/lb4.js';

// ---- a strict parser of the Prometheus text format 0.0.4 ----

type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s: string, where: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  // Prometheus reads values with Go's strconv.ParseFloat, which takes NaN in
  // any case; prom-client writes `Nan` (e.g. an event-loop-lag mean before
  // the first sample), so the case is not held against it.
  if (s.toLowerCase() === 'nan') return NaN;
  if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`${where}: value ${JSON.stringify(s)} is not a number`);
  return Number(s);
}

/** `{a="x",b="y"}` starting at `i`: returns the labels and the index after `}`. */
function parseLabels(line: string, i: number, where: string): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++; // '{'
  for (;;) {
    if (line[i] === '}') return [labels, i + 1];
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
    if (!m) throw new Error(`${where}: bad label name at ${i}`);
    const key = m[0];
    i += key.length;
    if (line[i] !== '=' || line[i + 1] !== '"') throw new Error(`${where}: expected =" after label ${key}`);
    i += 2;
    let v = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) throw new Error(`${where}: unterminated label value`);
      if (c === '"') break;
      if (c === '\\') {
        const n = line[i + 1];
        if (n === '\\') v += '\\';
        else if (n === '"') v += '"';
        else if (n === 'n') v += '\n';
        else throw new Error(`${where}: bad escape \\${n}`);
        i += 2;
        continue;
      }
      v += c;
      i++;
    }
    i++; // closing quote
    if (key in labels) throw new Error(`${where}: duplicate label ${key}`);
    labels[key] = v;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') throw new Error(`${where}: expected , or } after label ${key}`);
  }
}

/** The family a sample name belongs to, given the declared families. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(name);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return f;
  }
  return undefined;
}

function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const helped = new Set<string>();
  const series = new Set<string>();
  let current: Family | null = null;
  const closed = new Set<string>();
  if (!text.endsWith('\n')) throw new Error('exposition does not end with a newline');
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, n) => {
    const where = `line ${n + 1} ${JSON.stringify(line.slice(0, 120))}`;
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) throw new Error(`${where}: a comment that is neither HELP nor TYPE`);
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
      if (kind === 'HELP') {
        if (helped.has(name)) throw new Error(`${where}: second HELP for ${name}`);
        helped.add(name);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`${where}: bad escape in HELP`);
        const f = families.get(name);
        if (f) f.help = rest;
        else families.set(name, { name, type: 'untyped', help: rest, samples: [] });
        return;
      }
      if (!TYPES.has(rest)) throw new Error(`${where}: unknown type ${rest}`);
      const f = families.get(name);
      if (f && (f.samples.length > 0 || f.type !== 'untyped')) throw new Error(`${where}: TYPE for ${name} after its samples or twice`);
      if (f) f.type = rest as MetricType;
      else families.set(name, { name, type: rest as MetricType, help: '', samples: [] });
      return;
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) throw new Error(`${where}: bad sample name`);
    const name = nm[0];
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i, where);
    if (line[i] !== ' ') throw new Error(`${where}: expected a space before the value`);
    const parts = line.slice(i + 1).split(' ');
    if (parts.length < 1 || parts.length > 2) throw new Error(`${where}: expected "value [timestamp]"`);
    const value = parseValue(parts[0]!, where);
    if (parts.length === 2 && !/^-?\d+$/.test(parts[1]!)) throw new Error(`${where}: bad timestamp`);
    const f = familyOf(name, families);
    if (!f) throw new Error(`${where}: sample ${name} of an undeclared metric family`);
    if (f.type === 'untyped' && !helped.has(f.name)) throw new Error(`${where}: family ${f.name} has no TYPE`);
    if (current !== f) {
      if (closed.has(f.name)) throw new Error(`${where}: samples of ${f.name} are not contiguous`);
      if (current) closed.add(current.name);
      current = f;
    }
    for (const k of Object.keys(labels)) if (!LABEL.test(k)) throw new Error(`${where}: bad label name ${k}`);
    const key = `${name}{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(',')}}`;
    if (series.has(key)) throw new Error(`${where}: duplicate series ${key}`);
    series.add(key);
    if (f.type === 'counter' && !(value >= 0)) throw new Error(`${where}: counter value ${value} is not >= 0`);
    if (f.type === 'histogram' && name.endsWith('_bucket') && !('le' in labels)) throw new Error(`${where}: bucket without le`);
    f.samples.push({ name, labels, value });
  });
  // histograms: buckets cumulative, +Inf bucket == count
  for (const f of families.values()) {
    if (f.type !== 'histogram') continue;
    const groups = new Map<string, Sample[]>();
    for (const s of f.samples) {
      const { le: _le, ...rest } = s.labels;
      const k = JSON.stringify(Object.entries(rest).sort());
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k)!.push(s);
    }
    for (const [k, ss] of groups) {
      const buckets = ss.filter((s) => s.name === `${f.name}_bucket`);
      const count = ss.find((s) => s.name === `${f.name}_count`);
      if (!count || !ss.find((s) => s.name === `${f.name}_sum`)) throw new Error(`${f.name}${k}: no _sum or _count`);
      let last = -Infinity;
      let prevCount = 0;
      for (const b of buckets) {
        const le = parseValue(b.labels.le!, f.name);
        if (!(le > last)) throw new Error(`${f.name}${k}: buckets not in increasing le`);
        if (b.value < prevCount) throw new Error(`${f.name}${k}: buckets not cumulative`);
        last = le;
        prevCount = b.value;
      }
      if (last !== Infinity || prevCount !== count.value) throw new Error(`${f.name}${k}: no +Inf bucket equal to _count`);
    }
  }
  return families;
}

// ---- helpers ----

interface Scrape {
  families: Map<string, Family>;
  /** value of the one sample of `name` whose labels include `labels`; throws when none or several */
  v(name: string, labels?: Record<string, string>): number;
}

async function scrape(port: number): Promise<Scrape> {
  const r = await getJson(port, '/metrics');
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  const families = parseExposition(r.body);
  return {
    families,
    v(name, labels = {}) {
      const f = familyOf(name, families);
      if (!f) throw new Error(`no metric ${name}`);
      const hits = f.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
      if (hits.length !== 1) throw new Error(`${name}${JSON.stringify(labels)}: ${hits.length} samples`);
      return hits[0]!.value;
    },
  };
}

/** Scrape until `pred` holds (bounded). */
async function scrapeUntil(port: number, pred: (s: Scrape) => boolean, what: string, timeoutMs = 15_000): Promise<Scrape> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await scrape(port);
    if (pred(s)) return s;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One connection through lb4: read the backend's name line, send `payload`, read its echo, end, wait for the close. */
async function roundTrip(port: number, payload: Buffer): Promise<string> {
  const c = await connect(port);
  try {
    const name = await c.readLine();
    c.write(payload);
    const echoed = await c.readBytes(payload.length);
    if (!echoed.equals(payload)) throw new Error('echo differs');
    c.end();
    await c.readUntilEnd();
    await c.waitClose();
    return name;
  } finally {
    c.destroy();
  }
}

async function named(t: { teardown(fn: () => unknown): void }, ...names: string[]): Promise<NamedBackend[]> {
  const bs = await Promise.all(names.map((n) => namedBackend(n)));
  for (const b of bs) t.teardown(() => b.close());
  return bs;
}

// ---- tests ----

t.test('the exposition parses strictly and declares every lb4 metric', async (t) => {
  const [a] = await named(t, 'a');
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', `${a!.address},name=a,weight=3`, '--admin', '127.0.0.1:0', '--health-interval', '100ms']);
  const r = await getJson(lb.adminPort!, '/metrics');
  t.equal(r.status, 200);
  t.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4; charset=utf-8$/, 'content type from the registry');
  const families = parseExposition(r.body);
  const expect: Record<string, MetricType> = {
    lb4_backend_state: 'gauge',
    lb4_backend_active_sessions: 'gauge',
    lb4_backend_sessions_total: 'counter',
    lb4_backend_connect_failures_total: 'counter',
    lb4_backend_bytes_in_total: 'counter',
    lb4_backend_bytes_out_total: 'counter',
    lb4_backend_weight: 'gauge',
    lb4_backend_effective_weight: 'gauge',
    lb4_backend_health_check_up: 'gauge',
    lb4_backend_circuit_state: 'gauge',
    lb4_backend_health_check_duration_seconds: 'histogram',
    lb4_listener_accepted_connections_total: 'counter',
    lb4_listener_active_connections: 'gauge',
    lb4_listener_tls_handshake_failures_total: 'counter',
    lb4_listener_rejected_connections_total: 'counter',
    lb4_connections_active: 'gauge',
    lb4_connections_total: 'counter',
    lb4_pool_panic: 'gauge',
    lb4_pool_backends_up: 'gauge',
    lb4_queue_waiting: 'gauge',
    lb4_draining: 'gauge',
    lb4_info: 'gauge',
    lb4_process_cpu_seconds_total: 'counter',
    lb4_process_resident_memory_bytes: 'gauge',
    lb4_nodejs_eventloop_lag_seconds: 'gauge',
  };
  for (const [name, type] of Object.entries(expect)) {
    const f = families.get(name);
    t.ok(f, `${name} declared`);
    t.equal(f?.type, type, `${name} is a ${type}`);
    t.ok(f && f.help.length > 0, `${name} has HELP`);
  }
  for (const name of families.keys()) t.match(name, /^lb4_/, `${name} carries the lb4_ prefix`);
  for (const gone of ['lb4_up', 'lb4_backend_connections_total', 'lb4_backend_requests_total', 'lb4_backend_active_connections', 'lb4_backend_active_requests']) {
    t.notOk(families.has(gone), `no ${gone}: one name in both modes, and Prometheus' own up`);
  }
  t.notOk(families.has('lb4_request_duration_seconds'), 'no L7 request histogram in L4 mode');
  t.notOk(families.has('lb4_backend_responses_total'), 'no HTTP response classes in L4 mode');

  const s = await scrape(lb.adminPort!);
  t.equal(s.v('lb4_draining'), 0);
  const info = families.get('lb4_info')!.samples[0]!;
  t.match(info.labels, { mode: 'l4', strategy: 'round-robin' });
  t.match(info.labels.version, /^\d+\.\d+\.\d+/);
  t.equal(s.v('lb4_backend_weight', { backend: 'a', pool: 'default' }), 3);
  t.equal(s.v('lb4_backend_state', { backend: 'a', state: 'up' }), 1);
  for (const st of ['down', 'draining', 'disabled']) t.equal(s.v('lb4_backend_state', { backend: 'a', state: st }), 0, `state ${st} is 0`);
  t.equal(s.v('lb4_listener_accepted_connections_total', { listener: `127.0.0.1:${lb.ports[0]}`, tls: 'false' }), 0, 'listener labelled with its bound address');
  t.equal(s.v('lb4_pool_panic', { pool: 'default' }), 0);
  t.equal(s.v('lb4_queue_waiting', { pool: 'default' }), 0);

  // health checks every 100 ms feed the duration histogram
  const h = await scrapeUntil(
    lb.adminPort!,
    (x) => x.families.get('lb4_backend_health_check_duration_seconds')!.samples.some((v) => v.name.endsWith('_count') && v.labels.backend === 'a' && v.labels.result === 'ok' && v.value >= 2),
    'two observed health checks',
  );
  t.ok(h.v('lb4_backend_health_check_duration_seconds_sum', { backend: 'a', result: 'ok' }) > 0, 'durations are summed');

  const head = await request(lb.adminPort!, '/metrics', { method: 'HEAD' });
  t.equal(head.status, 200, 'HEAD works');
  t.equal(head.body, '', 'HEAD has no body');
});

t.test('counters move by exactly what the traffic did', async (t) => {
  const [a, b] = await named(t, 'a', 'b');
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', `${a!.address},name=a`, '--backend', `${b!.address},name=b`, '--admin', '127.0.0.1:0', '--health-check', 'off']);
  const port = lb.ports[0]!;
  const admin = lb.adminPort!;
  const listener = { listener: `127.0.0.1:${port}`, tls: 'false' };
  const before = await scrape(admin);
  t.equal(before.v('lb4_connections_total'), 0);

  // sizes chosen so every backend's sum is distinct; the echo sends each payload back
  const sizes = [1000, 20_000, 300_000, 7];
  const sent: Record<string, number> = { a: 0, b: 0 };
  const conns: Record<string, number> = { a: 0, b: 0 };
  for (const n of sizes) {
    const name = await roundTrip(port, randomBytes(n));
    sent[name]! += n;
    conns[name]!++;
  }
  t.same(conns, { a: 2, b: 2 }, 'round robin spread them');
  const after = await scrapeUntil(admin, (x) => x.v('lb4_connections_active') === 0, 'every connection closed');
  for (const name of ['a', 'b']) {
    const l = { backend: name, pool: 'default' };
    t.equal(after.v('lb4_backend_sessions_total', l) - before.v('lb4_backend_sessions_total', l), conns[name], `${name}: sessions (connections in l4)`);
    t.equal(after.v('lb4_backend_bytes_in_total', l) - before.v('lb4_backend_bytes_in_total', l), sent[name], `${name}: bytes in = bytes the clients sent`);
    // bytes out: the name line the backend speaks first, then the echo
    t.equal(after.v('lb4_backend_bytes_out_total', l) - before.v('lb4_backend_bytes_out_total', l), sent[name]! + conns[name]! * (name.length + 1), `${name}: bytes out = name lines + echoes`);
    t.equal(after.v('lb4_backend_connect_failures_total', l), 0, `${name}: no failures`);
    t.equal(after.v('lb4_backend_active_sessions', l), 0);
  }
  t.equal(after.v('lb4_connections_total') - before.v('lb4_connections_total'), sizes.length);
  t.equal(after.v('lb4_listener_accepted_connections_total', listener) - before.v('lb4_listener_accepted_connections_total', listener), sizes.length);
  t.equal(after.v('lb4_listener_active_connections', listener), 0);

  // an open connection shows as active, on its backend, its listener and globally
  const c = await connect(port);
  t.teardown(() => c.destroy());
  const who = await c.readLine();
  const open = await scrapeUntil(admin, (x) => x.v('lb4_connections_active') === 1, 'one active connection');
  t.equal(open.v('lb4_backend_active_sessions', { backend: who }), 1, `${who} serves it`);
  t.equal(open.v('lb4_listener_active_connections', listener), 1);

  // the same numbers as /stats: one accounting, two views
  const stats = (await getJson(admin, '/stats')).json;
  const fresh = await scrape(admin);
  for (const be of stats.backends) {
    t.equal(fresh.v('lb4_backend_bytes_in_total', { backend: be.name }), be.bytes_in, `${be.name}: bytes_in as in /stats`);
    t.equal(fresh.v('lb4_backend_sessions_total', { backend: be.name }), be.total, `${be.name}: total as in /stats`);
  }
  c.destroy();
});

t.test('a dead backend: connect failures, health checks, state series', async (t) => {
  const [a] = await named(t, 'a');
  const dead = await closedPort();
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--backend', `${a!.address},name=a`,
    '--backend', `127.0.0.1:${dead},name=dead`,
    '--admin', '127.0.0.1:0',
    '--health-check', 'off',
    '--max-fails', '2',
    '--fail-timeout', '1m',
  ]);
  const port = lb.ports[0]!;
  const admin = lb.adminPort!;
  const before = await scrape(admin);
  t.equal(before.v('lb4_backend_connect_failures_total', { backend: 'dead' }), 0);
  t.equal(before.v('lb4_backend_state', { backend: 'dead', state: 'up' }), 1, 'backends start up');

  // round robin alternates: every second connection tries `dead` first, fails, and is retried on `a`
  for (let i = 0; i < 4; i++) t.equal(await roundTrip(port, Buffer.from('x')), 'a', `connection ${i} served by a`);
  const after = await scrapeUntil(admin, (x) => x.v('lb4_connections_active') === 0, 'connections closed');
  const failures = after.v('lb4_backend_connect_failures_total', { backend: 'dead' });
  t.equal(failures, 2, 'two failed connects (then the circuit opened)');
  t.equal(after.v('lb4_backend_sessions_total', { backend: 'dead' }), 0, 'failed connects are not in total');
  t.equal(after.v('lb4_backend_sessions_total', { backend: 'a' }), 4);
  t.equal((await getJson(admin, '/stats')).json.backends[1].failures, failures, 'the same count as /stats');
  t.equal(after.v('lb4_backend_state', { backend: 'dead', state: 'down' }), 1, 'passive circuit: down');
  t.equal(after.v('lb4_backend_state', { backend: 'dead', state: 'up' }), 0);
  t.equal(after.v('lb4_backend_circuit_state', { backend: 'dead', state: 'open' }), 1, 'circuit open');
  t.equal(after.v('lb4_pool_backends_up', { pool: 'default' }), 1);
});

t.test('state series follow the admin API: drain, disable, enable', async (t) => {
  const [a, b] = await named(t, 'a', 'b');
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--backend', `${a!.address},name=a`,
    '--backend', `${b!.address},name=b`,
    '--admin', '127.0.0.1:0',
    '--admin-token', 's3cret',
    '--health-interval', '100ms',
  ]);
  const admin = lb.adminPort!;
  const states = (s: Scrape, name: string): string[] =>
    ['up', 'down', 'draining', 'disabled'].filter((st) => s.v('lb4_backend_state', { backend: name, pool: 'default', state: st }) === 1);

  t.equal((await post(admin, '/backends/b/drain')).status, 401, 'no token, no change');
  t.same(states(await scrape(admin), 'b'), ['up']);

  t.equal((await post(admin, '/backends/b/drain', 's3cret')).status, 200);
  let s = await scrape(admin);
  t.same(states(s, 'b'), ['draining'], 'b: exactly one state series is 1, draining');
  t.same(states(s, 'a'), ['up'], 'a untouched');

  t.equal((await post(admin, '/backends/b/disable', 's3cret')).status, 200);
  t.same(states(await scrape(admin), 'b'), ['disabled']);

  t.equal((await post(admin, '/backends/b/enable', 's3cret')).status, 200);
  t.same(states(await scrape(admin), 'b'), ['up']);

  // a backend whose server goes away: active checks take it down (--fall 3 by default)
  await a!.close();
  s = await scrapeUntil(admin, (x) => states(x, 'a')[0] === 'down', 'a down by health checks');
  t.equal(s.v('lb4_backend_health_check_up', { backend: 'a' }), 0);
  t.ok(s.v('lb4_backend_health_check_duration_seconds_count', { backend: 'a', result: 'fail' }) >= 3, 'failed checks observed');
});

t.test('L7: requests, response classes and the request-duration histogram', async (t) => {
  const ok = await httpBackend('ok');
  const bad = await httpBackend('bad', { status: 503 });
  t.teardown(() => ok.close());
  t.teardown(() => bad.close());
  const lb = await withLb4(t, [
    '--mode', 'l7',
    '--listen', '127.0.0.1:0',
    '--backend', `${ok.address},name=ok`,
    '--backend', `${bad.address},name=bad`,
    '--admin', '127.0.0.1:0',
    '--health-check', 'off',
  ]);
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await request(lb.ports[0]!, `/r${i}`)).status);
  t.same(statuses.sort(), [200, 200, 503, 503], 'round robin over the two');
  const s = await scrapeUntil(lb.adminPort!, (x) => x.v('lb4_connections_active') === 0, 'connections closed');
  for (const gone of ['lb4_up', 'lb4_backend_connections_total', 'lb4_backend_requests_total', 'lb4_backend_active_connections', 'lb4_backend_active_requests']) t.notOk(s.families.has(gone), `no ${gone} in l7 either`);
  for (const name of ['ok', 'bad']) {
    t.equal(s.v('lb4_backend_sessions_total', { backend: name }), 2, `${name}: two sessions (requests in l7)`);
    t.equal(s.v('lb4_request_duration_seconds_count', { backend: name }), 2, `${name}: two durations observed`);
    t.ok(s.v('lb4_request_duration_seconds_sum', { backend: name }) > 0);
    t.equal(s.v('lb4_backend_active_sessions', { backend: name }), 0);
  }
  t.equal(s.v('lb4_backend_responses_total', { backend: 'ok', class: '2xx' }), 2);
  t.equal(s.v('lb4_backend_responses_total', { backend: 'ok', class: '5xx' }), 0);
  t.equal(s.v('lb4_backend_responses_total', { backend: 'bad', class: '5xx' }), 2);
  t.equal(s.families.get('lb4_info')!.samples[0]!.labels.mode, 'l7');
});

t.test('the parser itself rejects what Prometheus would', async (t) => {
  const ok = '# HELP x_total h\n# TYPE x_total counter\nx_total{a="1"} 2\n';
  t.ok(parseExposition(ok).get('x_total'));
  t.throws(() => parseExposition('x_total 1\n'), /undeclared/);
  t.throws(() => parseExposition('# TYPE x gauge\nx abc\n'), /not a number/);
  t.throws(() => parseExposition('# TYPE x gauge\nx{a="1} 1\n'), /unterminated|expected/);
  t.throws(() => parseExposition('# TYPE x gauge\nx 1\nx 2\n'), /duplicate/);
  t.throws(() => parseExposition('# TYPE x counter\nx -1\n'), />= 0/);
  t.throws(() => parseExposition('# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a="2"} 1\n'), /contiguous/);
  t.throws(() => parseExposition('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'), /cumulative/);
  t.throws(() => parseExposition('# FOO x\n'), /neither/);
  t.throws(() => parseExposition('# TYPE x gauge\nx 1'), /newline/);
});
