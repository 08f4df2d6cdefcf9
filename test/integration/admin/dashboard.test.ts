/**
 * The dashboard at `GET /` (README "Dashboard") in headless Chromium, driven
 * by playwright-core, against bin/lb4 over real sockets:
 *
 * - it renders, follows a backend going down within a refresh or two, and
 *   with the admin token typed into the page drains a backend;
 * - at 1280 and 800 px, in L7 with the actions unlocked (the widest table):
 *   no horizontal overflow, every column header present, visible and not cut,
 *   the CSV link downloads the export, and the charts show lb4's history
 *   again right after a reload;
 * - listeners are labelled by what they speak: TCP/TLS in L4, HTTP/HTTPS in
 *   L7, with PROXY under --accept-proxy.
 *
 * Skipped when /usr/bin/chromium is absent (CI installs it). Screenshots go
 * to perf/out/ (git-ignored) on every run; with LB4_UPDATE_SCREENSHOTS=1 the
 * layout test runs its scene longer (four minutes of history, for charts
 * with a shape) and writes docs/dashboard-1280.png and docs/dashboard-800.png
 * for the README:
 *
 *     LB4_UPDATE_SCREENSHOTS=1 npx tap --timeout 600 test/integration/admin/dashboard.test.ts
 */
import t from 'tap';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';
import { httpBackend, namedBackend, type HttpBackend, type NamedBackend } from '../../helpers/backends.js';
import { connect, request } from '../../helpers/clients.js';
import { csvRecords, getJson, post } from '../../helpers/admin.js';
import { makeCerts } from '../../helpers/certs.js';
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
const UPDATE_SCREENSHOTS = process.env.LB4_UPDATE_SCREENSHOTS === '1';

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
  const ctx = await browser.newContext({ viewport: { width, height }, colorScheme: 'light', acceptDownloads: true });
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

