// The status page's script. Every string from the run is set as text
// (textContent), never parsed as HTML; the map comes already escaped from
// formats::PlanHtml and sits in a sandboxed iframe that runs no script.
//
// Live without a polling storm: two long polls, each one request in flight
// at a time and held by berth until something changes (the status's version
// goes up, an event arrives) or 25 s pass; a failed request waits 1 s,
// doubling to 10 s, before the next; an answer that changed nothing waits a
// second before asking again. Uptimes tick on a local 1 s timer, with no
// request.

#include "control/status_page.h"

namespace berth::control {

const char* StatusPageScript() {
  return R"JS(
'use strict';
const $ = (id) => document.getElementById(id);
const POLL_S = 25;
const MAX_EVENTS = 200;
let token = null;
let stopped = false;
let lastStatus = null;
let fetchedAt = 0;
let selected = null;
let mapLoaded = false;

function readToken() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    // Out of the address bar and the history; kept for this tab's reloads.
    history.replaceState(null, '', location.pathname + location.search);
    sessionStorage.setItem('berth-token', decodeURIComponent(m[1]));
  }
  return sessionStorage.getItem('berth-token');
}

function showAuth(lines) {
  stopped = true;
  $('view').hidden = true;
  const box = $('auth');
  box.replaceChildren();
  for (const [i, text] of lines.entries()) {
    const p = document.createElement(i === 0 ? 'strong' : 'p');
    p.textContent = text;
    box.appendChild(p);
  }
  box.hidden = false;
  $('live').className = 'off';
  $('live').textContent = 'no token';
}

