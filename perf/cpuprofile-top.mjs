// Print the top functions by self time of a V8 .cpuprofile (node --cpu-prof).
// Usage: node perf/cpuprofile-top.mjs FILE.cpuprofile [N=25]
import { readFileSync } from 'node:fs';

const [file, nArg] = process.argv.slice(2);
const N = Number(nArg ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map();
const counts = new Map();
for (const id of prof.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
let total = 0;
for (const [id, c] of counts) {
  const n = byId.get(id);
  const cf = n.callFrame;
  const url = cf.url ? cf.url.replace(/^.*\/(node_modules|dist|src)\//, '$1/').replace(/^node:/, 'node:') : '';
  const key = `${cf.functionName || '(anonymous)'} ${url}${cf.lineNumber >= 0 && url ? ':' + (cf.lineNumber + 1) : ''}`;
  self.set(key, (self.get(key) ?? 0) + c);
  total += c;
}
const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, N);
console.log(`top ${N} by self time (${total} samples) — ${file}`);
for (const [k, c] of rows) console.log(`${((100 * c) / total).toFixed(1).padStart(5)}%  ${k}`);
