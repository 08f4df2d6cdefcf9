/**
 * The dashboard at `GET /` (SPEC section 5) in headless Chromium, driven by
 * playwright-core: it renders, lists the backends with their states, shows a
 * backend going down within a refresh or two, and with the admin token typed
 * into the page drains a backend. Skipped when /usr/bin/chromium is absent
 * (CI installs it).
 *
 * Screenshots: perf/out/dashboard.png on every run (git-ignored). With
 * LB4_DOCS_SCREENSHOT=1 a richer scene (three backends, a minute of traffic)
 * is written to docs/dashboard.png for the README.
 */
import t from 'tap';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { namedBackend, type NamedBackend } from '../../helpers/backends.js';
import { connect, request } from '../../helpers/clients.js';
import { getJson } from '../../helpers/admin.js';
import { withLb4 } from '../../helpers/lb4.js';

// The functions given to page.evaluate/waitForFunction run in the browser;
// these module-local declarations type them without adding the DOM lib to
// the whole test program.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const sessionStorage: any;
declare const window: any;

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const OUT = `${ROOT}perf/out`;
const TOKEN = 'Zq7-dashboard-s3cret';
const STEP_MS = 5000;

const noChromium = existsSync(CHROMIUM) ? false : `${CHROMIUM} not installed`;

async function launch(t: { teardown(fn: () => unknown): void }): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
    timeout: 30_000,
  });
  t.teardown(() => browser.close());
  return browser;
}

/** A page that records console errors and uncaught exceptions (a CSP violation is a console error). */
async function openPage(browser: Browser, url: string, width = 1440, height = 1000): Promise<{ page: Page; errors: string[] }> {
  const ctx = await browser.newContext({ viewport: { width, height }, colorScheme: 'light' });
  const page = await ctx.newPage();
  page.setDefaultTimeout(STEP_MS);
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url, { timeout: 10_000, waitUntil: 'load' });
  return { page, errors };
}

/** Waits (bounded) until the row of `name` shows `state`. */
async function waitState(page: Page, name: string, state: string, timeoutMs = STEP_MS): Promise<void> {
  await page.waitForFunction(
    ([n, s]) => {
      const row = [...document.querySelectorAll('#backends-body tr')].find((r: any) => r.getAttribute('data-backend') === n);
      return row?.querySelector('.badge.state')?.textContent === s;
    },
    [name, state] as const,
    { timeout: timeoutMs, polling: 100 },
  );
}