class HttpError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path) {
  const r = await fetch(path, {headers: {'Authorization': 'Bearer ' + token}, cache: 'no-store'});
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (r.status === 401) {
    showAuth(['The run refused this page\'s token.',
              'The token changes each time berth run starts: run `berth status --web RUN_DIR` ' +
              'again and open the URL it prints.']);
    throw new HttpError(401, 'unauthorized');
  }
  if (!r.ok) {
    const msg = body && body.error ? body.error.message : 'HTTP ' + r.status;
    throw new HttpError(r.status, msg);
  }
  return body;
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

function setLive(ok, why) {
  const live = $('live');
  live.className = ok ? 'on' : 'off';
  live.textContent = ok ? 'live' : 'reconnecting';
  const p = $('problem');
  p.hidden = ok;
  p.textContent = ok ? '' : 'berth does not answer (' + why + '); trying again. When the run ' +
      'has ended, berth status RUN_DIR shows its last state.';
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text === undefined || text === null ? '' : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function badge(td, word) {
  td.textContent = '';
  const b = document.createElement('span');
  b.className = 'badge s-' + word;
  b.textContent = word;
  td.appendChild(b);
}

function uptimeText(w) {
  if (typeof w.uptime_s !== 'number') return '';
  let s = Math.floor(w.uptime_s + (Date.now() - fetchedAt) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d > 0) return d + 'd ' + h + 'h';
  if (h > 0) return h + 'h ' + m + 'm';
  if (m > 0) return m + 'm ' + s + 's';
  return s + 's';
}

function portsText(ports) {
  if (!ports || typeof ports !== 'object') return '';
  return Object.entries(ports).map(([k, v]) => k + '=' + v).join(' ');
}

// A role's health from its workers' states.
function health(ws, phase) {
  const n = (st) => ws.filter((w) => w.state === st).length;
  if (ws.length > 0 && n('ready') === ws.length) return 'healthy';
  if (n('failed') > 0) return phase === 'failed' ? 'failed' : 'degraded';
  if (n('starting') + n('planned') > 0) return n('ready') > 0 ? 'degraded' : 'starting';
  if (n('stopping') > 0) return 'stopping';
  if (ws.length > 0 && n('exited') === ws.length) return 'done';
  return 'stopped';
}

function renderRoles(s) {
  const roles = new Map();
  for (const w of s.workers) {
    if (!roles.has(w.role)) roles.set(w.role, []);
    roles.get(w.role).push(w);
  }
  const body = $('roles').tBodies[0];
  body.replaceChildren();
  for (const [name, ws] of roles) {
    const tr = document.createElement('tr');
    tr.dataset.role = name;
    cell(tr, name);
    badge(cell(tr, ''), health(ws, s.phase));
    cell(tr, ws.filter((w) => w.state === 'ready').length, 'num');
    cell(tr, ws.length, 'num');
    cell(tr, ws.reduce((a, w) => a + (w.restarts || 0), 0), 'num');
    cell(tr, [...new Set(ws.map((w) => w.node).filter((x) => x))].join(', '));
    body.appendChild(tr);
  }
}

function renderWorkers(s) {
  const body = $('workers').tBodies[0];
  body.replaceChildren();
  for (const w of s.workers) {
    const tr = document.createElement('tr');
    tr.dataset.worker = w.id;
    tr.dataset.state = w.state;
    if (w.id === selected) tr.className = 'sel';
    cell(tr, w.id);
    cell(tr, w.role);
    cell(tr, w.node);
    cell(tr, w.gpus);
    cell(tr, portsText(w.ports));
    cell(tr, w.pid > 0 ? w.pid : '', 'num');
    const st = cell(tr, '');
    st.className = 'state';
    badge(st, w.state);
    cell(tr, w.restarts, 'num');
    cell(tr, uptimeText(w), 'num uptime');
    cell(tr, w.exit, 'exit');
    tr.addEventListener('click', () => showLog(w.id));
    body.appendChild(tr);
  }
}

const OUTLINE = {ready: '', starting: '3px dashed #9a6a00', planned: '3px dashed #9a6a00',
                 stopping: '3px dashed #9a6a00', failed: '3px solid #c62828',
                 exited: '3px solid #777', stopped: '3px solid #777'};

// The map's worker boxes outlined by state (the map itself is the plan).
function paintMap() {
  const doc = mapLoaded ? $('map').contentDocument : null;
  if (!doc || !lastStatus) return;
  const state = new Map(lastStatus.workers.map((w) => [w.id, w.state]));
  for (const el of doc.querySelectorAll('[data-worker]')) {
    const st = state.get(el.getAttribute('data-worker'));
    el.style.outline = OUTLINE[st] || '';
    el.title = (el.title || '').replace(/\nstate: .*$/, '') + (st ? '\nstate: ' + st : '');
  }
}

function render(s) {
  lastStatus = s;
  fetchedAt = Date.now();
  document.title = 'berth: ' + s.experiment;
  $('title').textContent = 'berth: ' + s.experiment;
  $('phase').className = 'badge s-' + s.phase;
  $('phase').textContent = s.phase;
  const ready = s.workers.filter((w) => w.state === 'ready').length;
  $('summary').textContent = ready + ' of ' + s.workers.length + ' workers ready; run dir ' +
      s.run_dir + '; berth pid ' + s.berth_pid;
  $('message').textContent = s.message || '';
  renderRoles(s);
  renderWorkers(s);
  paintMap();
}

async function statusLoop() {
  let version = 0;
  let delay = 0;
  while (!stopped) {
    const asked = Date.now();
    try {
      const s = await api('/v1/status?after_version=' + version + '&timeout=' + POLL_S);
      const before = version;
      version = typeof s.version === 'number' ? s.version : version;
      render(s);
      setLive(true);
      delay = 0;
      // Nothing newer and answered at once (berth is stopping): no busy loop.
      if (version === before && Date.now() - asked < 1000) await sleep(1000);
    } catch (e) {
      if (e.status === 401) return;
      setLive(false, e.message);
      delay = Math.min(delay ? delay * 2 : 1000, 10000);
      await sleep(delay);
    }
  }
}

function eventText(e) {
  const parts = [e.time || '', e.kind || ''];
  for (const k of ['role', 'worker', 'node', 'cause', 'name', 'version']) {
    if (e[k] !== undefined && e[k] !== '') parts.push(k + '=' + e[k]);
  }
  if (e.restarts) parts.push('restart ' + e.restarts);
  if (e.kind === 'scaled') parts.push('replicas=' + e.replicas);
  return parts.join('  ');
}

async function eventsLoop() {
  let after = 0;
  let delay = 0;
  while (!stopped) {
    const asked = Date.now();
    try {
      const page = await api('/v1/events?after=' + after + '&timeout=' + POLL_S);
      const list = $('events');
      for (const e of page.events) {
        const li = document.createElement('li');
        li.textContent = eventText(e);
        li.dataset.kind = e.kind || '';
        li.dataset.worker = e.worker || '';
        list.prepend(li);
      }
      while (list.children.length > MAX_EVENTS) list.lastChild.remove();
      $('noevents').hidden = list.children.length > 0;
      const before = after;
      after = page.next;
      delay = 0;
      if (after === before && Date.now() - asked < 1000) await sleep(1000);
    } catch (e) {
      if (e.status === 401) return;
      delay = Math.min(delay ? delay * 2 : 1000, 10000);
      await sleep(delay);
    }
  }
}

async function loadMap() {
  const frame = $('map');
  frame.addEventListener('load', () => {
    mapLoaded = true;
    // As tall as the map, up to most of the window (then it scrolls inside).
    const doc = frame.contentDocument;
    const want = doc && doc.body ? doc.body.getBoundingClientRect().height + 40 : 200;
    frame.style.height = Math.min(want, Math.max(300, window.innerHeight - 80)) + 'px';
    paintMap();
  });
  for (let delay = 1000; !stopped; delay = Math.min(delay * 2, 10000)) {
    try {
      const m = await api('/v1/map');
      frame.srcdoc = m.html;
      return;
    } catch (e) {
      if (e.status === 401) return;
      if (e.status === 404) {
        frame.srcdoc = '<p style="font:13px sans-serif">' +
            'no placement map: berth has not planned the run yet, or this berth has none</p>';
        if (lastStatus && lastStatus.phase !== 'starting') return;
      }
      await sleep(delay);
    }
  }
}

async function showLog(id) {
  selected = id;
  for (const tr of $('workers').tBodies[0].rows) {
    tr.className = tr.dataset.worker === id ? 'sel' : '';
  }
  $('logsec').hidden = false;
  $('logname').textContent = id;
  $('logpath').textContent = '';
  $('logbox').textContent = 'loading...';
  try {
    const r = await api('/v1/log?worker=' + encodeURIComponent(id) + '&lines=200');
    if (selected !== id) return;
    $('logpath').textContent = r.log;
    $('logbox').textContent = r.tail.replace(/^ {4}\| ?/gm, '');
    $('logbox').scrollTop = $('logbox').scrollHeight;
  } catch (e) {
    if (selected === id) $('logbox').textContent = 'could not read the log: ' + e.message;
  }
}

function start() {
  token = readToken();
  if (!token) {
    showAuth(['This page shows a berth run only with the run\'s token.',
              'Run `berth status --web RUN_DIR` and open the URL it prints: the token is in ' +
              'its fragment (#token=...), which the browser keeps to itself.']);
    return;
  }
  if (!/^[0-9a-f]{64}$/.test(token)) {
    sessionStorage.removeItem('berth-token');
    showAuth(['The token in the URL is not 64 hex digits.',
              'Copy the whole URL that `berth status --web RUN_DIR` prints.']);
    return;
  }
  $('view').hidden = false;
  $('logrefresh').addEventListener('click', () => { if (selected) showLog(selected); });
  $('logclose').addEventListener('click', () => { selected = null; $('logsec').hidden = true; });
  setInterval(() => {
    if (!lastStatus) return;
    for (const tr of $('workers').tBodies[0].rows) {
      const w = lastStatus.workers.find((x) => x.id === tr.dataset.worker);
      const td = tr.querySelector('td.uptime');
      if (w && td) td.textContent = uptimeText(w);
    }
  }, 1000);
  statusLoop();
  eventsLoop();
  loadMap();
}

start();
)JS";
}

}  // namespace berth::control