/** Poll `path` on the admin server until `pred` holds on its JSON (generous bound for a busy machine). */
async function jsonUntil(admin: number, path: string, pred: (j: any) => boolean, what: string, timeoutMs = 20_000): Promise<any> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await getJson(admin, path);
    if (r.status === 200 && pred(r.json)) return r.json;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${r.status} ${r.body.slice(0, 1000)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Background L4 traffic through lb4 until stopped: connections of various sizes. */
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

/** Background HTTP requests through an L7 lb4, `parallel` loops, until stopped. */
function httpTraffic(port: number, parallel: number, pauseMs: number): { stop(): Promise<void> } {
  let running = true;
  const loops = Array.from({ length: parallel }, async (_, k) => {
    let i = 0;
    while (running) {
      try {
        await request(port, `/item/${k}/${i++}`, { method: i % 5 === 0 ? 'POST' : 'GET', body: i % 5 === 0 ? randomBytes(2048) : undefined, timeoutMs: 3000 });
      } catch {
        // a backend going away under us: background noise
      }
      // the load swells and ebbs (a period of about a minute), so the charts have a shape
      await new Promise((r) => setTimeout(r, pauseMs * (1 + 3 * (0.5 + 0.5 * Math.sin(Date.now() / 10_000 + k)))));
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

async function named(t: { teardown(fn: () => unknown): void }, ...names: string[]): Promise<NamedBackend[]> {
  const bs = await Promise.all(names.map((n) => namedBackend(n)));
  for (const b of bs) t.teardown(() => b.close());
  return bs;
}

/** An HTTP backend answering after `delayMs`, with 503 for every `failEvery`-th request (0: never). */
async function slowHttp(t: { teardown(fn: () => unknown): void }, name: string, delayMs: number, failEvery = 0): Promise<HttpBackend> {
  let n = 0;
  const b = await httpBackend(name, {
    handler: (req: http.IncomingMessage, res: http.ServerResponse) => {
      req.resume();
      req.on('end', () => {
        n++;
        const status = failEvery > 0 && n % failEvery === 0 ? 503 : 200;
        setTimeout(() => {
          const body = status === 200 ? `${name} `.repeat(50 + (n % 7) * 200) : 'unavailable';
          res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        }, delayMs + (n % 4) * 10);
      });
    },
  });
  t.teardown(() => b.close());
  return b;
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
  t.equal(await page.locator('tr[data-backend="alpha"] .c-weight .l1').textContent(), '2', 'weight shown');
  t.equal(await page.locator('#listeners-body td.proto').first().textContent(), 'TCP', 'an L4 listener without TLS speaks TCP');
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
  await page.screenshot({ path: `${OUT}/dashboard.png`, fullPage: true, timeout: 10_000 });
  t.same(
    errors.filter((e) => !/status of 403/.test(e)),
    [],
    'no console errors but the 403 we asked for (a CSP violation would be one)',
  );
});

/** The column headers every layout must show in L7 with the actions unlocked. */
const BACKEND_COLUMNS = ['Backend', 'State', 'Weight', 'Sessions', 'Rate', 'Total', 'Bytes', 'Errors', 'Warnings', 'Downtime', 'Last check', 'Responses', 'Latency', 'Actions'];

/** Layout facts measured in the page: overflow, and each header's label and caption against its cell. */
async function layout(page: Page): Promise<any> {
  return page.evaluate(() => {
    const doc = document.documentElement;
    const inside = (a: any, b: any): boolean => a.left >= b.left - 0.5 && a.right <= b.right + 0.5 && a.width > 0 && a.height > 0;
    const headers = [...document.querySelectorAll('#backends thead th, #listeners thead th, #pools thead th')].map((th: any) => {
      const box = th.getBoundingClientRect();
      const table = th.closest('table').getBoundingClientRect();
      const parts = [...th.querySelectorAll('.lbl, .sub')].map((e: any) => ({ cut: e.scrollWidth > e.clientWidth + 0.5, inside: inside(e.getBoundingClientRect(), box) }));
      const style = window.getComputedStyle(th);
      return {
        table: th.closest('table').id,
        label: th.querySelector('.lbl')?.textContent ?? '',
        shown: style.display !== 'none' && style.visibility !== 'hidden' && box.width > 0 && box.height > 0,
        inTable: inside(box, table),
        cut: parts.some((p) => p.cut),
        outside: parts.some((p) => !p.inside),
      };
    });
    return {
      scrollWidth: doc.scrollWidth,
      clientWidth: doc.clientWidth,
      wraps: [...document.querySelectorAll('.table-wrap')].map((w: any) => ({ scroll: w.scrollWidth, client: w.clientWidth })),
      headers,
    };
  });
}

t.test('layout at 1280 and 800 px (L7, actions unlocked): no overflow, every column, CSV link, history after a reload', { skip: noChromium, timeout: UPDATE_SCREENSHOTS ? 600_000 : 120_000 }, async (t) => {
  const web1 = await slowHttp(t, 'web-1', 5);
  const web2 = await slowHttp(t, 'web-2', 15);
  const web3 = await slowHttp(t, 'web-3', 10, 9);
  const web4 = await slowHttp(t, 'web-4', 5);
  const lb = await withLb4(
    t,
    [
      '--mode', 'l7', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', TOKEN,
      '--backend', `${web1.address},name=web-1,weight=3`, '--backend', `${web2.address},name=web-2,weight=2`,
      '--backend', `${web3.address},name=web-3,weight=2`, '--backend', `${web4.address},name=web-4`,
      '--strategy', 'weighted-round-robin', '--health-interval', '300ms', '--fall', '2',
      '--max-conns', '2000', '--backend-max-conns', '200',
    ],
    { env: { LB4_HISTORY_INTERVAL_MS: UPDATE_SCREENSHOTS ? '2000' : '250' } },
  );
  const admin = lb.adminPort!;
  const bg = httpTraffic(lb.ports[0]!, 4, 15);
  t.teardown(() => bg.stop());

  // lb4's own history fills while nobody watches: 12 s of it (4 minutes for the docs)
  const span = UPDATE_SCREENSHOTS ? 240_000 : 12_000;
  await jsonUntil(admin, '/stats/history', (h) => h.t.length > 2 && h.t[h.t.length - 1] - h.t[0] >= span * 0.5, 'history points', span + 20_000);
  await web4.close();
  await jsonUntil(admin, '/stats', (s) => s.backends.find((b: any) => b.name === 'web-4').state === 'down', 'web-4 down');
  t.equal((await post(admin, '/backends/web-2/drain', TOKEN)).status, 200, 'web-2 drained through the API');
  await jsonUntil(admin, '/stats/history', (h) => h.t.length > 2 && h.t[h.t.length - 1] - h.t[0] >= span, 'history points', span + 20_000);

  const browser = await launch(t);
  mkdirSync(OUT, { recursive: true });
  for (const width of [1280, 800]) {
    const { page, errors } = await openPage(browser, `http://127.0.0.1:${admin}/`, width, 900);
    await page.fill('#token', TOKEN);
    await page.click('#token-set');
    await waitState(page, 'web-4', 'down');
    await waitState(page, 'web-2', 'draining');
    // history loaded and a few live points after it
    await page.waitForFunction(() => Number(document.getElementById('chart-rate')?.getAttribute('data-history')) > 2, undefined, { timeout: 10_000 });
    await page.waitForFunction(() => /\/s$/.test(document.getElementById('key-rate')?.textContent ?? ''), undefined, { timeout: 10_000 });

    const l = await layout(page);
    t.ok(l.scrollWidth <= l.clientWidth, `${width} px: no horizontal overflow of the document (${l.scrollWidth} <= ${l.clientWidth})`);
    t.same(l.wraps.filter((w: any) => w.scroll > w.client), [], `${width} px: no table scrolls sideways`);
    const bk = l.headers.filter((h: any) => h.table === 'backends');
    t.same(bk.map((h: any) => h.label), BACKEND_COLUMNS, `${width} px: every backend column header, in order`);
    t.same(l.headers.filter((h: any) => !h.shown || !h.inTable), [], `${width} px: every header shown, inside its table`);
    t.same(l.headers.filter((h: any) => h.cut || h.outside), [], `${width} px: no header label or caption cut`);
    t.equal(await page.locator('#listeners-body td.proto').first().textContent(), 'HTTP', 'an L7 listener without TLS speaks HTTP');
    t.match(await page.locator('tr[data-backend="web-3"] .c-resp .l2').textContent(), /5xx [1-9]/, 'the 503s of web-3 in its 5xx');
    t.match(await page.locator('tr[data-backend="web-1"] .c-lat .l1').textContent(), /^p50 \d/, 'latency shown');
    t.match(await page.locator('tr[data-backend="web-1"] .c-sess .l2').textContent(), /^max \d+ \/ 200$/, 'session peak and --backend-max-conns');
    t.match(await page.locator('#pools-body .l2').nth(2).textContent(), /\/ 1,024$/, 'the --max-queue limit of the pool');
    t.match((await page.locator('#events li.past[data-backend="web-4"]').innerText()).replace(/\s+/g, ' '), /^\d\d:\d\d:\d\d web-4 \u2192 down before this page$/, 'the changes from before the page are listed');

    if (width === 1280) {
      // the CSV link: a download of /stats.csv, the same backends as /stats
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10_000 }), page.click('#csv-link')]);
      t.equal(download.suggestedFilename(), 'lb4-stats.csv');
      const file = await download.path();
      const rows = csvRecords(readFileSync(file, 'utf8'));
      t.same(rows.filter((r) => r.type === 'backend').map((r) => r.name), ['web-1', 'web-2', 'web-3', 'web-4'], 'the CSV lists the backends');
      t.equal(rows.find((r) => r.name === 'web-4')!.state, 'down');

      // a reload: the charts start from lb4's history, not from nothing
      const reloadAt = Date.now();
      await page.reload({ waitUntil: 'load' });
      await page.waitForFunction(() => Number(document.getElementById('chart-rate')?.getAttribute('data-history')) > 2, undefined, { timeout: 10_000 });
      const drawn = await page.evaluate((reloadAt: number) => {
        const c = document.getElementById('chart-rate');
        const [left, top, w, h] = String(c.getAttribute('data-plot')).split(' ').map(Number) as [number, number, number, number];
        const now = Number(c.getAttribute('data-now'));
        const win = 15 * 60 * 1000;
        const X = (t: number): number => left + (w * (t - (now - win))) / win;
        const first = Number(c.getAttribute('data-first'));
        const x1 = Math.max(left, Math.floor(X(first))), x2 = Math.floor(X(reloadAt - 1000));
        const dpr = window.devicePixelRatio || 1;
        const img = c.getContext('2d').getImageData(Math.round(x1 * dpr), Math.round(top * dpr), Math.max(1, Math.round((x2 - x1) * dpr)), Math.round(h * dpr));
        let coloured = 0;
        for (let i = 0; i < img.data.length; i += 4) if (img.data[i + 3] > 0 && img.data[i + 1] > img.data[i] + 40) coloured++;
        return { first, x1, x2, coloured };
      }, reloadAt);
      t.ok(drawn.first < reloadAt - 5000, `the chart's first point is from before the reload (${reloadAt - drawn.first} ms)`);
      t.ok(drawn.coloured > 0, `the history is drawn left of the reload (${drawn.coloured} coloured pixels in x ${drawn.x1}..${drawn.x2})`);
      await page.waitForFunction(() => /\/s$/.test(document.getElementById('key-rate')?.textContent ?? ''), undefined, { timeout: 10_000 });
    }

    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: `${OUT}/dashboard-${width}.png`, fullPage: true, timeout: 10_000 });
    if (UPDATE_SCREENSHOTS) {
      mkdirSync(`${ROOT}docs`, { recursive: true });
      copyFileSync(`${OUT}/dashboard-${width}.png`, `${ROOT}docs/dashboard-${width}.png`);
    }
    t.same(errors, [], `${width} px: no console errors (a CSP violation would be one)`);
    await page.context().close();
  }
});