/** Background traffic through lb4 until stopped: connections of various sizes. */
function traffic(port: number, opts: { sizes: number[]; pauseMs: number }): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    let i = 0;
    while (running) {
      const n = opts.sizes[i++ % opts.sizes.length]!;
      try {
        const c = await connect(port, '127.0.0.1', { timeoutMs: 2000 });
        try {
          await c.readLine();
          const data = randomBytes(n);
          c.write(data);
          await c.readBytes(n);
          c.end();
          await c.readUntilEnd();
        } finally {
          c.destroy();
        }
      } catch {
        // a backend closing under us: fine, this is background noise
      }
      await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

async function named(t: { teardown(fn: () => unknown): void }, ...names: string[]): Promise<NamedBackend[]> {
  const bs = await Promise.all(names.map((n) => namedBackend(n)));
  for (const b of bs) t.teardown(() => b.close());
  return bs;
}

t.test('dashboard: renders, follows a backend down, drains with the token', { skip: noChromium, timeout: 90_000 }, async (t) => {
  const [alpha, beta] = await named(t, 'alpha', 'beta');
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--backend', `${alpha!.address},name=alpha,weight=2`,
    '--backend', `${beta!.address},name=beta`,
    '--admin', '127.0.0.1:0',
    '--admin-token', TOKEN,
    '--health-interval', '100ms',
    '--fall', '1',
  ]);
  const admin = lb.adminPort!;

  // the page as served: HTML, a strict CSP, and never the token
  const raw = await request(admin, '/');
  t.equal(raw.status, 200);
  t.match(raw.headers['content-type'], /^text\/html/);
  t.match(raw.headers['content-security-policy'], /default-src 'none'/);
  t.match(raw.headers['content-security-policy'], /script-src 'sha256-/);
  t.notOk(raw.body.includes(TOKEN), 'the server never embeds the admin token');
  t.notMatch(raw.body, /<(script|link|img)[^>]+(src|href)="https?:/i, 'nothing loaded from elsewhere');

  const bg = traffic(lb.ports[0]!, { sizes: [4096, 65_536, 16_384, 262_144], pauseMs: 60 });
  t.teardown(() => bg.stop());

  const browser = await launch(t);
  const { page, errors } = await openPage(browser, `http://127.0.0.1:${admin}/`);

  // both backends, by name, up
  await waitState(page, 'alpha', 'up');
  await waitState(page, 'beta', 'up');
  const names = await page.$$eval('#backends-body tr .name', (els) => els.map((e) => e.textContent));
  t.same(names, ['alpha', 'beta'], 'both backends listed in configured order');
  t.equal(await page.textContent('#mode'), 'round-robin');
  t.match(await page.textContent('#mode-sub'), /^L4 mode/);
  t.equal(await page.textContent('#status'), 'Healthy');
  t.equal(await page.locator('tr[data-backend="alpha"] td').nth(2).textContent(), '2', 'weight shown');
  t.equal(await page.locator('button[data-action="drain"]').first().isVisible(), false, 'no action buttons without a token');

  // a backend's server goes away: down within a refresh or two
  await beta!.close();
  const downAt = Date.now();
  await waitState(page, 'beta', 'down');
  t.ok(Date.now() - downAt < STEP_MS, `beta shown down after ${Date.now() - downAt} ms`);
  await page.waitForFunction(() => document.querySelector('tr[data-backend="beta"]')?.classList.contains('flash-down') === true);
  const event = await page.locator('#events li[data-backend="beta"]').first().innerText();
  t.match(event.replace(/\s+/g, ' '), /^\d\d:\d\d:\d\d beta up \u2192 down$/, 'the event list says beta: up \u2192 down');
  t.match(await page.textContent('tr[data-backend="beta"] .check') ?? '', /ECONNREFUSED|connect/i, 'the failed check is shown');
  t.equal(await page.textContent('#status'), 'Degraded');

  // the token unlocks the actions; drain alpha from the page
  await page.fill('#token', TOKEN);
  await page.click('#token-set');
  const drain = page.locator('tr[data-backend="alpha"] button[data-action="drain"]');
  await drain.waitFor({ state: 'visible' });
  t.equal(await page.evaluate(() => sessionStorage.getItem('lb4.adminToken')), TOKEN, 'token kept in sessionStorage');
  t.equal(await page.inputValue('#token'), '', 'the input is cleared');
  await drain.click();
  await waitState(page, 'alpha', 'draining');
  t.equal((await getJson(admin, '/stats')).json.backends[0].state, 'draining', 'lb4 agrees');
  await page.waitForFunction(() => document.querySelectorAll('#events li').length >= 2);

  // a wrong token is reported, not silently ignored
  await page.click('#token-clear');
  await page.fill('#token', 'wrong');
  await page.click('#token-set');
  await page.locator('tr[data-backend="alpha"] button[data-action="enable"]').click();
  await page.waitForFunction(() => /rejected/.test(document.getElementById('notice')?.textContent ?? ''));
  t.pass('a rejected token is shown');
  await waitState(page, 'alpha', 'draining');

  // charts got samples
  await page.waitForFunction(() => /\/s$/.test(document.getElementById('key-in')?.textContent ?? ''));
  t.notMatch(await page.textContent('#rate'), /^\u2013$/, 'throughput measured');

  mkdirSync(OUT, { recursive: true });
  await page.evaluate(() => {
    window.scrollTo(0, 0);
    for (const w of document.querySelectorAll('.table-wrap')) w.scrollLeft = 0;
  });
  await page.screenshot({ path: `${OUT}/dashboard.png`, fullPage: true, timeout: 10_000 });
  t.ok(existsSync(`${OUT}/dashboard.png`), 'screenshot saved to perf/out/dashboard.png');
  t.same(
    errors.filter((e) => !/status of 403/.test(e)),
    [],
    'no console errors but the 403 we asked for (a CSP violation would be one)',
  );
});

t.test('docs screenshot (LB4_DOCS_SCREENSHOT=1)', { skip: noChromium || (process.env.LB4_DOCS_SCREENSHOT !== '1' && 'set LB4_DOCS_SCREENSHOT=1'), timeout: 180_000 }, async (t) => {
  const bs = await named(t, 'app-1', 'app-2', 'app-3', 'app-4');
  const lb = await withLb4(t, [
    '--listen', '127.0.0.1:0',
    '--backend', `${bs[0]!.address},name=app-1,weight=3`,
    '--backend', `${bs[1]!.address},name=app-2,weight=2`,
    '--backend', `${bs[2]!.address},name=app-3,weight=2`,
    '--backend', `${bs[3]!.address},name=app-4`,
    '--strategy', 'weighted-round-robin',
    '--admin', '127.0.0.1:0',
    '--admin-token', TOKEN,
    '--health-interval', '500ms',
    '--fall', '2',
  ]);
  const browser = await launch(t);
  const { page, errors } = await openPage(browser, `http://127.0.0.1:${lb.adminPort}/`, 1440, 900);
  const bg1 = traffic(lb.ports[0]!, { sizes: [8192, 131_072, 32_768, 524_288], pauseMs: 40 });
  const bg2 = traffic(lb.ports[0]!, { sizes: [1024, 4096], pauseMs: 120 });
  t.teardown(() => Promise.all([bg1.stop(), bg2.stop()]));
  await new Promise((r) => setTimeout(r, 40_000));
  await bs[3]!.close();
  await waitState(page, 'app-4', 'down', 10_000);
  await page.fill('#token', TOKEN);
  await page.click('#token-set');
  await page.locator('tr[data-backend="app-3"] button[data-action="drain"]').click();
  await waitState(page, 'app-3', 'draining');
  await new Promise((r) => setTimeout(r, 15_000));
  mkdirSync(`${ROOT}docs`, { recursive: true });
  await page.screenshot({ path: `${OUT}/dashboard-docs.png`, fullPage: true, timeout: 10_000 });
  copyFileSync(`${OUT}/dashboard-docs.png`, `${ROOT}docs/dashboard.png`);
  t.same(errors, []);
});
