// Microbenchmark of the balancing strategies (quality as well as speed: quality
// as well as speed). Uses the compiled output, so build first:
//
//   npx tsc -p tsconfig.json && node --expose-gc perf/bench-pick.mjs
//
// For every strategy at 3, 100 and 1,000 backends (weights 1..10, varied):
// build time, ns per pick() and bytes allocated per pick() (heapUsed delta
// over a run of picks that starts right after a full gc; 0 when it rounds to
// 0). Then the quality of ip-hash: balance (max/mean keys per backend over
// 100,000 client IPs) and the share of keys that move when one of N backends
// leaves and when it returns, against the ideal 1/N. Prints a markdown report
// and writes it to perf/out/pick.md. Runs in well under a minute.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pickerFactories, findPickerFactory } from '../dist/core/pickers/index.js';
import { hashString } from '../dist/core/hash.js';

const here = dirname(fileURLToPath(import.meta.url));
const gc = globalThis.gc;
if (typeof gc !== 'function') {
  console.error('bench-pick: run with node --expose-gc for the allocation column');
}

/**
 * xorshift32 in [0, 1). The state lives in a Uint32Array so that the source
 * itself allocates nothing (a closure variable above 2^30 would be boxed).
 */
function prng(seed) {
  const state = new Uint32Array(1);
  state[0] = seed >>> 0 || 1;
  return () => {
    let s = state[0];
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    state[0] = s;
    return state[0] / 4294967296;
  };
}

