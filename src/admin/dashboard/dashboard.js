/*
 * lb4's dashboard (served at GET / by src/admin/dashboard.ts, inline, by
 * hash). Plain browser JavaScript, no build step, no dependency.
 *
 * - Polls `stats` (relative, so the page also works behind a path prefix)
 *   every second and renders the cards, the backends (the columns of
 *   HAProxy's stats page), listeners, pools, connection ends and events.
 * - Charts 15 minutes: on start it loads `stats/history` (sampled by lb4
 *   every 5 s, so the charts survive a reload), then appends a point per
 *   poll, computed from the difference of the totals.
 * - The admin token is typed by the operator, kept in sessionStorage and
 *   sent as `Authorization: Bearer` on drain / disable / enable only.
 * - Every text from lb4 is inserted with textContent, never as HTML.
 */
(function () {
  'use strict';
  const POLL_MS = 1000;
  const WINDOW_MS = 15 * 60 * 1000;
  /** A hole longer than this between two points is drawn as a gap. */
  const GAP_MS = 20 * 1000;
  const MAX_EVENTS = 100;
  const TOKEN_KEY = 'lb4.adminToken';
  const PALETTE = ['--s1', '--s2', '--s3', '--s4', '--s5', '--s6', '--s7', '--s8'];
  /** End reasons that are not a normal close. */
  const BAD_ENDS = new Set(['client-error', 'backend-error', 'no-backend', 'queue-timeout', 'queue-full', 'max-conns', 'proxy-error', 'tls-error', 'client-limit']);

  const $ = (id) => document.getElementById(id);
  const store = (() => { try { return window.sessionStorage; } catch (e) { return null; } })();

  let token = (store && store.getItem(TOKEN_KEY)) || '';
  const rows = new Map();       // "pool/name" -> row refs
  const states = new Map();     // "pool/name" -> last seen state
  const lastPanic = new Map();  // pool name -> panic
  let multiPool = false;
  let prev = null;              // the previous poll's totals
  /**
   * Chart points, oldest first: {t, bin, bout, rc (new connections/s),
   * rr (requests/s: reached a backend), active, err, queued, be: {key: [active, rate]}}.
   * The first ones come from /stats/history, the rest from the polls.
   */
  let samples = [];
  let historyPoints = 0;
  let historyAsked = false;
  let inflight = false;
  let online = null;
  let lastStats = null;
  let noticeTimer = 0;

  // ---- formatting ----
  const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
  const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  function fmtBytes(n) {
    if (!(n >= 0)) return '0 B';
    let i = 0;
    while (n >= 1024 && i < UNITS.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + ' ' + UNITS[i];
  }
  const fmtRate = (n) => fmtBytes(n) + '/s';
  function fmtAxisRate(n) {
    // axis ticks are round numbers: 2 MiB/s, not 2.00 MiB/s
    let i = 0;
    while (n >= 1024 && i < UNITS.length - 1) { n /= 1024; i++; }
    return String(Number(n.toFixed(2))) + ' ' + UNITS[i] + '/s';
  }
  const fmtNum = (n) => (n > 0 && n < 10 && n % 1 ? n.toFixed(1) : fmtInt(n));
  const fmtPerSec = (n) => fmtNum(n) + '/s';
  function fmtMs(ms) {
    if (ms < 1) return ms.toFixed(ms < 0.1 ? 2 : 1) + ' ms';
    if (ms < 1000) return (ms < 10 ? ms.toFixed(1) : String(Math.round(ms))) + ' ms';
    return (ms / 1000).toFixed(2) + ' s';
  }
  const pad = (n) => (n < 10 ? '0' + n : String(n));
  const fmtClock = (d) => pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  const fmtDate = (d) => d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + fmtClock(d);
  function fmtDuration(s) {
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + pad(m) + 'm';
    if (m > 0) return m + 'm ' + pad(sec) + 's';
    return sec + 's';
  }
  function fmtAgo(iso, now) {
    if (!iso) return 'never';
    const s = (now - Date.parse(iso)) / 1000;
    if (s < 1) return 'now';
    if (s < 60) return Math.floor(s) + 's ago';
    if (s < 3600) return Math.floor(s / 60) + 'm ago';
    if (s < 86400) return Math.floor(s / 3600) + 'h ago';
    return Math.floor(s / 86400) + 'd ago';
  }

  // ---- DOM helpers (text only: nothing from lb4 is parsed as HTML) ----
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function setText(e, text) {
    text = String(text);
    if (e.textContent !== text) e.textContent = text;
  }
  function setClass(e, cls) { if (e.className !== cls) e.className = cls; }
  function setTitle(e, t) { if (e.title !== t) e.title = t; }
  /** A cell of two lines: `l1` the value, `l2` its detail. */
  function cell(cls) {
    const td = el('td', cls);
    td.setAttribute('role', 'cell');
    td.l1 = el('span', 'l1');
    td.l2 = el('span', 'l2');
    td.append(td.l1, td.l2);
    return td;
  }
  function setCell(td, one, two, title) {
    setText(td.l1, one);
    setText(td.l2, two);
    if (title !== undefined) setTitle(td, title);
  }
  /** The chart colour of the i-th backend: the first eight have one (more lines would be noise). */
  const colorOf = (i) => (i < PALETTE.length ? PALETTE[i] : null);

  // ---- token ----
  function applyToken() {
    const on = token !== '';
    document.body.classList.toggle('unlocked', on);
    $('token-form').hidden = on;
    $('token-on').hidden = !on;
  }
  function notice(text, ok) {
    const n = $('notice');
    n.textContent = text;
    n.className = 'notice ' + (ok ? 'ok' : 'err');
    n.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { n.hidden = true; }, 5000);
  }
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = $('token').value.trim();
    if (!v) return;
    token = v;
    if (store) store.setItem(TOKEN_KEY, v);
    $('token').value = '';
    applyToken();
  });
  $('token-clear').addEventListener('click', () => {
    token = '';
    if (store) store.removeItem(TOKEN_KEY);
    applyToken();
  });

  function act(name, action, buttons) {
    buttons.forEach((b) => { b.disabled = true; });
    fetch('backends/' + encodeURIComponent(name) + '/' + action, {
      method: 'POST', cache: 'no-store', headers: { Authorization: 'Bearer ' + token },
    }).then((r) => {
      if (r.status === 401 || r.status === 403) notice('Token rejected (' + r.status + ')', false);
      else if (!r.ok) notice(action + ' ' + name + ' failed (' + r.status + ')', false);
      else notice(name + ': ' + action + ' done', true);
    }).catch(() => {
      notice(action + ' ' + name + ': admin API unreachable', false);
    }).then(() => {
      buttons.forEach((b) => { b.disabled = false; });
      poll();
    });
  }
  $('backends-body').addEventListener('click', (e) => {
    const b = e.target && e.target.closest ? e.target.closest('button[data-action]') : null;
    if (!b) return;
    const tr = b.closest('tr');
    const ref = tr && rows.get(tr.getAttribute('data-key'));
    if (!ref || !token) return;
    act(ref.name, b.getAttribute('data-action'), [ref.drain, ref.disable, ref.enable]);
  });

  // ---- backends table ----
  function makeRow(key, name, pool) {
    const r = { name: name, tr: el('tr') };
    r.tr.setAttribute('role', 'row');
    r.tr.setAttribute('data-key', key);
    r.tr.setAttribute('data-backend', name);
    if (pool) r.tr.setAttribute('data-pool', pool);
    r.cName = cell('c-name');
    r.swatch = el('span', 'swatch');
    r.nameEl = el('span', 'name', name);
    r.cName.l1.append(r.swatch, r.nameEl);
    r.poolTag = el('span', 'pool-tag', pool || '');
    r.addrText = el('span', 'addr');
    r.cName.l2.append(r.poolTag, r.addrText);
    r.cState = el('td', 'c-state');
    r.cState.setAttribute('role', 'cell');
    r.badge = el('span', 'badge state');
    const b1 = el('span', 'l1');
    b1.append(r.badge);
    r.since = el('span', 'l2');
    r.cState.append(b1, r.since);
    r.weight = cell('c-weight num');
    r.sess = cell('c-sess num');
    r.rate = cell('c-rate num');
    r.total = cell('c-total num');
    r.bytes = cell('c-bytes num');
    r.err = cell('c-err num');
    r.warn = cell('c-warn num');
    r.down = cell('c-down num');
    r.cCheck = el('td', 'c-check');
    r.cCheck.setAttribute('role', 'cell');
    r.check = el('span', 'l1 check');
    r.checkText = el('span', 'check-text');
    r.check.append(r.checkText);
    r.checkSub = el('span', 'l2');
    r.cCheck.append(r.check, r.checkSub);
    r.resp = cell('c-resp num');
    r.lat = cell('c-lat num');
    r.cAct = el('td', 'c-act');
    r.cAct.setAttribute('role', 'cell');
    const box = el('div', 'actions');
    r.drain = el('button', '', 'Drain');
    r.disable = el('button', '', 'Disable');
    r.enable = el('button', '', 'Enable');
    [[r.drain, 'drain'], [r.disable, 'disable'], [r.enable, 'enable']].forEach((x) => {
      x[0].type = 'button';
      x[0].setAttribute('data-action', x[1]);
      box.append(x[0]);
    });
    r.cAct.append(box);
    r.tr.append(r.cName, r.cState, r.weight, r.sess, r.rate, r.total, r.bytes, r.err, r.warn, r.down, r.cCheck, r.resp, r.lat, r.cAct);
    return r;
  }

  function flash(r, state) {
    r.tr.classList.remove('flash-up', 'flash-down', 'flash-draining', 'flash-disabled');
    void r.tr.offsetWidth; // restart the animation
    r.tr.classList.add('flash-' + state);
  }

  function renderBackends(s, now) {
    const list = s.backends;
    const body = $('backends-body');
    const seen = new Set();
    let sumTotal = 0;
    list.forEach((b) => { sumTotal += b.total; });
    const startedAt = now - s.uptime_s * 1000;
    const past = [];
    list.forEach((b, i) => {
      const key = (b.pool || '') + '/' + b.name;
      const label = multiPool && b.pool ? b.name + ' (pool ' + b.pool + ')' : b.name;
      seen.add(key);
      let r = rows.get(key);
      if (!r) { r = makeRow(key, b.name, b.pool); rows.set(key, r); }
      if (body.children[i] !== r.tr) body.insertBefore(r.tr, body.children[i] || null);
      r.color = colorOf(i);
      r.swatch.style.background = r.color ? 'var(' + r.color + ')' : '';
      r.poolTag.hidden = !multiPool;
      setText(r.addrText, b.address);
      setTitle(r.cName, b.name + (b.pool ? ' · pool ' + b.pool : '') + ' · ' + b.address + (b.source ? ' · from ' + b.source : ''));

      // state, since its last change (or since start), and the circuit when not closed
      setClass(r.badge, 'badge state st-' + b.state);
      setText(r.badge, b.state);
      const changed = b.last_change ? Date.parse(b.last_change) : startedAt;
      const circ = b.circuit || 'closed';
      setText(r.since, fmtDuration((now - changed) / 1000) + (circ !== 'closed' ? ' · circuit ' + circ : ''));
      setClass(r.since, 'l2' + (circ !== 'closed' ? ' circuit-' + circ : ''));
      setTitle(r.cState, b.state + (b.last_change ? ' since ' + fmtDate(new Date(b.last_change)) : ' since start (no change yet)') + ' · passive circuit ' + circ);
      const rowCls = 'row-' + b.state;
      ['row-up', 'row-down', 'row-draining', 'row-disabled'].forEach((c) => { if (c !== rowCls) r.tr.classList.remove(c); });
      r.tr.classList.add(rowCls);

      const eff = b.effective_weight;
      setCell(r.weight, b.weight, eff !== undefined && eff !== b.weight ? 'eff ' + eff : '', 'configured ' + b.weight + (eff !== undefined ? ', effective ' + eff : ''));
      const max = b.max_active !== undefined ? b.max_active : b.active;
      setCell(r.sess, fmtInt(b.active), 'max ' + fmtInt(max) + (b.limit ? ' / ' + fmtInt(b.limit) : ''),
        b.active + ' now, ' + max + ' at most' + (b.limit ? ', limit ' + b.limit + ' (--backend-max-conns)' : ', no limit'));
      setCell(r.rate, fmtPerSec(b.rate || 0), 'max ' + fmtNum(b.max_rate || 0), 'in the last second: ' + (b.rate || 0) + '; peak ' + (b.max_rate || 0) + '/s');
      const pct = sumTotal > 0 ? b.total / sumTotal * 100 : 0;
      setCell(r.total, fmtInt(b.total), Math.round(pct) + '% · ' + fmtAgo(b.last_used, now),
        fmtInt(b.total) + ' (' + pct.toFixed(1) + '% of all); last used ' + (b.last_used ? new Date(b.last_used).toLocaleString() : 'never'));
      setCell(r.bytes, 'in ' + fmtBytes(b.bytes_in), 'out ' + fmtBytes(b.bytes_out), fmtInt(b.bytes_in) + ' bytes in (client → backend), ' + fmtInt(b.bytes_out) + ' out');
      const re = b.response_errors || 0;
      setCell(r.err, 'conn ' + fmtInt(b.failures), 'resp ' + fmtInt(re), b.failures + ' failed connects, ' + re + ' response errors');
      setClass(r.err.l1, 'l1' + (b.failures > 0 ? ' warnnum' : ''));
      setClass(r.err.l2, 'l2' + (re > 0 ? ' warnnum' : ''));
      setCell(r.warn, 'redisp ' + fmtInt(b.redispatches || 0), 'replay ' + fmtInt(b.replays || 0),
        (b.redispatches || 0) + ' clients sent to another backend after a failed connect, ' + (b.replays || 0) + ' requests replayed');
      const dt = b.downtime_s || 0;
      const avail = s.uptime_s > 0 ? Math.max(0, 100 - dt / s.uptime_s * 100) : 100;
      setCell(r.down, dt > 0 ? fmtDuration(dt) : '0s', (avail >= 99.995 ? '100' : avail.toFixed(2)) + '% up', dt + ' s down since start');
      setClass(r.down.l1, 'l1' + (dt > 0 ? '' : ' muted'));

      const ck = b.check || {};
      // p2c-ewma's latency estimate (connect time in L4, time to first byte in L7), with the check
      const ewma = typeof b.ewma_ms === 'number' ? 'ewma ' + fmtMs(b.ewma_ms) : '';
      const ewmaTitle = ewma ? '; latency estimate (peak EWMA) ' + b.ewma_ms + ' ms' : '';
      if (ck.last === null || ck.last === undefined) {
        setClass(r.check, 'l1 check');
        setText(r.checkText, 'no check yet');
        setTitle(r.cCheck, 'no active check has finished yet (or checks are off)' + ewmaTitle);
        setText(r.checkSub, ewma);
      } else {
        setClass(r.check, ck.last === 'ok' ? 'l1 check ok' : 'l1 check fail');
        setText(r.checkText, ck.last);
        setTitle(r.cCheck, ck.last + ' in ' + fmtMs(ck.duration_ms || 0) + (ck.last_at ? ' at ' + fmtDate(new Date(ck.last_at)) : '') + ewmaTitle);
        setText(r.checkSub, fmtMs(ck.duration_ms || 0) + (ck.last_at ? ' · ' + fmtAgo(ck.last_at, now) : '') + (ewma ? ' · ' + ewma : ''));
      }

      const rs = b.responses || {};
      const n = (c) => fmtInt(rs[c] || 0);
      // line 1 the good classes (2xx always, 1xx/3xx when seen), line 2 the errors (5xx first; the ones seen, or both at 0)
      const bad = ['5xx', '4xx'].filter((c) => rs[c] > 0);
      setCell(r.resp, ['1xx', '2xx', '3xx'].filter((c) => c === '2xx' || rs[c] > 0).map((c) => c + ' ' + n(c)).join(' · '), bad.length ? bad.map((c) => c + ' ' + n(c)).join(' · ') : '4xx 0 · 5xx 0',
        ['1xx', '2xx', '3xx', '4xx', '5xx'].map((c) => c + ' ' + (rs[c] || 0)).join(', '));
      setClass(r.resp.l2, 'l2' + (rs['5xx'] > 0 ? ' resp-5xx' : ''));
      const lat = b.latency_ms;
      if (lat) setCell(r.lat, 'p50 ' + fmtMs(lat.p50), 'p99 ' + fmtMs(lat.p99), 'p50 ' + lat.p50 + ' ms, p90 ' + lat.p90 + ' ms, p99 ' + lat.p99 + ' ms, max ' + lat.max + ' ms over ' + lat.count + ' requests');
      else setCell(r.lat, '–', '', 'no request yet');

      // only the changes that apply: enable undoes drain/disable
      r.drain.hidden = b.state === 'draining';
      r.disable.hidden = b.state === 'disabled';
      r.enable.hidden = b.state === 'up' || b.state === 'down';
      const before = states.get(key);
      if (before !== undefined && before !== b.state) {
        flash(r, b.state);
        addEvent(label, before, b.state, b.name);
      }
      // first sight: its last change before this page (a reload keeps that much)
      if (before === undefined && b.last_change) past.push([Date.parse(b.last_change), label, b.state, b.name]);
      states.set(key, b.state);
    });
    past.sort((x, y) => x[0] - y[0]).forEach((p) => addPast(p[0], p[1], p[2], p[3]));
    rows.forEach((r, key) => {
      if (!seen.has(key)) {
        r.tr.remove();
        rows.delete(key);
        states.delete(key);
        addEvent(r.name, null, 'removed from the configuration', r.name);
      }
    });
    $('backends-empty').hidden = list.length > 0;
  }

  // ---- listeners (frontends), pools ----
  /** What a listener speaks to clients: TCP/TLS in L4, HTTP/HTTPS in L7, with PROXY when a PROXY header comes first. */
  function protocolLabel(l, mode) {
    const p = l.protocol ? String(l.protocol).toUpperCase() : mode === 'l7' ? (l.tls ? 'HTTPS' : 'HTTP') : (l.tls ? 'TLS' : 'TCP');
    return l.proxy ? p + ' + PROXY' : p;
  }
  function tableRows(body, n, make) {
    while (body.children.length > n) body.removeChild(body.lastChild);
    while (body.children.length < n) body.append(make());
    return body.children;
  }
  function renderListeners(s) {
    const list = s.listeners || [];
    const limit = s.sessions && s.sessions.limit;
    const trs = tableRows($('listeners-body'), list.length, () => {
      const tr = el('tr');
      tr.addr = el('td', 'mono');
      tr.proto = el('td', 'proto');
      tr.sess = cell('num');
      tr.rate = cell('num');
      tr.acc = el('td', 'num');
      tr.denied = el('td', 'num');
      tr.errs = cell('num');
      tr.append(tr.addr, tr.proto, tr.sess, tr.rate, tr.acc, tr.denied, tr.errs);
      return tr;
    });
    list.forEach((l, i) => {
      const tr = trs[i];
      const host = String(l.address).replace(/:\d+$/, '');
      setText(tr.addr, host + ':' + l.port);
      setTitle(tr.addr, 'configured ' + l.address + ', bound port ' + l.port);
      setText(tr.proto, protocolLabel(l, s.mode));
      const max = l.max_active !== undefined ? l.max_active : l.active;
      setCell(tr.sess, fmtInt(l.active), 'max ' + fmtInt(max) + (limit ? ' / ' + fmtInt(limit) : ''),
        l.active + ' now, ' + max + ' at most' + (limit ? '; --max-conns ' + limit + ' is shared by every listener' : ''));
      setCell(tr.rate, fmtPerSec(l.rate || 0), 'max ' + fmtNum(l.max_rate || 0));
      setText(tr.acc, fmtInt(l.accepted));
      setText(tr.denied, fmtInt(l.rejected));
      setClass(tr.denied, 'num' + (l.rejected > 0 ? ' warnnum' : ''));
      setCell(tr.errs, fmtInt(l.tls_failures || 0), fmtInt(l.proxy_errors || 0), (l.tls_failures || 0) + ' failed TLS handshakes, ' + (l.proxy_errors || 0) + ' bad PROXY headers');
    });
  }
  function renderPools(s) {
    const pools = s.pools && s.pools.length ? s.pools : [];
    const trs = tableRows($('pools-body'), pools.length, () => {
      const tr = el('tr');
      tr.name = cell('');
      tr.state = el('td');
      tr.badge = el('span', 'badge');
      tr.state.append(tr.badge);
      tr.up = cell('num');
      tr.queue = cell('num');
      tr.sess = cell('num');
      tr.append(tr.name, tr.state, tr.up, tr.queue, tr.sess);
      return tr;
    });
    pools.forEach((p, i) => {
      const tr = trs[i];
      let active = 0, total = 0;
      s.backends.forEach((b) => { if (b.pool === p.name) { active += b.active; total += b.total; } });
      tr.setAttribute('data-pool', p.name);
      setCell(tr.name, p.name, p.strategy || '');
      const st = p.panic ? 'panic' : p.up > 0 ? 'up' : 'down';
      setClass(tr.badge, 'badge st-' + st);
      setText(tr.badge, st);
      setCell(tr.up, fmtInt(p.up), 'of ' + fmtInt(p.total));
      const q = p.queued || 0;
      setCell(tr.queue, fmtInt(q), 'max ' + fmtInt(p.max_queued || 0) + (p.queue_limit ? ' / ' + fmtInt(p.queue_limit) : ''),
        q + ' waiting now, ' + (p.max_queued || 0) + ' at most' + (p.queue_limit ? ', --max-queue ' + p.queue_limit : ''));
      setClass(tr.queue.l1, 'l1' + (q > 0 ? ' warnnum' : ''));
      setCell(tr.sess, fmtInt(active), fmtInt(total) + ' total');
    });
  }

  // ---- connection ends ----
  function renderEnds(s) {
    const ends = s.ends || {};
    const list = Object.keys(ends).filter((k) => ends[k] > 0).sort((a, b) => ends[b] - ends[a]);
    let sum = 0;
    list.forEach((k) => { sum += ends[k]; });
    const box = $('ends');
    const lis = tableRows(box, list.length, () => {
      const li = el('li');
      li.why = el('span', 'why');
      const bar = el('span', 'bar');
      li.fill = el('i');
      bar.append(li.fill);
      li.n = el('span', 'n');
      li.append(li.why, bar, li.n);
      return li;
    });
    list.forEach((k, i) => {
      const li = lis[i];
      setClass(li, BAD_ENDS.has(k) ? 'bad' : '');
      li.setAttribute('data-reason', k);
      setText(li.why, k);
      li.fill.style.width = (sum > 0 ? ends[k] / sum * 100 : 0).toFixed(1) + '%';
      setText(li.n, fmtInt(ends[k]));
      setTitle(li, k + ': ' + ends[k] + ' (' + (sum > 0 ? (ends[k] / sum * 100).toFixed(1) : 0) + '%)');
    });
    $('ends-empty').hidden = list.length > 0;
  }

  // ---- events ----
  function pushEvent(li) {
    const list = $('events');
    list.insertBefore(li, list.firstChild);
    while (list.children.length > MAX_EVENTS) list.removeChild(list.lastChild);
    $('events-empty').hidden = true;
    setText($('events-count'), list.children.length + (list.children.length === 1 ? ' event' : ' events'));
  }
  function addEvent(name, from, to, backend) {
    const now = new Date();
    const li = el('li');
    const time = el('time', '', fmtClock(now));
    time.dateTime = now.toISOString();
    li.append(time, el('span', 'who', name));
    if (from === null) {
      li.append(el('span', 'what', to));
      li.title = name + ': ' + to + ' at ' + fmtClock(now);
    } else {
      li.append(el('span', 'badge st-' + from, from), el('span', 'arrow', '→'), el('span', 'badge st-' + to, to));
      li.title = name + ': ' + from + ' → ' + to + ' at ' + fmtClock(now);
    }
    li.setAttribute('data-backend', backend);
    pushEvent(li);
  }
  function addPast(at, name, state, backend) {
    const d = new Date(at);
    const li = el('li', 'past');
    const time = el('time', '', fmtClock(d));
    time.dateTime = d.toISOString();
    li.append(time, el('span', 'who', name), el('span', 'arrow', '→'), el('span', 'badge st-' + state, state), el('span', 'what', 'before this page'));
    li.title = name + ': ' + state + ' since ' + fmtDate(d) + ' (its last change before this page was opened)';
    li.setAttribute('data-backend', backend);
    pushEvent(li);
  }
  function addNote(text) {
    const li = el('li');
    li.append(el('time', '', fmtClock(new Date())), el('span', 'what', text));
    pushEvent(li);
  }

  // ---- cards ----
  function renderCards(s, rates) {
    let up = 0;
    const total = s.backends.length;
    s.backends.forEach((b) => { if (b.state === 'up') up++; });
    const pools = s.pools && s.pools.length ? s.pools : (s.pool ? [s.pool] : []);
    const panicking = pools.filter((p) => p.panic);
    const panic = panicking.length > 0;
    let status, level;
    if (s.draining) { status = 'Draining'; level = 'warn'; }
    else if (panic) { status = 'Panic'; level = 'bad'; }
    else if (up === 0) { status = 'No backend up'; level = 'bad'; }
    else if (up < total) { status = 'Degraded'; level = 'warn'; }
    else { status = 'Healthy'; level = 'ok'; }
    setClass($('card-status'), 'card status ' + level);
    setText($('status'), status);
    setText($('status-sub'), up + ' of ' + total + ' backends up' + (panic && multiPool ? ' · panic: ' + panicking.map((p) => p.name).join(', ') : ''));
    const ses = s.sessions || {};
    setText($('active'), fmtInt(s.connections.active));
    let queued = 0;
    pools.forEach((p) => { if (typeof p.queued === 'number') queued += p.queued; });
    setText($('active-sub'), 'max ' + fmtInt(ses.max || 0) + (ses.limit ? ' / ' + fmtInt(ses.limit) : '') + ' · ' + fmtInt(queued) + ' queued');
    setTitle($('active-sub'), 'the most at once' + (ses.limit ? ', --max-conns ' + ses.limit : ', no --max-conns') + '; waiting in a pool queue now');
    setText($('total'), fmtInt(s.connections.total));
    const rateNow = fmtPerSec(ses.rate || 0) + ' now · max ' + fmtPerSec(ses.max_rate || 0);
    if (s.mode === 'l7') {
      let reqs = 0;
      s.backends.forEach((b) => { reqs += b.total; });
      setText($('total-sub'), fmtInt(reqs) + ' requests');
      setTitle($('total-sub'), fmtInt(reqs) + ' requests reached a backend; new connections: ' + rateNow);
    } else {
      setText($('total-sub'), rateNow);
    }
    setText($('rate'), rates ? fmtRate(rates.bin + rates.bout) : '–');
    if (rates) {
      // one unit for both when they share it: "in 2.1 · out 3.4 KiB/s"
      const a = fmtRate(rates.bin), b = fmtRate(rates.bout);
      const ua = a.slice(a.indexOf(' ')), ub = b.slice(b.indexOf(' '));
      setText($('rate-sub'), ua === ub ? 'in ' + a.slice(0, -ua.length) + ' · out ' + b : 'in ' + a + ' · out ' + b);
      setTitle($('rate-sub'), 'in ' + a + ' (client → backend), out ' + b);
    } else {
      setText($('rate-sub'), 'measuring…');
    }
    setText($('uptime'), fmtDuration(s.uptime_s));
    setText($('uptime-sub'), 'since ' + fmtDate(new Date(Date.now() - s.uptime_s * 1000)));
    setTitle($('uptime-sub'), $('uptime-sub').textContent);
    setText($('mode'), s.strategy);
    setTitle($('mode'), s.strategy);
    setText($('mode-sub'), String(s.mode).toUpperCase() + ' mode · ' + (multiPool ? pools.length + ' pools · ' : '') + (s.version ? 'lb4 ' + s.version : 'lb4'));
    pools.forEach((p) => {
      const was = lastPanic.get(p.name);
      const where = multiPool ? ' (pool ' + p.name + ')' : '';
      if (was !== undefined && was !== p.panic) addNote(p.panic ? 'panic mode' + where + ': no backend up, trying down ones' : 'panic over' + where);
      lastPanic.set(p.name, !!p.panic);
    });
  }

  // ---- charts ----
  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  function niceCeil(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    const m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
  }
  function niceBytesCeil(v) {
    if (!(v > 0)) return 1024;
    const p = Math.pow(1024, Math.floor(Math.log(v) / Math.log(1024)));
    return niceCeil(v / p) * p;
  }
  /**
   * One chart over the window ending `now`. `series`: {get(sample) → number
   * or undefined, color, width, dash, fill}. The canvas carries what it drew
   * (data-points, data-first, data-history, data-plot: the plot area,
   * data-now: the window's end) for the tests.
   */
  function drawChart(canvas, series, fmt, bytes, now) {
    const t0 = now - WINDOW_MS;
    const pts = samples.filter((p) => p.t >= t0 - POLL_MS);
    canvas.setAttribute('data-points', String(pts.length));
    canvas.setAttribute('data-first', pts.length ? String(Math.round(pts[0].t)) : '');
    canvas.setAttribute('data-history', String(pts.filter((p) => p.h).length));
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (w === 0 || h === 0) return;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const left = 62, right = 6, top = 6, bottom = 20;
    const pw = w - left - right, ph = h - top - bottom;
    canvas.setAttribute('data-plot', left + ' ' + top + ' ' + pw + ' ' + ph);
    canvas.setAttribute('data-now', String(now));
    let max = 0;
    series.forEach((s) => pts.forEach((p) => { const v = s.get(p); if (v > max) max = v; }));
    const ymax = bytes ? niceBytesCeil(max) : niceCeil(Math.max(max, 1));
    ctx.font = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
    ctx.textBaseline = 'middle';
    const grid = cssVar('--grid'), muted = cssVar('--muted');
    for (let g = 0; g <= 4; g++) {
      const y = top + ph - ph * g / 4;
      ctx.strokeStyle = grid;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(left, Math.round(y) + 0.5);
      ctx.lineTo(left + pw, Math.round(y) + 0.5);
      ctx.stroke();
      if (g % 2 === 0) {
        ctx.fillStyle = muted;
        ctx.textAlign = 'right';
        ctx.fillText(fmt(ymax * g / 4), left - 8, y);
      }
    }
    ctx.textBaseline = 'alphabetic';
    const step = pw < 300 ? 5 : 3; // minutes between x labels
    for (let m = 15; m >= 0; m -= step) {
      const x = left + pw - pw * (m * 60000) / WINDOW_MS;
      ctx.fillStyle = muted;
      ctx.textAlign = m === 15 ? 'left' : m === 0 ? 'right' : 'center';
      ctx.fillText(m === 0 ? 'now' : '−' + m + ' min', x, h - 4);
    }
    const X = (t) => left + pw * (t - t0) / WINDOW_MS;
    const Y = (v) => top + ph - ph * Math.min(v, ymax) / ymax;
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top - 2, pw, ph + 4);
    ctx.clip();
    series.forEach((s) => {
      // runs of points without a hole: each is one path
      const runs = [];
      let run = null, lastT = 0;
      pts.forEach((p) => {
        const v = s.get(p);
        if (typeof v !== 'number' || !(v >= 0)) { run = null; return; }
        if (run && p.t - lastT > GAP_MS) run = null;
        if (!run) { run = []; runs.push(run); }
        run.push([X(p.t), Y(v)]);
        lastT = p.t;
      });
      const color = cssVar(s.color);
      runs.forEach((r) => {
        if (s.fill && r.length > 1) {
          ctx.beginPath();
          r.forEach((q, i) => (i === 0 ? ctx.moveTo(q[0], q[1]) : ctx.lineTo(q[0], q[1])));
          ctx.lineTo(r[r.length - 1][0], top + ph);
          ctx.lineTo(r[0][0], top + ph);
          ctx.closePath();
          ctx.globalAlpha = 0.12;
          ctx.fillStyle = color;
          ctx.fill();
          ctx.globalAlpha = 1;
        }
        ctx.beginPath();
        r.forEach((q, i) => (i === 0 ? ctx.moveTo(q[0], q[1]) : ctx.lineTo(q[0], q[1])));
        if (r.length === 1) ctx.lineTo(r[0][0] + 1, r[0][1]);
        ctx.strokeStyle = color;
        ctx.lineWidth = s.width || 1.75;
        ctx.lineJoin = 'round';
        ctx.setLineDash(s.dash ? [5, 4] : []);
        ctx.stroke();
        ctx.setLineDash([]);
      });
    });
    ctx.restore();
  }
  function perBackend(field) {
    const out = [];
    rows.forEach((r, key) => {
      if (r.color) out.push({ get: (p) => (p.be && p.be[key] ? p.be[key][field] : undefined), color: r.color, width: 1 });
    });
    return out;
  }
  function drawCharts() {
    const now = Date.now();
    const l7 = !!(lastStats && lastStats.mode === 'l7');
    const rateKey = l7 ? 'rr' : 'rc';
    const intFmt = (v) => fmtNum(v);
    drawChart($('chart-bytes'), [{ get: (p) => p.bin, color: '--in', fill: true }, { get: (p) => p.bout, color: '--out', dash: true }], fmtAxisRate, true, now);
    drawChart($('chart-rate'), [{ get: (p) => p[rateKey], color: '--conn', fill: true }].concat(perBackend(1)), (v) => fmtNum(v) + '/s', false, now);
    drawChart($('chart-active'), [{ get: (p) => p.active, color: '--conn', fill: true }].concat(perBackend(0)), intFmt, false, now);
    drawChart($('chart-errors'), [{ get: (p) => p.err, color: '--err', fill: true }, { get: (p) => p.queued, color: '--err2', dash: true }], (v) => fmtNum(v), false, now);
  }

  /** Points of /stats/history become chart points (placed on this browser's clock). */
  function loadHistory() {
    historyAsked = true;
    const asked = Date.now();
    fetch('stats/history', { cache: 'no-store', headers: { Accept: 'application/json' } })
      .then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then((h) => {
        const got = Date.now();
        const skew = typeof h.now === 'number' ? h.now - (asked + got) / 2 : 0;
        const firstLive = samples.length ? samples[0].t : Infinity;
        const pts = [];
        const sr = h.series || {};
        const v = (a, i) => (a && typeof a[i] === 'number' ? a[i] : undefined);
        (h.t || []).forEach((ts, i) => {
          const t = ts - skew;
          if (t >= firstLive) return;
          const be = {};
          (h.backends || []).forEach((b) => {
            const a = v(b.active, i), r = v(b.rate, i);
            if (a !== undefined || r !== undefined) be[(b.pool || '') + '/' + b.name] = [a, r];
          });
          pts.push({ t: t, h: true, bin: v(sr.bytes_in_rate, i), bout: v(sr.bytes_out_rate, i), rc: v(sr.conn_rate, i), rr: v(sr.req_rate, i),
            active: v(sr.active, i), err: v(sr.error_rate, i), queued: v(sr.queued, i), be: be });
        });
        historyPoints = pts.length;
        samples = pts.concat(samples);
        const every = h.interval_ms >= 1000 ? Math.round(h.interval_ms / 1000) + ' s' : h.interval_ms + ' ms';
        setText($('traffic-hint'), 'last 15 minutes · ' + (historyPoints > 0 ? historyPoints + ' earlier points' : 'history') + ' from lb4 (a point every ' + every + '), then from /stats every second');
        if (lastStats) drawCharts();
      })
      .catch(() => {
        // an older lb4 without /stats/history: the charts start empty
        setText($('traffic-hint'), 'last 15 minutes · from /stats every second, since this page was opened');
      });
  }

  // ---- polling ----
  function setOnline(ok, why) {
    const live = $('live');
    if (ok) {
      setClass(live, 'live ok');
      setText($('live-text'), 'live · ' + fmtClock(new Date()));
      $('banner').hidden = true;
    } else {
      setClass(live, 'live err');
      setText($('live-text'), 'unreachable');
      $('banner').textContent = 'Cannot reach the lb4 admin API (' + why + '). Showing the last data; retrying every second.';
      $('banner').hidden = false;
    }
    if (online !== null && online !== ok) addNote(ok ? 'admin API reachable again' : 'admin API unreachable');
    online = ok;
  }

  /** This poll's totals, and the chart point made from the difference with the previous poll's. */
  function sample(s, now) {
    const cur = { t: now, bin: 0, bout: 0, reqs: 0, errs: 0, conns: s.connections.total, be: {} };
    s.backends.forEach((b) => {
      cur.bin += b.bytes_in;
      cur.bout += b.bytes_out;
      cur.reqs += b.total;
      cur.errs += b.failures + (b.response_errors || 0);
      cur.be[(b.pool || '') + '/' + b.name] = b.total;
    });
    let point = null;
    if (prev && now > prev.t) {
      const dt = (now - prev.t) / 1000;
      const per = (a, b) => Math.max(0, a - b) / dt;
      let queued = 0;
      (s.pools || []).forEach((p) => { queued += p.queued || 0; });
      point = { t: now, bin: per(cur.bin, prev.bin), bout: per(cur.bout, prev.bout), rc: per(cur.conns, prev.conns), rr: per(cur.reqs, prev.reqs),
        active: s.connections.active, err: per(cur.errs, prev.errs), queued: queued, be: {} };
      s.backends.forEach((b) => {
        const key = (b.pool || '') + '/' + b.name;
        const before = prev.be[key];
        point.be[key] = [b.active, before === undefined ? undefined : per(b.total, before)];
      });
      samples.push(point);
      const cutoff = now - WINDOW_MS - POLL_MS;
      let drop = 0;
      while (drop < samples.length && samples[drop].t < cutoff) drop++;
      if (drop > 0) samples.splice(0, drop);
    }
    prev = cur;
    return point;
  }

  function render(s) {
    const now = Date.now();
    const l7 = s.mode === 'l7';
    const point = sample(s, now);
    lastStats = s;
    multiPool = !!(s.pools && s.pools.length > 1);
    document.body.classList.toggle('l7', l7);
    setText($('chart-rate-title'), l7 ? 'Requests per second' : 'New connections per second');
    setText($('backends-hint'), 'one row per backend (HAProxy: server) · ' + (l7 ? 'sessions, rate and total count requests' : 'sessions, rate and total count connections'));
    renderCards(s, point);
    renderBackends(s, now);
    renderListeners(s);
    renderPools(s);
    renderEnds(s);
    if (point) {
      setText($('key-in'), fmtRate(point.bin));
      setText($('key-out'), fmtRate(point.bout));
      setText($('key-rate'), fmtPerSec(l7 ? point.rr : point.rc));
      setText($('key-active'), fmtInt(point.active));
      setText($('key-err'), fmtPerSec(point.err));
      setText($('key-queued'), fmtInt(point.queued));
    }
    drawCharts();
    document.title = (s.draining ? 'draining' : (s.backends.filter((b) => b.state === 'up').length + '/' + s.backends.length + ' up')) + ' · lb4';
  }

  function poll() {
    if (inflight) return;
    inflight = true;
    const ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = setTimeout(() => { if (ctrl) ctrl.abort(); }, 3000);
    fetch('stats', { cache: 'no-store', headers: { Accept: 'application/json' }, signal: ctrl ? ctrl.signal : undefined })
      .then((r) => {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then((s) => {
        setOnline(true);
        render(s);
        if (!historyAsked) loadHistory();
      })
      .catch((e) => {
        setOnline(false, e && e.name === 'AbortError' ? 'timeout' : (e && e.message) || 'error');
      })
      .then(() => {
        clearTimeout(timer);
        inflight = false;
      });
  }

  $('host').textContent = location.host;
  applyToken();
  poll();
  setInterval(poll, POLL_MS);
  window.addEventListener('resize', () => { if (lastStats) drawCharts(); });
})();
