// Rewrite the metrics table in docs/reference.md from the /metrics registry (run after `npm run build`).
import { readFileSync, writeFileSync } from 'node:fs';
import { withMetricsTable } from '../dist/admin/metrics-docs.js';

const path = new URL('../docs/reference.md', import.meta.url);
writeFileSync(path, withMetricsTable(readFileSync(path, 'utf8')));
console.log('docs/reference.md metrics table updated');
