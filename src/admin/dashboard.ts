/**
 * `GET /`: the live dashboard (README "Dashboard"). The page is three real
 * files in src/admin/dashboard/ (index.html, dashboard.css, dashboard.js:
 * plain browser JavaScript, no bundler, no CDN), copied next to this module
 * into dist/admin/dashboard/ by `npm run build` (scripts/copy-dashboard.mjs).
 *
 * They are read once, when the admin server is made. index.html links the
 * style sheet and the script the ordinary way (so it opens as a file too);
 * the served page has those two tags replaced by the files' contents, byte
 * for byte, inline, so that a strict Content-Security-Policy can allow
 * exactly them by hash: no other script or style runs, fetches go only to
 * the admin server itself. One response, with an ETag of its bytes.
 *
 * The server sends the same bytes to everyone and never embeds the admin
 * token: the operator types it into the page, which keeps it in
 * sessionStorage and sends it as `Authorization: Bearer` on the drain /
 * disable / enable calls (a header a cross-site form cannot send, so the
 * POST API needs no CSRF token). Everything from /stats is inserted as text.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Where the asset files are: src/admin/dashboard/ in the sources, dist/admin/dashboard/ once built. */
export const DASHBOARD_DIR = new URL('./dashboard/', import.meta.url);

/** The two tags of index.html that the server replaces by the files' contents. */
export const STYLE_TAG = '<link rel="stylesheet" href="dashboard.css">';
export const SCRIPT_TAG = '<script src="dashboard.js"></script>';

export interface DashboardPage {
  /** The three files as read. */
  readonly html: string;
  readonly css: string;
  readonly js: string;
  /** The served page: index.html with the style and script inline. */
  readonly body: Buffer;
  readonly etag: string;
  readonly csp: string;
}

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('base64');

/** Read the asset files of `dir` and build the page, its ETag and its CSP. */
export function loadDashboard(dir: URL = DASHBOARD_DIR): DashboardPage {
  const read = (name: string): string => {
    try {
      return readFileSync(new URL(name, dir), 'utf8');
    } catch (err) {
      throw new Error(`dashboard asset ${name} not found in ${dir.pathname} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): rebuild with npm run build`);
    }
  };
  const html = read('index.html');
  const css = read('dashboard.css');
  const js = read('dashboard.js');
  for (const [text, what] of [[html, STYLE_TAG], [html, SCRIPT_TAG]] as const) {
    if (text.split(what).length !== 2) throw new Error(`dashboard index.html must hold ${what} exactly once`);
  }
  // inline, a closing tag inside would end the element early
  if (/<\/style/i.test(css)) throw new Error('dashboard.css must not contain </style');
  if (/<\/script/i.test(js)) throw new Error('dashboard.js must not contain </script');
  const page = html.replace(STYLE_TAG, () => `<style>${css}</style>`).replace(SCRIPT_TAG, () => `<script>${js}</script>`);
  const body = Buffer.from(page, 'utf8');
  const csp = [
    "default-src 'none'",
    `script-src 'sha256-${sha256(js)}'`,
    `style-src 'sha256-${sha256(css)}'`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { html, css, js, body, etag, csp };
}

let loaded: DashboardPage | null = null;

/** Register `GET /` on the admin server (the files are read on the first call only). */
export function registerDashboard(admin: { routes: Map<string, (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>> }): void {
  const page = (loaded ??= loadDashboard());
  admin.routes.set('/', (req, res) => {
    const headers = {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-cache',
      ETag: page.etag,
      'Content-Security-Policy': page.csp,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'X-Frame-Options': 'DENY',
    };
    if (req.headers['if-none-match'] === page.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': page.body.length });
    res.end(req.method === 'HEAD' ? undefined : page.body);
  });
}