// Latency estimates for p2c-ewma (the others ignore them): 1..50 ms, every
// tenth backend without a sample yet (charged the pool's lowest, 1 ms).
function makeBackends(n, weightOf = (i) => 1 + ((i * 37 + 3) % 10)) {
  const list = [];
  for (let i = 0; i < n; i++) {
    const ewma = { value: 1 + ((i * 13) % 50), sampled: i % 10 !== 0 };
    list.push({ name: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`, weight: weightOf(i), active: 0, ewma });
  }
  return list;
}

/** What a pool hands build(): bounded loads off, the live lowest latency. */
const OPTIONS = { hashBalanceFactor: 0, live: { lowestLatency: 1 } };

function ipKeys(count, seed = 0) {
  const keys = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const j = i + seed;
    keys[i] = hashString(`10.${(j >> 16) & 255}.${(j >> 8) & 255}.${j & 255}`);
  }
  return keys;
}

const KEYS = ipKeys(4096);
// Results are folded into `sink` so no loop is dead code; kept small (a Smi)
// because a module variable holding a large number is a heap box.
let sink = 0;
const fold = (x) => {
  sink = (sink + x) & 0xffff;
};

function runPicks(picker, count) {
  let acc = 0;
  for (let i = 0; i < count; i++) acc = (acc + picker.pick(KEYS[i & 4095], 0)) & 0xffff;
  return acc;
}

/** Pool-like loop for least-connections: pick, take (active++), drop another. */
function runTakeDrop(picker, list, count) {
  const n = list.length;
  let acc = 0;
  for (let i = 0; i < count; i++) {
    const j = picker.pick(0, 0);
    list[j].active++;
    picker.update(j);
    const d = (j * 7 + i) % n;
    if (list[d].active > 0) {
      list[d].active--;
      picker.update(d);
    }
    acc = (acc + j) & 0xffff;
  }
  return acc;
}

function timeNs(fn, count) {
  let best = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const t0 = process.hrtime.bigint();
    fold(fn(count));
    const dt = Number(process.hrtime.bigint() - t0);
    best = Math.min(best, dt / count);
  }
  return best;
}

/**
 * Heap growth per op over `count` ops. A full gc can throw away optimised
 * code (V8 drops code that embeds objects that died), and interpreted code
 * boxes doubles, so each window starts with a re-warm run after the gc.
 */
function bytesPerOp(fn, count) {
  if (typeof gc !== 'function') return NaN;
  let best = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    gc();
    gc();
    fold(fn(REWARM));
    const h0 = process.memoryUsage().heapUsed;
    const r = fn(count);
    const h1 = process.memoryUsage().heapUsed;
    fold(r);
    best = Math.min(best, Math.max(0, h1 - h0) / count);
  }
  return best;
}

function fmtBytes(b) {
  if (Number.isNaN(b)) return 'n/a';
  if (process.env.BENCH_RAW) return b.toFixed(3);
  return String(Math.round(b));
}

function buildUs(factory, list, random) {
  let best = Infinity;
  let picker;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = process.hrtime.bigint();
    picker = factory.build(list, random, -1, OPTIONS);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1000);
  }
  return { picker, us: best };
}

const lines = [];
const out = (s = '') => {
  lines.push(s);
  console.log(s);
};

out('# lb4 picker benchmark');
out();
out(`node ${process.version}, ${new Date().toISOString()}`);
out();
out('## pick() cost (weights 1..10, varied; keys: 4,096 hashed client IPs)');
out();
out('| strategy | backends | build µs | ns/pick | bytes/pick |');
out('|---|---:|---:|---:|---:|');

const SIZES = [3, 100, 1000];
const PICKS = 1_000_000;
const ALLOC_PICKS = 20_000;
const REWARM = 50_000;

for (const factory of pickerFactories) {
  for (const n of SIZES) {
    const list = makeBackends(n);
    if (factory.name === 'least-connections' || factory.name === 'p2c-ewma') {
      const r = prng(n);
      for (const b of list) b.active = Math.floor(r() * 20);
    }
    const random = prng(12345);
    const { picker, us } = buildUs(factory, list, random);
    fold(runPicks(picker, 200_000)); // warm up (and fill the wrr table)
    const ns = timeNs((c) => runPicks(picker, c), PICKS);
    const bytes = bytesPerOp((c) => runPicks(picker, c), ALLOC_PICKS);
    out(`| ${factory.name} | ${n} | ${us.toFixed(0)} | ${ns.toFixed(1)} | ${fmtBytes(bytes)} |`);
  }
}

// The two costs the table above hides: wrr's first period after a build
// (the kinetic tournament fills the table), and least-connections with the
// pool's update() calls.
out();
out('| variant | backends | ns/op | bytes/op |');
out('|---|---:|---:|---:|');
{
  const wrr = findPickerFactory('weighted-round-robin');
  for (const n of SIZES) {
    const list = makeBackends(n);
    const total = list.reduce((a, b) => a + b.weight, 0);
    const builds = Math.max(3, Math.ceil(200_000 / total));
    let bestNs = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const pickers = [];
      for (let k = 0; k < builds; k++) pickers.push(wrr.build(list, Math.random));
      const t0 = process.hrtime.bigint();
      for (const p of pickers) fold(runPicks(p, total));
      bestNs = Math.min(bestNs, Number(process.hrtime.bigint() - t0) / (builds * total));
    }
    // Allocation inside the first period: several fresh pickers, built
    // before the gc, then one more run through a whole first period to get
    // optimised code back (see bytesPerOp) before the measured window.
    let bytes = NaN;
    if (typeof gc === 'function') {
      bytes = Infinity;
      const k = Math.ceil((ALLOC_PICKS * 10) / total);
      for (let rep = 0; rep < 5; rep++) {
        const fresh = [];
        for (let i = 0; i <= k * 4; i++) fresh.push(wrr.build(list, Math.random));
        gc();
        gc();
        for (let i = k; i <= k * 4; i++) fold(runPicks(fresh[i], total));
        const h0 = process.memoryUsage().heapUsed;
        let acc = 0;
        for (let i = 0; i < k; i++) acc = (acc + runPicks(fresh[i], total)) & 0xffff;
        bytes = Math.min(bytes, Math.max(0, process.memoryUsage().heapUsed - h0) / (k * total));
        fold(acc);
      }
    }
    out(`| weighted-round-robin, first period after a build (sum w = ${total}) | ${n} | ${bestNs.toFixed(1)} | ${fmtBytes(bytes)} |`);
  }
  const lc = findPickerFactory('least-connections');
  for (const n of SIZES) {
    const list = makeBackends(n);
    const picker = lc.build(list, Math.random);
    fold(runTakeDrop(picker, list, 200_000));
    const ns = timeNs((c) => runTakeDrop(picker, list, c), PICKS);
    const bytes = bytesPerOp((c) => runTakeDrop(picker, list, c), ALLOC_PICKS);
    out(`| least-connections, pick + take + drop (2 update() calls) | ${n} | ${ns.toFixed(1)} | ${fmtBytes(bytes)} |`);
  }
}

// ip-hash quality.
out();
out('## ip-hash quality (equal weights, 100,000 client IPs)');
out();
out('| backends | max/mean load | moved when one leaves | moved when it returns | ideal 1/N | other keys moved | back to original |');
out('|---:|---:|---:|---:|---:|---:|---:|');
{
  const ih = findPickerFactory('ip-hash');
  const keys = ipKeys(100_000, 1 << 20);
  const mapNames = (list) => {
    const p = ih.build(list, Math.random);
    const names = new Array(keys.length);
    for (let k = 0; k < keys.length; k++) names[k] = list[p.pick(keys[k], 0)].name;
    return names;
  };
  for (const n of [5, 100, 1000]) {
    const list = makeBackends(n, () => 1);
    const before = mapNames(list);
    const load = new Map();
    for (const name of before) load.set(name, (load.get(name) ?? 0) + 1);
    let max = 0;
    for (const b of list) max = Math.max(max, load.get(b.name) ?? 0);
    const mean = keys.length / n;
    const gone = Math.floor(n / 2);
    const rest = list.filter((_, i) => i !== gone);
    const after = mapNames(rest);
    let moved = 0;
    let others = 0;
    for (let k = 0; k < keys.length; k++) {
      if (after[k] !== before[k]) {
        moved++;
        if (before[k] !== list[gone].name) others++;
      }
    }
    const back = mapNames([list[gone], ...rest]);
    let movedBack = 0;
    let diff = 0;
    for (let k = 0; k < keys.length; k++) {
      if (back[k] !== after[k]) movedBack++;
      if (back[k] !== before[k]) diff++;
    }
    const pct = (x) => `${((100 * x) / keys.length).toFixed(2)}%`;
    out(
      `| ${n} | ${(max / mean).toFixed(3)} | ${pct(moved)} | ${pct(movedBack)} | ${(100 / n).toFixed(2)}% | ${others} | ${diff === 0 ? 'yes' : `no (${diff})`} |`,
    );
  }
  // Weighted: load relative to the weight's fair share.
  const list = makeBackends(100);
  const totalW = list.reduce((a, b) => a + b.weight, 0);
  const names = mapNames(list);
  const load = new Map();
  for (const name of names) load.set(name, (load.get(name) ?? 0) + 1);
  let worst = 0;
  for (const b of list) worst = Math.max(worst, (load.get(b.name) ?? 0) / ((keys.length * b.weight) / totalW));
  out();
  out(`Weighted (100 backends, weights 1..10): max load / weighted fair share = ${worst.toFixed(3)}.`);
}

// ip-hash with bounded loads (--hash-balance-factor): skewed keys (one hot
// key with 30% of the arrivals, a Zipf(1.1) tail over 999 others),
// connections held open (a third of the time one random open connection is
// released before the next arrives), 10 equal backends.
out();
out('## ip-hash with bounded loads (10 backends; 20,000 arrivals, hot key 30% + Zipf tail; connections held)');
out();
out('| --hash-balance-factor | max/mean load (worst, >= 100 open) | max/mean at the end | keys moved when one backend leaves | ideal 1/N |');
out('|---|---:|---:|---:|---:|');
{
  const ih = findPickerFactory('ip-hash');
  const keys = Array.from({ length: 1000 }, (_, k) => hashString(`203.0.113.${k % 250}:${k}`));
  let zsum = 0;
  for (let k = 1; k < 1000; k++) zsum += 1 / Math.pow(k, 1.1);
  const cdf = [];
  let acc = 0;
  for (let k = 1; k < 1000; k++) cdf.push((acc += 1 / Math.pow(k, 1.1) / zsum));
  const r = prng(7);
  const arrivals = [];
  const releases = [];
  for (let i = 0; i < 20_000; i++) {
    releases.push(r());
    if (r() < 0.3) {
      arrivals.push(keys[0]);
      continue;
    }
    const u = r();
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    arrivals.push(keys[lo + 1]);
  }
  /** Place every arrival (same releases each time); the backend name per arrival, and the load spread. */
  const place = (list, factor) => {
    for (const b of list) b.active = 0;
    const p = ih.build(list, Math.random, -1, { hashBalanceFactor: factor, live: { lowestLatency: 0 } });
    const open = [];
    const names = new Array(arrivals.length);
    const rr = prng(99);
    let worst = 0;
    for (let i = 0; i < arrivals.length; i++) {
      if (open.length > 0 && releases[i] < 0.33) {
        const j = Math.floor(rr() * open.length);
        const b = open[j];
        b.active--;
        p.update?.(list.indexOf(b));
        open[j] = open[open.length - 1];
        open.pop();
      }
      const idx = p.pick(arrivals[i], 0);
      const b = list[idx];
      b.active++;
      p.update?.(idx);
      open.push(b);
      names[i] = b.name;
      if (open.length >= 100) {
        let max = 0;
        for (const x of list) max = Math.max(max, x.active);
        worst = Math.max(worst, (max * list.length) / open.length);
      }
    }
    let max = 0;
    for (const x of list) max = Math.max(max, x.active);
    return { names, worst, end: (max * list.length) / open.length };
  };
  for (const factor of [0, 125, 150, 200]) {
    const list = makeBackends(10, () => 1);
    const before = place(list, factor);
    const gone = 4;
    const rest = list.filter((_, i) => i !== gone);
    const after = place(rest, factor);
    let moved = 0;
    for (let i = 0; i < arrivals.length; i++) if (after.names[i] !== before.names[i]) moved++;
    out(`| ${factor === 0 ? '0 (off)' : factor} | ${before.worst.toFixed(2)} | ${before.end.toFixed(2)} | ${((100 * moved) / arrivals.length).toFixed(1)}% | 10.0% |`);
  }
  out();
  out('Keys moved counts arrivals placed on another backend when the same arrivals are replayed without backend 5 of 10; with bounded loads a key also moves when its backend is full, so more move than the 1/N of the plain ring.');
}

out();
out(`(checksum ${sink % 1000})`);
mkdirSync(join(here, 'out'), { recursive: true });
writeFileSync(join(here, 'out', 'pick.md'), lines.join('\n') + '\n');
console.error(`bench-pick: wrote ${join(here, 'out', 'pick.md')}`);
