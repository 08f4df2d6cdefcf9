#!/usr/bin/env node
// make torture: turns the JSON lines the torture tests wrote
// (perf/out/torture.jsonl, one per scenario: test/helpers/torture.ts
// report()) into perf/out/TORTURE.md, a table with the machine it ran on.
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';

const IN = process.argv[2] ?? 'perf/out/torture.jsonl';
const OUT = process.argv[3] ?? 'perf/out/TORTURE.md';
const rows = readFileSync(IN, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
rows.sort((a, b) => a.scenario.localeCompare(b.scenario, 'en', { numeric: true }));
let nofile = '?';
try {
  nofile = execFileSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
} catch {
  // no bash: left as ?
}
const cell = (s) => String(s).replace(/\|/g, '\\|');
const lines = [
  '# lb4 torture run',
  '',
  `${new Date().toISOString().slice(0, 10)}; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, ${os.platform()} ${os.release()}, nofile ${nofile}; scale ${[...new Set(rows.map((r) => r.scale))].join(', ')}`,
  '',
  '| scenario | load | figures |',
  '|---|---|---|',
  ...rows.map((r) => `| ${cell(r.scenario)} | ${cell(r.load)} | ${cell(Object.entries(r.figures).map(([k, v]) => `${k}: ${v}`).join('; '))} |`),
  '',
];
writeFileSync(OUT, lines.join('\n'));
process.stdout.write(lines.join('\n'));
