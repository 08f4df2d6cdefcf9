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

t.test('every setting is filed under a --help topic, and every topic has settings', async (t) => {
  const { SETTING_GROUPS } = await import('../../src/config/schema.js');
  const groups: readonly string[] = SETTING_GROUPS;
  for (const d of SETTINGS) t.ok(groups.includes(d.group), `${d.flag} has a group (${String(d.group)})`);
  for (const g of groups) t.ok(SETTINGS.some((d) => d.group === g), `${g} is not empty`);
  const table = settingsTable();
  t.same(
    table.split('\n').filter((l) => /^\*\*.*\*\*$/.test(l)),
    groups.map((g) => `**${g}**`),
    'the README tables follow the topics in order',
  );
});
