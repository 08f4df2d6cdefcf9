/**
 * One vocabulary (docs/architecture.md, "Vocabulary"): every end reason and
 * every error code is described in docs/reference.md; the native relay's end
 * reasons are the first ones of END_REASONS, in order (the addon is checked
 * against the same list at load: test/unit/relay-addon.test.ts); and the
 * codes the native addon throws are codes of LB_ERROR_CODES.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { END_REASONS } from '../../src/core/ends.js';
import { LB_ERROR_CODES } from '../../src/core/errors.js';
import { REASONS } from '../../src/l4/relay.js';

const reference = readFileSync(new URL('../../docs/reference.md', import.meta.url), 'utf8');

/** The rows of the markdown table under heading `title` (first cell of each row, backticks removed). */
function tableKeys(title: string): string[] {
  const at = reference.indexOf(`\n## ${title}\n`);
  if (at < 0) throw new Error(`docs/reference.md has no "## ${title}"`);
  const next = reference.indexOf('\n## ', at + 4);
  const section = reference.slice(at, next < 0 ? undefined : next);
  return section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.slice(2, l.indexOf('|', 2)).trim().replace(/`/g, ''));
}

t.test('every end reason is described, and nothing else', async (t) => {
  t.same(tableKeys('End reasons'), [...END_REASONS], 'the End reasons table lists END_REASONS in order');
});

t.test("the relay's end reasons are the first of END_REASONS", async (t) => {
  t.same([...REASONS], END_REASONS.slice(0, REASONS.length));
});

t.test('every error code is described, and nothing else', async (t) => {
  t.same(tableKeys('Error codes'), [...LB_ERROR_CODES], 'the Error codes table lists LB_ERROR_CODES in order');
});

t.test('the native addon throws only codes of LB_ERROR_CODES', async (t) => {
  const addon = readFileSync(new URL('../../native/relay-addon.c', import.meta.url), 'utf8');
  const thrown = [...new Set(addon.match(/"LB_ERR_[A-Z_]+"/g)?.map((s) => s.slice(1, -1)) ?? [])];
  t.ok(thrown.length > 0, 'the addon throws coded errors');
  for (const code of thrown) t.ok((LB_ERROR_CODES as readonly string[]).includes(code), `${code} is a known code`);
});
