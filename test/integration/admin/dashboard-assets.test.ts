/**
 * `GET /` through bin/lb4 (so from dist/, as built and packed) serves the
 * asset files of src/admin/dashboard/ byte for byte (inline), with the CSP
 * hashes of those files, an ETag that answers 304, and HEAD without a body.
 * A stale or missing copy in dist/ fails here.
 */
import t from 'tap';
import { request } from '../../helpers/clients.js';
import { withLb4 } from '../../helpers/lb4.js';
import { loadDashboard } from '../../../src/admin/dashboard.js';

t.test('the page served by lb4 is the asset files', async (t) => {
  const lb = await withLb4(t, ['--listen', '127.0.0.1:0', '--backend', '127.0.0.1:9,name=a', '--health-check', 'off', '--admin', '127.0.0.1:0']);
  const admin = lb.adminPort!;
  const want = loadDashboard(); // from src/admin/dashboard/
  const r = await request(admin, '/');
  t.equal(r.status, 200);
  t.ok(r.raw.equals(want.body), 'the served bytes are index.html with dashboard.css and dashboard.js inline');
  t.equal(r.headers['content-security-policy'], want.csp, 'the CSP carries the hashes of the files');
  t.equal(r.headers.etag, want.etag);
  t.equal(r.headers['content-type'], 'text/html; charset=utf-8');
  t.equal(r.headers['x-content-type-options'], 'nosniff');
  const again = await request(admin, '/', { headers: { 'if-none-match': want.etag } });
  t.equal(again.status, 304, 'If-None-Match with the ETag: 304');
  t.equal(again.body, '');
  const head = await request(admin, '/', { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.headers['content-length'], String(want.body.length));
  t.equal(head.body, '');
});
