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