t.test('listener labels: TLS in L4, HTTPS in L7, PROXY with --accept-proxy', { skip: noChromium, timeout: 90_000 }, async (t) => {
  const certs = await makeCerts();
  t.teardown(() => certs.cleanup());
  const [b] = await named(t, 'b');
  const web = await httpBackend('web');
  t.teardown(() => web.close());
  const tls = ['--tls-cert', certs.cert, '--tls-key', certs.key];
  const cases: Array<[string, string[]]> = [
    ['TCP + PROXY', ['--backend', b!.address, '--accept-proxy']],
    ['TLS', ['--backend', b!.address, ...tls]],
    ['HTTPS + PROXY', ['--mode', 'l7', '--backend', web.address, '--accept-proxy', ...tls]],
  ];
  const browser = await launch(t);
  for (const [label, args] of cases) {
    const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--health-check', 'off', ...args]);
    const { page, errors } = await openPage(browser, `http://127.0.0.1:${lb.adminPort}/`, 800, 700);
    await page.waitForFunction(() => (document.querySelector('#listeners-body td.proto')?.textContent ?? '') !== '');
    t.equal(await page.locator('#listeners-body td.proto').first().textContent(), label, `${args.filter((a) => a.startsWith('--') && a !== '--backend' && a !== '--tls-key').join(' ')}: ${label}`);
    t.same(errors, []);
    await page.context().close();
    await lb.stop();
  }
});
