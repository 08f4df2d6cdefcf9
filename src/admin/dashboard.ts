/**
 * `GET /`: the live dashboard (SPEC section 5). One self-contained page (no
 * CDN, no external fonts; src/admin/dashboard-page.ts) that polls `/stats`
 * every second and draws everything in the browser.
 *
 * The server sends the same bytes to everyone and never embeds the admin
 * token: the operator types it into the page, which keeps it in
 * sessionStorage and sends it as `Authorization: Bearer` on the drain /
 * disable / enable calls (a header a cross-site form cannot send, so the
 * POST API needs no CSRF token). A strict Content-Security-Policy allows
 * only the page's own inline script and style (by hash) and fetches to the
 * admin server itself.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DASHBOARD_CSS, DASHBOARD_JS, dashboardHtml } from './dashboard-page.js';

const hash = (s: string): string => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

const BODY = Buffer.from(dashboardHtml(), 'utf8');
const ETAG = `"${createHash('sha256').update(BODY).digest('base64url').slice(0, 27)}"`;
const CSP = [
  "default-src 'none'",
  `script-src ${hash(DASHBOARD_JS)}`,
  `style-src ${hash(DASHBOARD_CSS)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Register `GET /` on the admin server. Called once from the AdminServer constructor. */
export function registerDashboard(admin: { routes: Map<string, (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>> }): void {
  admin.routes.set('/', (req, res) => {
    const headers = {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-cache',
      ETag: ETAG,
      'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'X-Frame-Options': 'DENY',
    };
    if (req.headers['if-none-match'] === ETAG) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': BODY.length });
    res.end(req.method === 'HEAD' ? undefined : BODY);
  });
}
