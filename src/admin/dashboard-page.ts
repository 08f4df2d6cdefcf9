/**
 * The dashboard page served at `GET /` (see dashboard.ts): HTML, CSS and the
 * browser script as string constants, so `tsc` output carries them and
 * nothing is read from disk at start-up.
 *
 * The browser script polls `stats` (relative, so the page also works behind
 * a path prefix) every second, keeps five minutes of samples to chart bytes/s
 * and connections/s, diffs backend states between polls (row flash + event
 * list), and inserts every text from /stats with textContent, never as HTML.
 * It is written without template literals so that it can live inside one.
 */

export const DASHBOARD_CSS = String.raw`
:root {
  --bg: #f3f5f8; --panel: #ffffff; --border: #e2e6ec; --border-strong: #cfd5de;
  --text: #18212f; --muted: #687385; --faint: #98a2b3;
  --head-bg: #111827; --head-text: #f9fafb; --head-muted: #9ca3af;
  --up: #0f9d58; --up-bg: #e6f5ec; --down: #d93025; --down-bg: #fdeceb;
  --draining: #b76e00; --draining-bg: #fff3dc; --disabled: #6b7280; --disabled-bg: #eef0f3;
  --in: #2563eb; --out: #8b5cf6; --conn: #0d9488; --grid: #edf0f4;
  --shadow: 0 1px 2px rgba(16, 24, 40, .06), 0 1px 3px rgba(16, 24, 40, .04);
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --panel: #151b23; --border: #262e3a; --border-strong: #333d4b;
    --text: #e6edf3; --muted: #8b97a8; --faint: #5d6878;
    --head-bg: #0a0e14; --head-text: #f0f3f6; --head-muted: #8b97a8;
    --up: #3fb950; --up-bg: rgba(63, 185, 80, .14); --down: #f85149; --down-bg: rgba(248, 81, 73, .15);
    --draining: #d29922; --draining-bg: rgba(210, 153, 34, .16); --disabled: #8b949e; --disabled-bg: rgba(139, 148, 158, .15);
    --in: #58a6ff; --out: #bc8cff; --conn: #2dd4bf; --grid: #1f2630;
    --shadow: none;
  }
}
* { box-sizing: border-box; }
html, body { margin: 0; }
body {
  background: var(--bg); color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  -webkit-font-smoothing: antialiased;
}
[hidden] { display: none !important; }
.num, .mono, td.num { font-variant-numeric: tabular-nums; }
.mono { font-family: var(--mono); font-size: 12.5px; }

header.top {
  display: flex; align-items: center; gap: 20px; flex-wrap: wrap;
  padding: 10px 24px; background: var(--head-bg); color: var(--head-text);
}
.brand { display: flex; align-items: baseline; gap: 10px; margin-right: auto; }
.logo {
  font-weight: 750; font-size: 19px; letter-spacing: -.02em;
  padding: 1px 8px; border-radius: 6px; background: #2563eb; color: #fff;
}
.brand .sub { color: var(--head-muted); font-size: 13px; }
.brand .host { font-family: var(--mono); font-size: 12.5px; color: var(--head-text); opacity: .85; }
.live { display: inline-flex; align-items: center; gap: 7px; font-size: 12.5px; color: var(--head-muted); }
.live .dot { width: 8px; height: 8px; border-radius: 50%; background: var(--faint); }
.live.ok .dot { background: #22c55e; box-shadow: 0 0 0 3px rgba(34, 197, 94, .22); }
.live.err .dot { background: #ef4444; box-shadow: 0 0 0 3px rgba(239, 68, 68, .25); }
.token { display: flex; align-items: center; gap: 8px; }
.token input {
  width: 170px; padding: 6px 10px; border-radius: 6px; border: 1px solid #374151;
  background: #1f2937; color: #f9fafb; font: inherit; font-size: 13px;
}
.token input::placeholder { color: #9ca3af; }
.token input:focus { outline: 2px solid #3b82f6; outline-offset: 0; border-color: transparent; }
.unlocked-label { font-size: 12.5px; color: #86efac; display: inline-flex; align-items: center; gap: 6px; }
.unlocked-label::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: #22c55e; }
button {
  font: inherit; font-size: 12.5px; font-weight: 560; cursor: pointer;
  padding: 5px 11px; border-radius: 6px; border: 1px solid var(--border-strong);
  background: var(--panel); color: var(--text);
}
button:hover:not(:disabled) { border-color: var(--muted); }
button:disabled { opacity: .4; cursor: default; }
header button { background: #2563eb; border-color: #2563eb; color: #fff; }
header button.ghost { background: transparent; border-color: #4b5563; color: #e5e7eb; }
.notice { font-size: 12.5px; padding: 3px 9px; border-radius: 5px; }
.notice.ok { background: rgba(34, 197, 94, .18); color: #bbf7d0; }
.notice.err { background: rgba(239, 68, 68, .22); color: #fecaca; }

.banner {
  padding: 9px 24px; background: var(--down-bg); color: var(--down);
  border-bottom: 1px solid var(--down); font-weight: 560;
}
main { padding: 20px 24px 28px; max-width: 1480px; margin: 0 auto; display: grid; gap: 16px; }

.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 12px; }
.card {
  background: var(--panel); border: 1px solid var(--border); border-radius: 10px;
  padding: 12px 16px; box-shadow: var(--shadow); min-width: 0;
}
.card .label { font-size: 11.5px; font-weight: 600; letter-spacing: .06em; text-transform: uppercase; color: var(--muted); }
.card .value { font-size: 24px; line-height: 32px; font-weight: 650; letter-spacing: -.01em; margin-top: 2px; font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.card .sub { font-size: 12.5px; color: var(--muted); margin-top: 1px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.card .value.text { font-size: 15px; letter-spacing: -.01em; }
.card.status { border-left: 4px solid var(--faint); }
.card.status.ok { border-left-color: var(--up); } .card.status.ok .value { color: var(--up); }
.card.status.warn { border-left-color: var(--draining); } .card.status.warn .value { color: var(--draining); }
.card.status.bad { border-left-color: var(--down); } .card.status.bad .value { color: var(--down); }

.panel { background: var(--panel); border: 1px solid var(--border); border-radius: 10px; box-shadow: var(--shadow); min-width: 0; }
.panel-head { display: flex; align-items: baseline; gap: 12px; padding: 12px 16px 10px; border-bottom: 1px solid var(--border); }
.panel-head h2 { margin: 0; font-size: 14.5px; font-weight: 650; }
.hint { font-size: 12.5px; color: var(--muted); }
.panel-head .hint:last-child { margin-left: auto; }

.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 24px; padding: 12px 16px 14px; }
@media (max-width: 900px) { .charts { grid-template-columns: 1fr; } }
.chart { margin: 0; min-width: 0; }
.chart figcaption { display: flex; align-items: baseline; gap: 14px; font-size: 12.5px; color: var(--muted); margin-bottom: 6px; }
.chart figcaption strong { color: var(--text); font-weight: 600; font-size: 13px; margin-right: auto; }
.key { display: inline-flex; align-items: center; gap: 6px; font-variant-numeric: tabular-nums; }
.key::before { content: ""; width: 12px; height: 3px; border-radius: 2px; background: currentColor; }
.key.out::before { background: repeating-linear-gradient(90deg, currentColor 0 5px, transparent 5px 8px); }
.key span { color: var(--text); font-weight: 560; }
.key span.key-label { color: inherit; font-weight: inherit; }
.key.in { color: var(--in); } .key.out { color: var(--out); } .key.conn { color: var(--conn); }
canvas { display: block; width: 100%; height: 150px; }

.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; }
th {
  text-align: left; font-size: 11.5px; font-weight: 600; letter-spacing: .05em; text-transform: uppercase;
  color: var(--muted); padding: 8px 10px; border-bottom: 1px solid var(--border); white-space: nowrap;
  background: var(--panel);
}
td { padding: 9px 10px; border-bottom: 1px solid var(--border); white-space: nowrap; vertical-align: middle; }
th:first-child, td:first-child { padding-left: 16px; }
th:last-child, td:last-child { padding-right: 16px; }
tbody tr:last-child td { border-bottom: 0; }
th.num, td.num { text-align: right; }
tbody tr:hover td { background: color-mix(in srgb, var(--bg) 60%, transparent); }
.name { font-weight: 600; }
.addr { display: block; font-family: var(--mono); font-size: 11.5px; color: var(--muted); }
.small { display: block; font-size: 11.5px; color: var(--muted); }
.muted { color: var(--faint); }
.warnnum { color: var(--down); font-weight: 600; }

.badge {
  display: inline-flex; align-items: center; gap: 6px; padding: 2px 9px 2px 8px; border-radius: 999px;
  font-size: 12px; font-weight: 620; line-height: 18px;
}
.badge::before { content: ""; width: 7px; height: 7px; border-radius: 50%; background: currentColor; }
.st-up { color: var(--up); background: var(--up-bg); }
.st-down { color: var(--down); background: var(--down-bg); }
.st-draining { color: var(--draining); background: var(--draining-bg); }
.st-disabled { color: var(--disabled); background: var(--disabled-bg); }
tr.row-down td:first-child { box-shadow: inset 3px 0 0 var(--down); }
tr.row-draining td:first-child { box-shadow: inset 3px 0 0 var(--draining); }
tr.row-disabled td:first-child { box-shadow: inset 3px 0 0 var(--disabled); }
tr.row-disabled td:not(:last-child) { opacity: .7; }

.share { display: flex; align-items: center; gap: 8px; min-width: 88px; }
.bar { flex: 1; height: 6px; border-radius: 3px; background: var(--grid); overflow: hidden; min-width: 48px; }
.bar i { display: block; height: 100%; width: 0; background: var(--in); border-radius: 3px; transition: width .4s ease; }
.share span { font-size: 12px; color: var(--muted); width: 34px; text-align: right; font-variant-numeric: tabular-nums; }

.check { display: flex; align-items: center; gap: 6px; max-width: 180px; }
.check-text { overflow: hidden; text-overflow: ellipsis; }
.check::before { content: ""; flex: none; width: 7px; height: 7px; border-radius: 50%; background: var(--faint); }
.check.ok::before { background: var(--up); }
.check.fail { color: var(--down); } .check.fail::before { background: var(--down); }
.circuit-open { color: var(--down); font-weight: 600; }
.circuit-half-open { color: var(--draining); font-weight: 600; }

.actions-col, .l7-col { display: none; }
body.unlocked .actions-col, body.l7 .l7-col { display: table-cell; }
.pool-tag { font-family: var(--mono); font-size: 11px; color: var(--muted); background: var(--grid); border-radius: 4px; padding: 0 5px; margin-right: 6px; }
.resp-5xx { color: var(--down); font-weight: 600; }
.actions { display: flex; gap: 5px; min-width: 128px; }
.actions button { padding: 4px 9px; }
.actions button[data-action="drain"]:not(:disabled) { color: var(--draining); }
.actions button[data-action="disable"]:not(:disabled) { color: var(--down); }
.actions button[data-action="enable"]:not(:disabled) { color: var(--up); }

@keyframes flash-up { from { background: var(--up-bg); } to { background: transparent; } }
@keyframes flash-down { from { background: var(--down-bg); } to { background: transparent; } }
@keyframes flash-draining { from { background: var(--draining-bg); } to { background: transparent; } }
@keyframes flash-disabled { from { background: var(--disabled-bg); } to { background: transparent; } }
tr.flash-up td { animation: flash-up 2.5s ease-out 2; }
tr.flash-down td { animation: flash-down 2.5s ease-out 2; }
tr.flash-draining td { animation: flash-draining 2.5s ease-out 2; }
tr.flash-disabled td { animation: flash-disabled 2.5s ease-out 2; }

.grid2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px; align-items: start; }
@media (max-width: 900px) { .grid2 { grid-template-columns: 1fr; } }
.events { list-style: none; margin: 0; padding: 4px 0; max-height: 260px; overflow-y: auto; }
.events li { display: flex; align-items: center; gap: 10px; padding: 6px 16px; border-bottom: 1px solid var(--border); }
.events li:last-child { border-bottom: 0; }
.events time { font-family: var(--mono); font-size: 12px; color: var(--muted); }
.events .who { font-weight: 600; }
.events .arrow { color: var(--faint); }
.events .what { color: var(--muted); }
.empty { margin: 0; padding: 14px 16px; color: var(--muted); font-size: 13px; }
footer { text-align: center; color: var(--faint); font-size: 12px; padding: 0 24px 24px; }
footer a { color: inherit; }
`;

