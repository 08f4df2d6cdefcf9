// The metrics table of docs/reference.md is generated from the /metrics registry: a new,
// renamed or removed metric must be documented (run `npm run docs:metrics`).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { metricDocs, withMetricsTable } from '../../src/admin/metrics-docs.js';

t.test('docs/reference.md metrics table matches the registry', async (t) => {
  const readme = readFileSync(new URL('../../docs/reference.md', import.meta.url), 'utf8');
  t.equal(readme, withMetricsTable(readme), 'docs/reference.md is stale: run `npm run docs:metrics`');
});

t.test('metric names do not depend on the mode', async (t) => {
  const docs = metricDocs();
  const byName = new Map(docs.map((m) => [m.name, m]));
  for (const name of ['lb4_backend_sessions_total', 'lb4_backend_active_sessions', 'lb4_connections_total', 'lb4_backend_bytes_in_total']) {
    t.same(byName.get(name)?.modes, ['l4', 'l7'], `${name} in both modes`);
  }
  // only what exists in HTTP alone is l7-only
  t.same(docs.filter((m) => m.modes.length === 1).map((m) => m.name).sort(), ['lb4_backend_responses_total', 'lb4_request_duration_seconds']);
  t.notOk(byName.has('lb4_up'), "no lb4_up: Prometheus' own up says the scrape worked");
  t.same(byName.get('lb4_info')?.labels, ['version', 'mode', 'strategy'], 'lb4_info carries the mode');
  for (const m of docs) t.ok(m.help.length > 20, `${m.name} has a HELP that says something`);
});
