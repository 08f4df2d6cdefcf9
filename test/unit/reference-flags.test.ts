// The settings tables of docs/reference.md are generated from the settings table of schema.ts: a new or
// changed flag must be documented (run `npm run docs:flags`).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { withSettingsTable, settingsTable } from '../../src/config/docs.js';
import { SETTINGS } from '../../src/config/schema.js';

t.test('docs/reference.md settings tables match the settings table', async (t) => {
  const readme = readFileSync(new URL('../../docs/reference.md', import.meta.url), 'utf8');
  t.equal(readme, withSettingsTable(readme), 'docs/reference.md is stale: run `npm run docs:flags`');
  const table = settingsTable();
  for (const d of SETTINGS) t.match(table, d.flag, `${d.flag} is documented`);
});

t.test('every setting is filed under a --help topic, and every topic has settings', async (t) => {
  const { SETTING_GROUPS } = await import('../../src/config/schema.js');
  const groups: readonly string[] = SETTING_GROUPS;
  for (const d of SETTINGS) t.ok(groups.includes(d.group), `${d.flag} has a group (${String(d.group)})`);
  for (const g of groups) t.ok(SETTINGS.some((d) => d.group === g), `${g} is not empty`);
  const table = settingsTable();
  t.same(
    table.split('\n').filter((l) => /^\*\*.*\*\*$/.test(l)),
    groups.map((g) => `**${g}**`),
    'the reference tables follow the topics in order',
  );
});