export const DASHBOARD_JS = String.raw`
(function () {
  'use strict';
  var POLL_MS = 1000;
  var WINDOW_MS = 5 * 60 * 1000;
  var MAX_EVENTS = 100;
  var TOKEN_KEY = 'lb4.adminToken';

  var $ = function (id) { return document.getElementById(id); };
  var store = (function () { try { return window.sessionStorage; } catch (e) { return null; } })();

  var token = (store && store.getItem(TOKEN_KEY)) || '';
  var rows = new Map();        // backend name -> row refs
  var states = new Map();      // backend name -> last seen state
  var lastPanic = new Map();  // pool name -> panic
  var multiPool = false;
  var prev = null;             // previous sample {t, bin, bout, conns}
  var samples = [];            // {t, bin, bout, cps}
  var inflight = false;
  var online = null;
  var lastStats = null;
  var noticeTimer = 0;

  // ---- formatting ----
  function fmtInt(n) { return Math.round(n).toLocaleString('en-US'); }
  function fmtBytes(n) {
    if (!(n >= 0)) return '0 B';
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + ' ' + u[i];
  }
  function fmtRate(n) { return fmtBytes(n) + '/s'; }
  function fmtAxisRate(n) {
    // axis ticks are round numbers: 2 MiB/s, not 2.00 MiB/s
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return String(Number(n.toFixed(2))) + ' ' + u[i] + '/s';
  }
  function fmtPerSec(n) { return (n < 10 ? n.toFixed(1) : fmtInt(n)) + '/s'; }
  function fmtMs(ms) {
    if (ms < 1) return ms.toFixed(2) + ' ms';
    if (ms < 1000) return (ms < 10 ? ms.toFixed(1) : String(Math.round(ms))) + ' ms';
    return (ms / 1000).toFixed(2) + ' s';
  }
  function pad(n) { return n < 10 ? '0' + n : String(n); }
  function fmtDate(d) { return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + fmtClock(d); }
  function fmtClock(d) { return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()); }
  function fmtDuration(s) {
    s = Math.max(0, Math.floor(s));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    if (d > 0) return d + 'd ' + h + 'h ' + pad(m) + 'm';
    if (h > 0) return h + 'h ' + pad(m) + 'm';
    if (m > 0) return m + 'm ' + pad(sec) + 's';
    return sec + 's';
  }
  function fmtAgo(iso, now) {
    if (!iso) return 'never';
    var s = (now - Date.parse(iso)) / 1000;
    if (s < 1) return 'just now';
    if (s < 60) return Math.floor(s) + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }

  // ---- DOM helpers (text only: nothing from /stats is parsed as HTML) ----
  function el(tag, cls, text) {
    var e = document.createElement(tag);
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

  // ---- token ----
  function applyToken() {
    var on = token !== '';
    document.body.classList.toggle('unlocked', on);
    $('token-form').hidden = on;
    $('token-on').hidden = !on;
  }
  function notice(text, ok) {
    var n = $('notice');
    n.textContent = text;
    n.className = 'notice ' + (ok ? 'ok' : 'err');
    n.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { n.hidden = true; }, 5000);
  }
  $('token-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var v = $('token').value.trim();
    if (!v) return;
    token = v;
    if (store) store.setItem(TOKEN_KEY, v);
    $('token').value = '';
    applyToken();
  });
  $('token-clear').addEventListener('click', function () {
    token = '';
    if (store) store.removeItem(TOKEN_KEY);
    applyToken();
  });

  function act(name, action, buttons) {
    buttons.forEach(function (b) { b.disabled = true; });
    fetch('backends/' + encodeURIComponent(name) + '/' + action, {
      method: 'POST', cache: 'no-store', headers: { Authorization: 'Bearer ' + token },
    }).then(function (r) {
      if (r.status === 401 || r.status === 403) {
        notice('Token rejected (' + r.status + ')', false);
      } else if (!r.ok) {
        notice(action + ' ' + name + ' failed (' + r.status + ')', false);
      } else {
        notice(name + ': ' + action + ' done', true);
      }
    }).catch(function () {
      notice(action + ' ' + name + ': admin API unreachable', false);
    }).then(function () {
      buttons.forEach(function (b) { b.disabled = false; });
      poll();
    });
  }
  $('backends-body').addEventListener('click', function (e) {
    var b = e.target && e.target.closest ? e.target.closest('button[data-action]') : null;
    if (!b) return;
    var tr = b.closest('tr');
    var ref = tr && rows.get(tr.getAttribute('data-key'));
    if (!ref || !token) return;
    act(ref.name, b.getAttribute('data-action'), [ref.drain, ref.disable, ref.enable]);
  });

  // ---- backends table ----
  function makeRow(key, name, pool) {
    var r = { name: name, tr: el('tr') };
    r.tr.setAttribute('data-key', key);
    r.tr.setAttribute('data-backend', name);
    if (pool) r.tr.setAttribute('data-pool', pool);
    var c0 = el('td');
    r.nameEl = el('span', 'name', name);
    r.addr = el('span', 'addr');
    r.poolTag = el('span', 'pool-tag', pool || '');
    r.addrText = el('span');
    r.addr.append(r.poolTag, r.addrText);
    c0.append(r.nameEl, r.addr);
    var c1 = el('td');
    r.badge = el('span', 'badge state');
    c1.append(r.badge);
    r.weight = el('td', 'num');
    r.active = el('td', 'num');
    r.total = el('td', 'num');
    var c5 = el('td');
    var share = el('div', 'share');
    var bar = el('div', 'bar');
    r.bar = el('i');
    bar.append(r.bar);
    r.sharePct = el('span');
    share.append(bar, r.sharePct);
    c5.append(share);
    r.failures = el('td', 'num');
    r.bin = el('td', 'num');
    r.bout = el('td', 'num');
    r.last = el('td');
    var c10 = el('td');
    r.check = el('span', 'check');
    r.checkText = el('span', 'check-text');
    r.check.append(r.checkText);
    r.checkSub = el('span', 'small');
    c10.append(r.check, r.checkSub);
    r.circuit = el('td');
    r.resp = el('td', 'l7-col');
    var c12 = el('td', 'actions-col');
    var box = el('div', 'actions');
    r.drain = el('button', '', 'Drain');
    r.drain.type = 'button';
    r.drain.setAttribute('data-action', 'drain');
    r.disable = el('button', '', 'Disable');
    r.disable.type = 'button';
    r.disable.setAttribute('data-action', 'disable');
    r.enable = el('button', '', 'Enable');
    r.enable.type = 'button';
    r.enable.setAttribute('data-action', 'enable');
    box.append(r.drain, r.disable, r.enable);
    c12.append(box);
    r.tr.append(c0, c1, r.weight, r.active, r.total, c5, r.failures, r.bin, r.bout, r.last, c10, r.circuit, r.resp, c12);
    return r;
  }

  function flash(r, state) {
    var cls = 'flash-' + state;
    r.tr.classList.remove('flash-up', 'flash-down', 'flash-draining', 'flash-disabled');
    void r.tr.offsetWidth; // restart the animation
    r.tr.classList.add(cls);
  }

  function renderBackends(list, now) {
    var body = $('backends-body');
    var seen = new Set();
    var sumTotal = 0;
    list.forEach(function (b) { sumTotal += b.total; });
    list.forEach(function (b, i) {
      var key = (b.pool || '') + '/' + b.name;
      var label = multiPool && b.pool ? b.name + ' (pool ' + b.pool + ')' : b.name;
      seen.add(key);
      var r = rows.get(key);
      if (!r) { r = makeRow(key, b.name, b.pool); rows.set(key, r); }
      if (body.children[i] !== r.tr) body.insertBefore(r.tr, body.children[i] || null);
      r.poolTag.hidden = !multiPool;
      setText(r.addrText, b.address);
      setClass(r.badge, 'badge state st-' + b.state);
      setText(r.badge, b.state);
      var rowCls = 'row-' + b.state;
      ['row-up', 'row-down', 'row-draining', 'row-disabled'].forEach(function (c) { if (c !== rowCls) r.tr.classList.remove(c); });
      r.tr.classList.add(rowCls);
      setText(r.weight, b.weight);
      setTitle(r.weight, 'configured ' + b.weight + (b.effective_weight !== undefined ? ', effective ' + b.effective_weight : ''));
      setText(r.active, fmtInt(b.active));
      setText(r.total, fmtInt(b.total));
      var pct = sumTotal > 0 ? b.total / sumTotal * 100 : 0;
      r.bar.style.width = pct.toFixed(1) + '%';
      setText(r.sharePct, Math.round(pct) + '%');
      setText(r.failures, fmtInt(b.failures));
      setClass(r.failures, b.failures > 0 ? 'num warnnum' : 'num');
      setText(r.bin, fmtBytes(b.bytes_in));
      setTitle(r.bin, fmtInt(b.bytes_in) + ' bytes');
      setText(r.bout, fmtBytes(b.bytes_out));
      setTitle(r.bout, fmtInt(b.bytes_out) + ' bytes');
      setText(r.last, fmtAgo(b.last_used, now));
      setTitle(r.last, b.last_used ? new Date(b.last_used).toLocaleString() : 'no connection yet');
      var ck = b.check || {};
      if (ck.last === null || ck.last === undefined) {
        setClass(r.check, 'check');
        setText(r.checkText, 'no check yet');
        setTitle(r.check, 'no active check has finished yet (or checks are off)');
        setText(r.checkSub, '');
      } else {
        setClass(r.check, ck.last === 'ok' ? 'check ok' : 'check fail');
        setText(r.checkText, ck.last + ' \u00b7 ' + fmtMs(ck.duration_ms || 0));
        setTitle(r.check, ck.last + ' in ' + fmtMs(ck.duration_ms || 0) + (ck.last_at ? ' at ' + fmtDate(new Date(ck.last_at)) : ''));
        setText(r.checkSub, ck.last_at ? fmtAgo(ck.last_at, now) : '');
      }
      var circ = b.circuit || 'closed';
      setText(r.circuit, circ);
      setClass(r.circuit, circ === 'closed' ? 'muted' : 'circuit-' + circ);
      var rs = b.responses || {};
      var parts = [];
      ['1xx', '2xx', '3xx', '4xx', '5xx'].forEach(function (c) { if (rs[c] > 0) parts.push(c + ' ' + fmtInt(rs[c])); });
      setText(r.resp, parts.length ? parts.join(' \u00b7 ') : '\u2013');
      setClass(r.resp, 'l7-col' + (rs['5xx'] > 0 ? ' resp-5xx' : ''));
      // only the changes that apply: enable undoes drain/disable
      r.drain.hidden = b.state === 'draining';
      r.disable.hidden = b.state === 'disabled';
      r.enable.hidden = b.state === 'up' || b.state === 'down';
      var before = states.get(key);
      if (before !== undefined && before !== b.state) {
        flash(r, b.state);
        addEvent(label, before, b.state, b.name);
      }
      states.set(key, b.state);
    });
    rows.forEach(function (r, key) {
      if (!seen.has(key)) {
        r.tr.remove();
        rows.delete(key);
        states.delete(key);
        addEvent(r.name, null, 'removed from the configuration', r.name);
      }
    });
    $('backends-empty').hidden = list.length > 0;
  }

  // ---- events ----
  function addEvent(name, from, to, backend) {
    var list = $('events');
    var now = new Date();
    var li = el('li');
    var time = el('time', '', fmtClock(now));
    time.dateTime = now.toISOString();
    li.append(time, el('span', 'who', name));
    if (from === null) {
      li.append(el('span', 'what', to));
      li.title = name + ': ' + to + ' at ' + fmtClock(now);
    } else {
      li.append(el('span', 'badge st-' + from, from), el('span', 'arrow', '\u2192'), el('span', 'badge st-' + to, to));
      li.title = name + ': ' + from + ' \u2192 ' + to + ' at ' + fmtClock(now);
    }
    li.setAttribute('data-backend', backend);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > MAX_EVENTS) list.removeChild(list.lastChild);
    $('events-empty').hidden = true;
    setText($('events-count'), list.children.length + (list.children.length === 1 ? ' event' : ' events'));
  }
  function addNote(text) {
    var list = $('events');
    var now = new Date();
    var li = el('li');
    li.append(el('time', '', fmtClock(now)), el('span', 'what', text));
    list.insertBefore(li, list.firstChild);
    while (list.children.length > MAX_EVENTS) list.removeChild(list.lastChild);
    $('events-empty').hidden = true;
    setText($('events-count'), list.children.length + (list.children.length === 1 ? ' event' : ' events'));
  }

  // ---- cards ----
  function renderCards(s, rates) {
    var up = 0, down = 0, total = s.backends.length;
    s.backends.forEach(function (b) { if (b.state === 'up') up++; else if (b.state === 'down') down++; });
    var pools = s.pools && s.pools.length ? s.pools : (s.pool ? [s.pool] : []);
    var panicking = pools.filter(function (p) { return p.panic; });
    var panic = panicking.length > 0;
    var status, level;
    if (s.draining) { status = 'Draining'; level = 'warn'; }
    else if (panic) { status = 'Panic'; level = 'bad'; }
    else if (up === 0) { status = 'No backend up'; level = 'bad'; }
    else if (up < total) { status = 'Degraded'; level = 'warn'; }
    else { status = 'Healthy'; level = 'ok'; }
    setClass($('card-status'), 'card status ' + level);
    setText($('status'), status);
    setText($('status-sub'), up + ' of ' + total + ' backends up' + (panic && multiPool ? ' \u00b7 panic: ' + panicking.map(function (p) { return p.name; }).join(', ') : ''));
    setText($('active'), fmtInt(s.connections.active));
    var queued = 0;
    pools.forEach(function (p) { if (typeof p.queued === 'number') queued += p.queued; });
    setText($('active-sub'), queued > 0 ? fmtInt(queued) + ' waiting in queue' : 'none waiting in queue');
    setText($('total'), fmtInt(s.connections.total));
    if (s.mode === 'l7') {
      var reqs = 0;
      s.backends.forEach(function (b) { reqs += b.total; });
      setText($('total-sub'), fmtInt(reqs) + ' requests' + (rates ? ' \u00b7 ' + fmtPerSec(rates.cps) : ''));
    } else {
      setText($('total-sub'), rates ? fmtPerSec(rates.cps) + ' now' : '\u2013');
    }
    setText($('rate'), rates ? fmtRate(rates.bin + rates.bout) : '\u2013');
    setText($('rate-sub'), rates ? 'in ' + fmtRate(rates.bin) + ' \u00b7 out ' + fmtRate(rates.bout) : 'measuring\u2026');
    setText($('uptime'), fmtDuration(s.uptime_s));
    setText($('uptime-sub'), 'since ' + fmtDate(new Date(Date.now() - s.uptime_s * 1000)));
    setText($('mode'), s.strategy);
    setTitle($('mode'), s.strategy);
    setText($('mode-sub'), String(s.mode).toUpperCase() + ' mode \u00b7 ' + (multiPool ? pools.length + ' pools \u00b7 ' : '') + (s.version ? 'lb4 ' + s.version : 'lb4'));
    pools.forEach(function (p) {
      var was = lastPanic.get(p.name);
      var where = multiPool ? ' (pool ' + p.name + ')' : '';
      if (was !== undefined && was !== p.panic) addNote(p.panic ? 'panic mode' + where + ': no backend up, trying down ones' : 'panic over' + where);
      lastPanic.set(p.name, !!p.panic);
    });
  }

  // ---- listeners ----
  function renderListeners(list) {
    var body = $('listeners-body');
    while (body.children.length > list.length) body.removeChild(body.lastChild);
    list.forEach(function (l, i) {
      var tr = body.children[i];
      if (!tr) {
        tr = el('tr');
        tr.append(el('td', 'mono'), el('td'), el('td', 'num'), el('td', 'num'), el('td', 'num'), el('td', 'num'));
        body.append(tr);
      }
      var host = String(l.address).replace(/:\d+$/, '');
      setText(tr.children[0], host + ':' + l.port);
      setText(tr.children[1], l.tls ? 'TLS' : 'TCP');
      setText(tr.children[2], fmtInt(l.accepted));
      setText(tr.children[3], fmtInt(l.active));
      setText(tr.children[4], fmtInt(l.rejected));
      setText(tr.children[5], fmtInt(l.tls_failures));
    });
  }

  // ---- charts ----
  function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  function niceCeil(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var m = v / p;
    var n = m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10;
    return n * p;
  }
  function niceBytesCeil(v) {
    if (!(v > 0)) return 1024;
    var p = Math.pow(1024, Math.floor(Math.log(v) / Math.log(1024)));
    return niceCeil(v / p) * p;
  }
  function drawChart(canvas, series, fmt, bytes, now) {
    var dpr = window.devicePixelRatio || 1;
    var w = canvas.clientWidth, h = canvas.clientHeight;
    if (w === 0 || h === 0) return;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    var ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    var left = 66, right = 6, top = 6, bottom = 20;
    var pw = w - left - right, ph = h - top - bottom;
    var max = 0;
    series.forEach(function (s) { samples.forEach(function (p) { if (p[s.key] > max) max = p[s.key]; }); });
    var ymax = bytes ? niceBytesCeil(max) : niceCeil(Math.max(max, 1));
    var font = '11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
    ctx.font = font;
    ctx.textBaseline = 'middle';
    var grid = cssVar('--grid'), muted = cssVar('--muted');
    for (var g = 0; g <= 4; g++) {
      var y = top + ph - ph * g / 4;
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
    ctx.textAlign = 'center';
    ctx.textBaseline = 'alphabetic';
    for (var m = 5; m >= 0; m--) {
      var x = left + pw - pw * (m * 60000) / WINDOW_MS;
      ctx.fillStyle = muted;
      ctx.textAlign = m === 5 ? 'left' : m === 0 ? 'right' : 'center';
      ctx.fillText(m === 0 ? 'now' : '\u2212' + m + ' min', x, h - 4);
    }
    var t0 = now - WINDOW_MS;
    var X = function (t) { return left + pw * (t - t0) / WINDOW_MS; };
    var Y = function (v) { return top + ph - ph * Math.min(v, ymax) / ymax; };
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top - 2, pw, ph + 4);
    ctx.clip();
    series.forEach(function (s, si) {
      if (samples.length < 2) return;
      var color = cssVar(s.color);
      ctx.beginPath();
      samples.forEach(function (p, i) { if (i === 0) ctx.moveTo(X(p.t), Y(p[s.key])); else ctx.lineTo(X(p.t), Y(p[s.key])); });
      if (si === 0) {
        ctx.save();
        ctx.lineTo(X(samples[samples.length - 1].t), top + ph);
        ctx.lineTo(X(samples[0].t), top + ph);
        ctx.closePath();
        ctx.globalAlpha = 0.12;
        ctx.fillStyle = color;
        ctx.fill();
        ctx.restore();
        ctx.beginPath();
        samples.forEach(function (p, i) { if (i === 0) ctx.moveTo(X(p.t), Y(p[s.key])); else ctx.lineTo(X(p.t), Y(p[s.key])); });
      }
      ctx.strokeStyle = color;
      ctx.lineWidth = 1.75;
      ctx.lineJoin = 'round';
      // later series dashed, so equal curves (an echo: in = out) both show
      ctx.setLineDash(si === 0 ? [] : [5, 4]);
      ctx.stroke();
      ctx.setLineDash([]);
    });
    ctx.restore();
  }
  function drawCharts() {
    var now = Date.now();
    drawChart($('chart-bytes'), [{ key: 'bin', color: '--in' }, { key: 'bout', color: '--out' }], fmtAxisRate, true, now);
    drawChart($('chart-conns'), [{ key: 'cps', color: '--conn' }], function (v) { return (v < 10 && v % 1 ? v.toFixed(1) : fmtInt(v)) + '/s'; }, false, now);
  }

  // ---- polling ----
  function setOnline(ok, why) {
    var live = $('live');
    if (ok) {
      setClass(live, 'live ok');
      setText($('live-text'), 'live \u00b7 ' + fmtClock(new Date()));
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

  function render(s) {
    var now = Date.now();
    var bin = 0, bout = 0, reqs = 0;
    s.backends.forEach(function (b) { bin += b.bytes_in; bout += b.bytes_out; reqs += b.total; });
    // L4: new client connections per second; L7: requests per second (a
    // keep-alive connection carries many), from the backends' totals
    var l7 = s.mode === 'l7';
    var cur = { t: now, bin: bin, bout: bout, conns: l7 ? reqs : s.connections.total };
    if (prev && prev.l7 !== l7) { prev = null; samples = []; }
    cur.l7 = l7;
    var rates = null;
    if (prev && now > prev.t) {
      var dt = (now - prev.t) / 1000;
      rates = {
        t: now,
        bin: Math.max(0, cur.bin - prev.bin) / dt,
        bout: Math.max(0, cur.bout - prev.bout) / dt,
        cps: Math.max(0, cur.conns - prev.conns) / dt,
      };
      samples.push(rates);
      while (samples.length > 0 && samples[0].t < now - WINDOW_MS - POLL_MS) samples.shift();
    }
    prev = cur;
    lastStats = s;
    multiPool = !!(s.pools && s.pools.length > 1);
    document.body.classList.toggle('l7', l7);
    setText($('chart2-title'), l7 ? 'Requests per second' : 'New connections per second');
    setText($('key-conn-label'), l7 ? 'requests ' : 'connections ');
    renderCards(s, rates);
    renderBackends(s.backends, now);
    renderListeners(s.listeners || []);
    if (rates) {
      setText($('key-in'), fmtRate(rates.bin));
      setText($('key-out'), fmtRate(rates.bout));
      setText($('key-conn'), fmtPerSec(rates.cps));
    }
    drawCharts();
    document.title = (s.draining ? 'draining' : (s.backends.filter(function (b) { return b.state === 'up'; }).length + '/' + s.backends.length + ' up')) + ' \u00b7 lb4';
  }

  function poll() {
    if (inflight) return;
    inflight = true;
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctrl) ctrl.abort(); }, 3000);
    fetch('stats', { cache: 'no-store', headers: { Accept: 'application/json' }, signal: ctrl ? ctrl.signal : undefined })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then(function (s) {
        setOnline(true);
        render(s);
      })
      .catch(function (e) {
        setOnline(false, e && e.name === 'AbortError' ? 'timeout' : (e && e.message) || 'error');
      })
      .then(function () {
        clearTimeout(timer);
        inflight = false;
      });
  }

  $('host').textContent = location.host;
  applyToken();
  poll();
  setInterval(poll, POLL_MS);
  window.addEventListener('resize', function () { if (lastStats) drawCharts(); });
})();
`;

const ICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='7' fill='%232563eb'/%3E%3Cpath d='M9 8v16h7M19 8v16M19 16h5' stroke='white' stroke-width='3' fill='none' stroke-linecap='round'/%3E%3C/svg%3E";

/** The whole page; the script and style are the constants above, byte for byte (their hashes go in the CSP). */
export function dashboardHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>lb4</title>
<link rel="icon" href="${ICON}">
<style>${DASHBOARD_CSS}</style>
</head>
<body>
<header class="top">
  <div class="brand"><span class="logo">lb4</span><span class="sub">load balancer</span><span class="host" id="host"></span></div>
  <span id="live" class="live"><span class="dot"></span><span id="live-text">connecting&hellip;</span></span>
  <span id="notice" class="notice" role="status" hidden></span>
  <form id="token-form" class="token" autocomplete="off">
    <input id="token" type="password" placeholder="Admin token" aria-label="Admin token" autocomplete="off" spellcheck="false">
    <button id="token-set" type="submit">Unlock actions</button>
  </form>
  <div id="token-on" class="token" hidden>
    <span class="unlocked-label">Actions unlocked</span>
    <button id="token-clear" type="button" class="ghost">Lock</button>
  </div>
</header>
<div id="banner" class="banner" role="alert" hidden></div>
<main>
  <section class="cards" aria-label="Summary">
    <div class="card status" id="card-status"><div class="label">Status</div><div class="value" id="status">&ndash;</div><div class="sub" id="status-sub">&nbsp;</div></div>
    <div class="card"><div class="label">Active connections</div><div class="value" id="active">&ndash;</div><div class="sub" id="active-sub">&nbsp;</div></div>
    <div class="card"><div class="label">Connections total</div><div class="value" id="total">&ndash;</div><div class="sub" id="total-sub">&nbsp;</div></div>
    <div class="card"><div class="label">Throughput</div><div class="value" id="rate">&ndash;</div><div class="sub" id="rate-sub">&nbsp;</div></div>
    <div class="card"><div class="label">Uptime</div><div class="value" id="uptime">&ndash;</div><div class="sub" id="uptime-sub">&nbsp;</div></div>
    <div class="card"><div class="label">Strategy</div><div class="value text" id="mode">&ndash;</div><div class="sub" id="mode-sub">&nbsp;</div></div>
  </section>

  <section class="panel" aria-label="Traffic">
    <div class="panel-head"><h2>Traffic</h2><span class="hint">last 5 minutes &middot; from /stats every second</span></div>
    <div class="charts">
      <figure class="chart">
        <figcaption><strong>Bytes per second</strong><span class="key in">in <span id="key-in">&ndash;</span></span><span class="key out">out <span id="key-out">&ndash;</span></span></figcaption>
        <canvas id="chart-bytes" role="img" aria-label="Bytes per second, in and out, last 5 minutes"></canvas>
      </figure>
      <figure class="chart">
        <figcaption><strong id="chart2-title">New connections per second</strong><span class="key conn"><span id="key-conn-label" class="key-label">connections </span><span id="key-conn">&ndash;</span></span></figcaption>
        <canvas id="chart-conns" role="img" aria-label="New connections per second, last 5 minutes"></canvas>
      </figure>
    </div>
  </section>

  <section class="panel" aria-label="Backends">
    <div class="panel-head"><h2>Backends</h2><span class="hint">total = connections (L4) or requests (L7) that reached the backend; bytes in = client &rarr; backend</span></div>
    <div class="table-wrap">
      <table id="backends">
        <thead><tr>
          <th>Backend</th><th>State</th><th class="num">Weight</th><th class="num">Active</th><th class="num">Total</th><th>Share</th>
          <th class="num">Failures</th><th class="num">Bytes in</th><th class="num">Bytes out</th><th>Last used</th><th>Last health check</th><th>Circuit</th>
          <th class="l7-col">Responses</th><th class="actions-col">Actions</th>
        </tr></thead>
        <tbody id="backends-body"></tbody>
      </table>
      <p id="backends-empty" class="empty" hidden>No backends configured.</p>
    </div>
  </section>

  <div class="grid2">
    <section class="panel" aria-label="Events">
      <div class="panel-head"><h2>Events</h2><span class="hint" id="events-count">state changes seen by this page</span></div>
      <ol id="events" class="events"></ol>
      <p id="events-empty" class="empty">No state changes since this page was opened.</p>
    </section>
    <section class="panel" aria-label="Listeners">
      <div class="panel-head"><h2>Listeners</h2></div>
      <div class="table-wrap">
        <table id="listeners">
          <thead><tr><th>Address</th><th>Protocol</th><th class="num">Accepted</th><th class="num">Active</th><th class="num">Rejected</th><th class="num">TLS failures</th></tr></thead>
          <tbody id="listeners-body"></tbody>
        </table>
      </div>
    </section>
  </div>
</main>
<footer>lb4 admin &middot; <a href="stats">/stats</a> &middot; <a href="metrics">/metrics</a> &middot; <a href="health">/health</a> &middot; <a href="config">/config</a></footer>
<script>${DASHBOARD_JS}</script>
</body>
</html>
`;
}
