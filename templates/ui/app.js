/* global document, window, EventSource, fetch */
// provision ui's page: renders the view the server pushes (server-sent events). Every value is set as
// text (never as HTML), so nothing a robot reports can run in this page.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

const small = (text) => el('span', { class: 'small' }, text);

function sshCell(r) {
  const s = r.ssh;
  if (s.state === 'up')
    return el('td', { class: 'ssh' }, el('span', { class: 'state up' }, 'up'), small(s.loginMs === null ? '' : `login ${s.loginMs} ms`));
  if (s.state === 'connecting') return el('td', { class: 'ssh' }, el('span', { class: 'state connecting' }, 'connecting…'));
  return el('td', { class: 'ssh' }, el('span', { class: 'state bad' }, `down: ${s.cause}`), small(`${s.reason} (${s.sinceS} s ago)`));
}

function roleText(role, leader) {
  if (!role) return '–';
  return leader ? `${role} (leader)` : role;
}

function labelsText(labels) {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join('\n') : '–';
}

function findingsCell(r) {
  const cell = el('td', {});
  for (const f of r.findings) cell.append(el('span', { class: f.severity === 'fail' ? 'bad small' : 'small' }, `${f.check}: ${f.text}`));
  if (r.check) {
    cell.append(el('span', { class: r.check.status === 'failed' ? 'bad' : '' }, `last check: ${r.check.status}`));
    for (const d of [...r.check.details, ...r.check.pairs]) cell.append(small(d));
  }
  if (!cell.childNodes.length) cell.append('–');
  return cell;
}

function robotRow(r) {
  const row = el(
    'tr',
    { 'data-robot': r.name, 'data-ssh': r.ssh.state, 'data-role': r.role || '', class: r.ssh.state === 'down' ? 'down' : '' },
    el('td', { class: r.leader ? 'leader' : '' }, r.name),
    el('td', {}, r.port === 22 ? r.ip : `${r.ip}:${r.port}`),
    el('td', {}, r.user),
    el('td', {}, r.zone || '–'),
    sshCell(r),
    el('td', {}, r.rolePlanned || '–', small(r.rolePinned === 'auto' ? '' : `pinned ${r.rolePinned}`)),
    el('td', {}, roleText(r.role, r.leader)),
    el(
      'td',
      {},
      r.nodeState || r.swarmState,
      small(r.availability ? `${r.availability}${r.reachability ? `, ${r.reachability}` : ''}` : ''),
    ),
    el('td', {}, r.engineVersion || (r.docker ? '' : '–'), r.docker ? el('span', { class: 'bad small' }, r.docker) : small(r.arch || '')),
    el('td', { class: 'labels' }, labelsText(r.labels)),
    findingsCell(r),
  );
  return row;
}

/** Robots grouped by zone: managers as large circles, the leader with a star, robots down greyed. */
function picture(zones) {
  const perRow = 8;
  const cell = 70;
  const widths = zones.map((z) => Math.max(2, Math.min(perRow, z.robots.length)) * cell + 20);
  const heights = zones.map((z) => Math.ceil(z.robots.length / perRow) * 80 + 40);
  const width = widths.reduce((a, b) => a + b + 16, 0);
  const height = Math.max(...heights, 120);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' });
  let x = 0;
  zones.forEach((z, i) => {
    const g = svg('g', { transform: `translate(${x},0)`, 'data-zone': z.zone });
    g.append(svg('rect', { x: 0.5, y: 0.5, width: widths[i], height: heights[i], rx: 10, fill: '#f7f9fb', stroke: '#c9d1d8' }));
    g.append(
      svg('text', { x: 10, y: 18, 'font-size': 13, fill: '#444' }, `${z.zone} — ${z.managers} manager${z.managers === 1 ? '' : 's'}`),
    );
    z.robots.forEach((r, j) => {
      const cx = 10 + (j % perRow) * cell + cell / 2;
      const cy = 30 + Math.floor(j / perRow) * 80 + 28;
      const colour = !r.up ? '#b8bec3' : r.role === 'manager' ? '#2b5fab' : r.role === 'worker' ? '#5f7380' : '#d2d8dd';
      const node = svg('g', { opacity: r.up ? 1 : 0.55, 'data-robot': r.name });
      if (r.role === 'manager')
        node.append(svg('circle', { cx, cy, r: 18, fill: colour, stroke: r.leader ? '#e0a800' : 'none', 'stroke-width': 4 }));
      else node.append(svg('rect', { x: cx - 12, y: cy - 12, width: 24, height: 24, rx: 4, fill: colour }));
      if (r.leader) node.append(svg('text', { x: cx, y: cy + 5, 'text-anchor': 'middle', 'font-size': 16, fill: '#ffd54a' }, '★'));
      if (!r.up) node.append(svg('text', { x: cx, y: cy + 5, 'text-anchor': 'middle', 'font-size': 16, fill: '#b3261e' }, '✕'));
      node.append(svg('text', { x: cx, y: cy + 34, 'text-anchor': 'middle', 'font-size': 12, fill: r.up ? '#222' : '#888' }, r.name));
      g.append(node);
    });
    root.append(g);
    x += widths[i] + 16;
  });
  return root;
}

