/**
 * The dashboard's asset files (src/admin/dashboard/: index.html,
 * dashboard.css, dashboard.js) as src/admin/dashboard.ts serves them: the
 * page is index.html with its style sheet and script inline, byte for byte;
 * the Content-Security-Policy allows exactly those two by their SHA-256; the
 * ETag follows the bytes; a broken asset directory fails loudly.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DASHBOARD_DIR, SCRIPT_TAG, STYLE_TAG, loadDashboard } from '../../src/admin/dashboard.js';

const file = (name: string): string => readFileSync(new URL(name, DASHBOARD_DIR), 'utf8');
const sha = (s: string): string => createHash('sha256').update(s, 'utf8').digest('base64');

t.test('the served page is index.html with the CSS and JS files inline, byte for byte', async (t) => {
  const html = file('index.html');
  const css = file('dashboard.css');
  const js = file('dashboard.js');
  t.ok(html.includes(STYLE_TAG) && html.includes(SCRIPT_TAG), 'index.html links its style sheet and script');
  const page = loadDashboard();
  t.equal(page.html, html);
  t.equal(page.css, css);
  t.equal(page.js, js);
  const body = page.body.toString('utf8');
  const [before, rest] = body.split('<style>') as [string, string];
  t.equal(before, html.slice(0, html.indexOf(STYLE_TAG)), 'the head up to the style, unchanged');
  t.ok(rest.startsWith(css + '</style>'), 'then the CSS file exactly');
  t.equal((body.match(/<script>/g) ?? []).length, 1, 'one script');
  t.ok(body.includes('<script>' + js + '</script>'), 'the JS file exactly');
  t.equal(body, html.replace(STYLE_TAG, `<style>${css}</style>`).replace(SCRIPT_TAG, `<script>${js}</script>`), 'nothing else changed');
  t.notMatch(body, /<link[^>]+stylesheet|<script[^>]+src=/i, 'nothing left to load from elsewhere');
});

t.test('the CSP allows exactly the inline script and style, by hash; the ETag follows the bytes', async (t) => {
  const page = loadDashboard();
  const directives = Object.fromEntries(page.csp.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]));
  t.equal(directives['default-src'], "'none'");
  t.equal(directives['script-src'], `'sha256-${sha(file('dashboard.js'))}'`, 'script-src: the hash of dashboard.js');
  t.equal(directives['style-src'], `'sha256-${sha(file('dashboard.css'))}'`, 'style-src: the hash of dashboard.css');
  t.equal(directives['connect-src'], "'self'");
  t.equal(directives['frame-ancestors'], "'none'");
  t.equal(page.etag, `"${createHash('sha256').update(page.body).digest('base64url').slice(0, 27)}"`);
});

t.test('a broken asset directory fails at start with the file named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lb4-dash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const url = pathToFileURL(dir + '/');
  writeFileSync(join(dir, 'index.html'), `<html>${STYLE_TAG}${SCRIPT_TAG}</html>`);
  writeFileSync(join(dir, 'dashboard.css'), 'body{}');
  t.throws(() => loadDashboard(url), /dashboard asset dashboard\.js not found/);
  writeFileSync(join(dir, 'dashboard.js'), 'var s = "</script>";');
  t.throws(() => loadDashboard(url), /must not contain <\/script/, 'a closing tag would end the inline script early');
  writeFileSync(join(dir, 'dashboard.js'), 'var ok = 1;');
  t.equal(loadDashboard(url).body.toString(), '<html><style>body{}</style><script>var ok = 1;</script></html>');
  writeFileSync(join(dir, 'index.html'), `<html>${SCRIPT_TAG}</html>`);
  t.throws(() => loadDashboard(url), /must hold <link rel="stylesheet"/);
});
