// The README's settings table is the settings table of schema.ts: a new or
// changed flag must be documented (run `npm run docs:flags`).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { withSettingsTable, settingsTable } from '../../src/config/docs.js';
import { SETTINGS } from '../../src/config/schema.js';

t.test('README settings table matches the settings table', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  t.equal(readme, withSettingsTable(readme), 'README.md is stale: run `npm run docs:flags`');
  const table = settingsTable();
  for (const d of SETTINGS) t.match(table, d.flag, `${d.flag} is documented`);
});
