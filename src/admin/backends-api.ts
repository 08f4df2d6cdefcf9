/**
 * The admin calls that change backends (README "Admin API"), behind the
 * bearer token:
 *
 *   POST   /backends/NAME/drain|disable|enable   200 with the backend's /stats entry
 *   POST   /backends      {"address","name"?,"weight"?,"pool"?}   201 (409 name taken, 400 invalid, 404 no such pool)
 *   PUT    /backends/NAME/weight   {"weight":N}   200
 *   DELETE /backends/NAME          202: it drains, then leaves
 *
 * Checked in this order: the path (404) and method (405), then auth (no
 * Authorization header 401; a wrong token, or none configured, 403: both
 * answered without reading the body, and the connection closed), then the
 * body (at most 64 KiB: 413; not JSON: 400), then its fields (400), then the
 * backend (404 unknown, 409 taken). Additions, weights and removals last
 * until the next reload or restart; a backend added here has `source: "api"`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseBackendName, parseHostPort, parseWeight, type BackendSpec } from '../config/parse.js';
import type { AdminAction, AdminSource } from './source.js';
import { backendStats } from './stats.js';
import { hasBody, readBody, readJson, refuse } from './body.js';
import { sendJson } from './send.js';

const ACTIONS = new Set(['drain', 'disable', 'enable']);
const ADD_KEYS = ['address', 'name', 'weight', 'pool'];

/** Compare a presented token with the configured one in constant time (hashes of equal length). */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Answer before the body was read: with a body pending, the connection is closed instead of reading it. */
function answerUnread(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (hasBody(res.req)) return refuse(res, status, body, headers);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  sendJson(res, status, body);
}

/** The route of a changing call, or null (404). */
type Route =
  | { readonly kind: 'action'; readonly name: string; readonly action: AdminAction; readonly method: 'POST' }
  | { readonly kind: 'add'; readonly method: 'POST' }
  | { readonly kind: 'weight'; readonly name: string; readonly method: 'PUT' }
  | { readonly kind: 'delete'; readonly name: string; readonly method: 'DELETE' };

function routeOf(path: string): Route | null | 'bad-name' {
  if (path === '/backends' || path === '/backends/') return { kind: 'add', method: 'POST' };
  const parts = path.split('/'); // ['', 'backends', NAME, ACTION?]
  if (parts.length < 3 || parts.length > 4 || parts[2] === '') return null;
  let name: string;
  try {
    name = decodeURIComponent(parts[2]!);
  } catch {
    return 'bad-name';
  }
  if (parts.length === 3) return { kind: 'delete', name, method: 'DELETE' };
  const last = parts[3]!;
  if (last === 'weight') return { kind: 'weight', name, method: 'PUT' };
  if (ACTIONS.has(last)) return { kind: 'action', name, action: last as AdminAction, method: 'POST' };
  return null;
}

/** Handle a request under /backends. */
export async function backendsApi(lb: AdminSource, req: IncomingMessage, res: ServerResponse, path: string, method: string): Promise<void> {
  const route = routeOf(path);
  if (route === null) return answerUnread(res, 404, { error: `no such endpoint ${path}` });
  if (route !== 'bad-name' && method !== route.method) return answerUnread(res, 405, { error: `use ${route.method} ${path}` }, { Allow: route.method });
  const auth = req.headers.authorization;
  if (auth === undefined) return refuse(res, 401, { error: 'missing Authorization: Bearer TOKEN' }, { 'WWW-Authenticate': 'Bearer realm="lb4"' });
  const token = lb.config.adminToken;
  const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
  if (token === null || m === null || !tokenMatches(m[1]!, token)) return refuse(res, 403, { error: 'forbidden' });
  if (route === 'bad-name') {
    if ((await readBody(req, res)) === null) return;
    return sendJson(res, 404, { error: 'no such backend' });
  }
  switch (route.kind) {
    case 'action':
      return action(lb, req, res, route.name, route.action);
    case 'add':
      return add(lb, req, res);
    case 'weight':
      return weight(lb, req, res, route.name);
    case 'delete':
      return remove(lb, req, res, route.name);
  }
}

/** The backend's /stats entry. */
function entry(lb: AdminSource, name: string): unknown {
  lb.sync();
  const b = lb.findBackend(name)!;
  return backendStats(b, lb.poolOf(b)?.name, lb.config.backendMaxConns);
}

async function action(lb: AdminSource, req: IncomingMessage, res: ServerResponse, name: string, what: AdminAction): Promise<void> {
  // these calls take no body; one that comes anyway must fit the limit
  if ((await readBody(req, res)) === null) return;
  const b = lb.findBackend(name);
  if (!b) return sendJson(res, 404, { error: `no such backend ${name}` });
  lb.setAdminState(b, what);
  return sendJson(res, 200, entry(lb, name));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

async function add(lb: AdminSource, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJson(req, res);
  if (body === null) return;
  const v = body.value;
  if (!isObject(v)) return sendJson(res, 400, { error: 'expected a JSON object {"address":"HOST:PORT","name":"x","weight":N,"pool":"P"}' });
  for (const k of Object.keys(v)) if (!ADD_KEYS.includes(k)) return sendJson(res, 400, { error: `${k}: unknown field (known: ${ADD_KEYS.join(', ')})` });
  let spec: BackendSpec;
  try {
    if (typeof v.address !== 'string') throw new Error('address: missing (HOST:PORT)');
    const hp = parseHostPort(v.address);
    if (hp.port === 0) throw new Error('address: port 0');
    const w = v.weight === undefined ? 1 : parseWeight(v.weight as string | number);
    if (v.name !== undefined && typeof v.name !== 'string') throw new Error('name: expected a string');
    const name = v.name === undefined ? `${hp.host}:${hp.port}` : parseBackendName(v.name);
    spec = { host: hp.host, port: hp.port, weight: w, name };
  } catch (err) {
    return sendJson(res, 400, { error: (err as Error).message });
  }
  if (v.pool !== undefined && typeof v.pool !== 'string') return sendJson(res, 400, { error: 'pool: expected a string' });
  const pool = (v.pool as string | undefined) ?? null;
  switch (lb.addBackend(pool, spec)) {
    case 'exists':
      return sendJson(res, 409, { error: `a backend named ${spec.name} exists` });
    case 'no-pool':
      return sendJson(res, 404, { error: `no such pool ${pool}` });
    case 'ok':
      return sendJson(res, 201, entry(lb, spec.name));
  }
}

async function weight(lb: AdminSource, req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
  const body = await readJson(req, res);
  if (body === null) return;
  const v = body.value;
  if (!isObject(v) || v.weight === undefined) return sendJson(res, 400, { error: 'expected {"weight":N}' });
  let w: number;
  try {
    w = parseWeight(v.weight as string | number);
  } catch (err) {
    return sendJson(res, 400, { error: `weight: ${(err as Error).message}` });
  }
  if (lb.setBackendWeight(name, w) === null) return sendJson(res, 404, { error: `no such backend ${name}` });
  return sendJson(res, 200, entry(lb, name));
}

async function remove(lb: AdminSource, req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
  if ((await readBody(req, res)) === null) return;
  if (!lb.removeBackend(name)) return sendJson(res, 404, { error: `no such backend ${name}` });
  // it drains what it carries, then leaves /stats
  const b = lb.findBackend(name);
  if (b === undefined) return sendJson(res, 202, { name, state: 'removed' });
  return sendJson(res, 202, entry(lb, name));
}
