/**
 * Calls to lb4's admin HTTP API (docs/reference.md, "Admin API") for tests: one request per
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
  opts: { host?: string; timeoutMs?: number; rawAuthorization?: string; body?: string; method?: string } = {},
): Promise<AdminResult> {
  const headers: http.OutgoingHttpHeaders = {};
  if (opts.rawAuthorization !== undefined) headers.authorization = opts.rawAuthorization;
  else if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const r = await request(port, path, {
    method: opts.method ?? 'POST',
    headers,
    body: opts.body ?? '',
    host: opts.host,
    timeoutMs: opts.timeoutMs,
  });
  return { status: r.status, json: parse(r.body), body: r.body, headers: r.headers };
}

/**
 * Parse RFC 4180 CSV (CRLF or LF line ends, quoted fields with doubled
 * quotes, commas and line breaks inside quotes) into rows of fields.
 * Throws on a stray quote, so a malformed export fails the test.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        if (i < text.length && !',\r\n'.includes(text[i]!)) throw new Error(`CSV: text after a closing quote at ${i}`);
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"') {
      if (field !== '') throw new Error(`CSV: quote inside an unquoted field at ${i}`);
      quoted = true;
      i++;
    } else if (c === ',') {
      row.push(field);
      field = '';
      i++;
    } else if (c === '\r' || c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += c === '\r' && text[i + 1] === '\n' ? 2 : 1;
    } else {
      field += c;
      i++;
    }
  }
  if (quoted) throw new Error('CSV: unterminated quoted field');
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** CSV rows as objects keyed by the header row's names. */
export function csvRecords(text: string): Array<Record<string, string>> {
  const [header, ...rows] = parseCsv(text);
  if (!header) throw new Error('CSV: no header row');
  return rows.map((r) => {
    if (r.length !== header.length) throw new Error(`CSV: row of ${r.length} fields, header has ${header.length}: ${r.join(',')}`);
    return Object.fromEntries(header.map((h, i) => [h, r[i]!]));
  });
}

/** A changing call with a JSON body (`POST /backends`, `PUT /backends/NAME/weight`, `DELETE /backends/NAME`). */
export function call(port: number, method: string, path: string, token: string | undefined, body?: unknown): Promise<AdminResult> {
  return post(port, path, token, { method, body: body === undefined ? undefined : JSON.stringify(body) });
}
