/**
 * Calls to lb4's admin HTTP API (SPEC section 5) for tests: one request per
 * fresh connection (agent: false), 5 s timeout.
 */
import type http from 'node:http';
import { request } from './clients.js';

export interface AdminResult {
  status: number;
  /** the parsed JSON body, or undefined when the body is not JSON */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  /** the body as text */
  body: string;
  headers: http.IncomingHttpHeaders;
}

function parse(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** `GET path` on the admin server at 127.0.0.1:`port`. */
export async function getJson(port: number, path: string, opts: { host?: string; timeoutMs?: number } = {}): Promise<AdminResult> {
  const r = await request(port, path, { host: opts.host, timeoutMs: opts.timeoutMs });
  return { status: r.status, json: parse(r.body), body: r.body, headers: r.headers };
}

/**
 * `POST path` on the admin server; with `token`, sends
 * `Authorization: Bearer TOKEN` (pass `rawAuthorization` to send any header value).
 */
export async function post(
  port: number,
  path: string,
  token?: string,
  opts: { host?: string; timeoutMs?: number; rawAuthorization?: string; body?: string } = {},
): Promise<AdminResult> {
  const headers: http.OutgoingHttpHeaders = {};
  if (opts.rawAuthorization !== undefined) headers.authorization = opts.rawAuthorization;
  else if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const r = await request(port, path, {
    method: 'POST',
    headers,
    body: opts.body ?? '',
    host: opts.host,
    timeoutMs: opts.timeoutMs,
  });
  return { status: r.status, json: parse(r.body), body: r.body, headers: r.headers };
}
