/**
 * The admin HTTP server (README "Admin API"): /ping, /health, /stats (and
 * its CSV form, /stats.csv), /stats/history, /config, /metrics, the
 * dashboard at /, and the backend state changes behind a bearer token. Request bodies go through body.ts (64 KiB at most,
 * 413 beyond; calls refused for auth are answered without reading theirs,
 * and their connection is closed). Not on the data path: JSON.stringify is
 * fine here.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { HostPort } from '../core/address.js';
import { formatHostPort } from '../core/address.js';
import type { AdminAction, AdminSource } from './source.js';
import { ListenError, systemErrorTextWithCode } from '../core/errors.js';
import { buildStats, backendStats } from './stats.js';
import { describeConfig } from '../config/load.js';
import { LbMetrics } from './metrics.js';
import { registerDashboard } from './dashboard.js';
import { hasBody, readBody } from './body.js';
import { backendsApi } from './backends-api.js';
import { sendJson, sendText } from './send.js';

export { sendJson, sendText } from './send.js';
export { tokenMatches } from './backends-api.js';
import { statsCsv } from './csv.js';
import { History, HISTORY_INTERVAL_MS, snapshotOf } from './history.js';



/** Extra routes other modules register (metrics, dashboard). */
export type AdminRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/**
 * The history's sampling interval: 5 s, or LB4_HISTORY_INTERVAL_MS (internal,
 * for the tests: not a setting, not in --help; 10 ms at least).
 */
export function historyIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.LB4_HISTORY_INTERVAL_MS);
  return Number.isInteger(v) && v >= 10 ? v : HISTORY_INTERVAL_MS;
}

export class AdminServer {
  readonly lb: AdminSource;
  readonly address: HostPort;
  readonly server: Server;
  port = 0;
  /** GET routes by exact path, added by the metrics and dashboard modules. */
  readonly routes = new Map<string, AdminRoute>();
  /** This balancer's Prometheus metrics. */
  readonly metrics: LbMetrics;
  /** The last 15 minutes of the charted series (GET /stats/history), sampled while listening. */
  readonly history: History;
  private historyTimer: NodeJS.Timeout | null = null;
  private sampling = false;

  constructor(lb: AdminSource, address: HostPort, opts: { historyIntervalMs?: number } = {}) {
    this.lb = lb;
    this.address = address;
    this.history = new History(opts.historyIntervalMs ?? historyIntervalMs());
    this.metrics = new LbMetrics(lb);
    this.metrics.register(this);
    registerDashboard(this);
    this.server = createServer({ keepAliveTimeout: 5000 }, (req, res) => {
      this.handle(req, res).catch((err: Error) => {
        lb.loggers.log.error({ err: err.message, url: req.url }, 'admin request failed');
        if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(new ListenError(`cannot listen on ${formatHostPort(this.address.host, this.address.port)} (--admin): ${systemErrorTextWithCode(err)}`, err.code));
      this.server.once('error', onError);
      this.server.listen({ host: this.address.host, port: this.address.port }, () => {
        this.server.removeListener('error', onError);
        this.server.on('error', (err) => this.lb.loggers.log.error({ err: err.message }, 'admin server error'));
        const a = this.server.address();
        this.port = typeof a === 'object' && a ? a.port : this.address.port;
        this.startHistory();
        resolve();
      });
    });
  }

  close(): Promise<void> {
    if (this.historyTimer) clearInterval(this.historyTimer);
    this.historyTimer = null;
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Sample the balancer into the history every interval (an unref'd timer: it never keeps the process up). */
  private startHistory(): void {
    this.history.start(Date.now(), snapshotOf(this.lb));
    this.historyTimer = setInterval(() => void this.sampleHistory(), this.history.intervalMs);
    this.historyTimer.unref();
  }

  private async sampleHistory(): Promise<void> {
    if (this.sampling) return; // the --workers primary's refresh can take up to its IPC timeout
    this.sampling = true;
    try {
      if (this.lb.refresh) await this.lb.refresh();
      if (this.historyTimer) this.history.record(Date.now(), snapshotOf(this.lb));
    } catch (err) {
      this.lb.loggers.log.error({ err: (err as Error).message }, 'admin history sample failed');
    } finally {
      this.sampling = false;
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === '/backends' || path.startsWith('/backends/')) return backendsApi(this.lb, req, res, path, method);
    // The read calls take no body: one that comes anyway is read (and
    // dropped) up to the limit, so that the connection stays in step; more is a 413.
    if (hasBody(req) && (await readBody(req, res)) === null) return;
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendJson(res, 405, { error: `method ${method} not allowed on ${path}` });
    }
    const lb = this.lb;
    switch (path) {
      case '/ping':
        return sendJson(res, 200, { status: 'ok' });
      case '/health': {
        let total = 0;
        let up = 0;
        for (const p of lb.pools.values()) {
          for (const b of p.backends) {
            total++;
            if (b.state === 'up') up++;
          }
        }
        if (lb.draining) return sendJson(res, 503, { status: 'draining', up, total });
        if (up > 0) return sendJson(res, 200, { status: 'ok', up, total });
        return sendJson(res, 503, { status: 'down', up: 0, total });
      }
      case '/stats':
        return sendJson(res, 200, buildStats(lb));
      case '/stats.csv':
      case '/stats;csv':
        if (lb.refresh) await lb.refresh();
        return sendText(res, 200, 'text/csv; charset=utf-8; header=present', statsCsv(buildStats(lb)));
      case '/stats/history':
        return sendJson(res, 200, this.history.toJSON());
      case '/config':
        return sendJson(res, 200, describeConfig(lb.config));
    }
    const route = this.routes.get(path);
    if (route) return route(req, res, url);
    return sendJson(res, 404, { error: `no such endpoint ${path}` });
  }
}