function render(view) {
  document.getElementById('fleet').textContent = `— ${view.fleet}`;
  document.title = `provision — ${view.fleet}`;
  const words = document.getElementById('quorum-words');
  words.replaceChildren(...view.quorum.words.map((w) => el('p', { class: view.quorum.swarm && !view.quorum.holds ? 'bad' : '' }, w)));
  document.getElementById('picture').replaceChildren(picture(view.quorum.zones));
  document.getElementById('warnings').replaceChildren(...view.plan.warnings.map((w) => el('li', {}, `plan: ${w}`)));
  document.querySelector('#robots tbody').replaceChildren(...view.robots.map(robotRow));
  const last = view.lastCheck;
  document.getElementById('lastcheck').textContent = last
    ? `Last ${last.command}: ${new Date(last.at).toLocaleString()}, exit ${last.exitCode}. ${last.notes.join(' ')}`
    : 'No check stored yet: provision check (or up --check) stores its result for this page.';
  const live = document.getElementById('live');
  showActions(view);
  live.textContent = `live — read ${new Date(view.at).toLocaleTimeString()}`;
  live.className = 'live';
}

// --allow-actions: one run at a time, asked before anything that changes robots; its report shown.
const CHANGES = {
  up: 'provision up changes robots (keys, swarm roles, labels). Run it on every robot now?',
  check: 'provision check starts services on the swarm (cleaned up after). Run it now?',
};

function showActions(view) {
  const section = document.getElementById('actions');
  section.hidden = !view.actions;
  for (const b of section.querySelectorAll('button')) b.disabled = view.running;
  if (view.running) document.getElementById('run-state').textContent = 'a run is going…';
}

async function act(command) {
  if (CHANGES[command] && !window.confirm(CHANGES[command])) return;
  document.getElementById('run-log').textContent = '';
  document.querySelector('#run-report tbody').replaceChildren();
  const res = await fetch(`/api/run?command=${encodeURIComponent(command)}`, { method: 'POST', headers: { 'X-Provision-Action': 'yes' } });
  document.getElementById('run-state').textContent = (await res.text()).trim();
}

function runEvent(event) {
  const logBox = document.getElementById('run-log');
  if (event.kind === 'line') return void logBox.append(`${event.line}\n`);
  document.getElementById('run-state').textContent = `provision ${event.command} ended: exit ${event.code}`;
  const robots = (event.report && event.report.robots) || [];
  document
    .querySelector('#run-report tbody')
    .replaceChildren(
      ...robots.map((r) =>
        el(
          'tr',
          {},
          el('td', {}, r.name),
          el('td', { class: r.status === 'failed' || r.status === 'unreachable' ? 'bad' : '' }, r.status),
          el('td', {}, r.details.join('; ')),
        ),
      ),
    );
}

for (const b of document.querySelectorAll('#actions button')) b.addEventListener('click', () => void act(b.dataset.action));

// The token is a cookie now: keep it out of the address bar, history and screenshots.
if (window.location.search.includes('token=')) window.history.replaceState(null, '', window.location.pathname);

const events = new EventSource('/api/events');
events.onmessage = (e) => render(JSON.parse(e.data));
events.addEventListener('run', (e) => runEvent(JSON.parse(e.data)));
events.onerror = () => {
  const live = document.getElementById('live');
  live.textContent = 'not connected to provision ui (stopped?) — retrying';
  live.className = 'live stale';
};
