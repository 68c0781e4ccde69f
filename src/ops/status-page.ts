/**
 * The human status page: one standalone HTML document (inline CSS, inline SVG chart, no
 * script, no external resources) that refreshes itself, plus the same facts as JSON.
 *
 * User names, reasons and addresses come from clients, so from attackers: every interpolated
 * value goes through escapeHtml. The markup is also well-formed XML (self-closed void elements,
 * numeric character references only) so tests can parse it with a strict XML parser.
 */
import type { LoginFailure } from './login-failures.js';

export interface StatusSnapshot {
  readonly version: string;
  readonly startedAt: Date;
  readonly now: Date;
  readonly connections: readonly { transport: string; dialect: string; open: number }[];
  readonly recentLoginFailures: readonly LoginFailure[];
  readonly upstreams: readonly { domain: string; target: string; state: 'up' | 'down' | 'unknown'; checkedAt?: Date; detail?: string }[];
  readonly components: readonly { domain: string; state: 'online' | 'offline' | 'connecting'; since?: Date }[];
  readonly history: readonly { at: Date; byTransport: Record<string, number> }[];
}

/** Seconds between automatic reloads of the page. */
export const REFRESH_SECONDS = 10;

// Besides markup characters: characters XML 1.0 forbids (C0 controls, U+FFFE/FFFF, unpaired
// surrogates) and ones that mislead a reader (C1 controls, bidi overrides that reverse text).
const UNSAFE =
  /[&<>"']|[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u200E\u200F\u202A-\u202E\u2066-\u2069\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const MARKUP: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * Escapes text for HTML element content and quoted attribute values. Characters that could not
 * appear in the document or would disguise text are shown as a visible `\uXXXX` instead.
 */
export function escapeHtml(value: unknown): string {
  return String(value).replace(
    UNSAFE,
    (ch) => MARKUP[ch] ?? `\\u${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`,
  );
}

/** Long attacker-chosen strings would stretch the tables; the JSON form keeps them whole. */
function clip(value: string, max = 160): string {
  return value.length <= max ? value : `${value.slice(0, max - 1)}…`;
}

/** Escaped and clipped, for table cells. */
function text(value: string | undefined, max?: number): string {
  return value === undefined || value === '' ? '<span class="muted">–</span>' : escapeHtml(clip(value, max));
}

// ---------------------------------------------------------------------------------------------
// Time

function valid(d: Date | undefined): d is Date {
  return d !== undefined && !Number.isNaN(d.getTime());
}

/** "3 d 4 h", "4 h 12 min", "12 min 5 s", "5 s": two units are enough to read at a glance. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

function ago(d: Date, now: Date): string {
  const ms = now.getTime() - d.getTime();
  return ms < 1000 ? 'just now' : `${formatDuration(ms)} ago`;
}

/** UTC: the server's zone means nothing to a reader elsewhere, and logs use UTC too. */
function utc(d: Date): { date: string; clock: string; iso: string } {
  const iso = d.toISOString();
  return { date: iso.slice(0, 10), clock: iso.slice(11, 19), iso };
}

/** A `<time>`: the clock time (with the date when not today), and how long ago. */
function when(d: Date | undefined, now: Date): string {
  if (!valid(d)) return '<span class="muted">–</span>';
  const t = utc(d);
  const shown = t.date === utc(now).date ? t.clock : `${t.date} ${t.clock}`;
  return `<time datetime="${t.iso}">${shown}</time> <span class="ago">${ago(d, now)}</span>`;
}

// ---------------------------------------------------------------------------------------------
// Colours and badges

/** Okabe–Ito: told apart by colour-blind readers, dark enough on white. */
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#7F7F7F', '#000000'];
/** Known transports first, in the order a Flash client would try them; others after, by name. */
const TRANSPORT_ORDER = ['tcp', 'websocket', 'rtmp', 'rtmps', 'rtmpt'];

function orderTransports(names: Iterable<string>): string[] {
  const rank = (t: string): number => {
    const i = TRANSPORT_ORDER.indexOf(t);
    return i === -1 ? TRANSPORT_ORDER.length : i;
  };
  return [...new Set(names)].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

type Tone = 'ok' | 'bad' | 'warn' | 'unknown';

/** Colour plus a symbol plus the word, so the state reads without colour vision. */
const STATES: Record<string, { tone: Tone; symbol: string }> = {
  up: { tone: 'ok', symbol: '✔' },
  online: { tone: 'ok', symbol: '✔' },
  down: { tone: 'bad', symbol: '✖' },
  offline: { tone: 'bad', symbol: '✖' },
  connecting: { tone: 'warn', symbol: '…' },
  unknown: { tone: 'unknown', symbol: '?' },
};

function badge(state: string): string {
  const s = STATES[state] ?? { tone: 'unknown', symbol: '?' };
  return `<span class="badge ${s.tone}"><span aria-hidden="true">${s.symbol}</span> ${escapeHtml(state)}</span>`;
}

// ---------------------------------------------------------------------------------------------
// Chart

/** Y axis top and step: the smallest step of 1, 2 or 5 times a power of ten (whole connections) giving at most 5 intervals. */
export function niceScale(max: number): { top: number; step: number } {
  if (!(max > 0) || !Number.isFinite(max)) return { top: 1, step: 1 }; // Infinity would never end the search
  for (let magnitude = 1; ; magnitude *= 10) {
    for (const m of [1, 2, 5]) {
      const step = m * magnitude;
      if (Math.ceil(max / step) <= 5) return { top: Math.ceil(max / step) * step, step };
    }
  }
}

/** Minutes between time labels: the smallest round step giving at most 6 intervals (10 min for an hour). */
const TIME_STEPS_MIN = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];

function timeStepMs(spanMs: number): number {
  for (const m of TIME_STEPS_MIN) if (spanMs / (m * 60_000) <= 6) return m * 60_000;
  return Math.ceil(spanMs / 6 / 86_400_000) * 86_400_000;
}

const HOUR = 3_600_000;
/** Inner plot coordinates: x 0..1000 stretched to the width; y in pixels, 0 at the top. */
const PLOT_W = 1000;
const PLOT_H = 190;
const PLOT_TOP = 18;
const CHART_H = PLOT_TOP + PLOT_H + 26;

function num(v: number): string {
  return String(Math.round(v * 10) / 10);
}

function renderChart(history: StatusSnapshot['history'], now: Date, colours: Map<string, string>): string {
  const samples = history.filter((h) => valid(h.at)).slice().sort((a, b) => a.at.getTime() - b.at.getTime());
  if (samples.length === 0) {
    return '<p class="empty">No data yet: the chart fills in as connection counts are sampled.</p>';
  }
  const transports = orderTransports(samples.flatMap((h) => Object.keys(h.byTransport)));
  const count = (h: (typeof samples)[number], t: string): number => {
    const v = h.byTransport[t];
    return v !== undefined && Number.isFinite(v) && v > 0 ? v : 0;
  };
  const totals = samples.map((h) => transports.reduce((sum, t) => sum + count(h, t), 0));
  // Not Math.max(...totals): a long window at a short interval could exceed the argument limit.
  const peak = totals.reduce((best, v, i) => (v > totals[best]! ? i : best), 0);
  const { top, step } = niceScale(totals[peak]!);

  // The last hour up to now, widened if the samples reach further (a longer window, clock skew).
  const end = Math.max(valid(now) ? now.getTime() : 0, samples[samples.length - 1]!.at.getTime());
  const start = Math.min(end - HOUR, samples[0]!.at.getTime());
  const span = end - start;
  const x = (t: number): number => ((t - start) / span) * PLOT_W;
  const y = (v: number): number => PLOT_H - (v / top) * PLOT_H;

  // Stacked areas: each transport's band sits on the ones before it.
  const below = samples.map(() => 0);
  const layers: string[] = [];
  for (const t of transports) {
    const colour = colours.get(t) ?? PALETTE[0]!;
    const lower = below.slice();
    const upper = samples.map((h, i) => lower[i]! + count(h, t));
    upper.forEach((v, i) => (below[i] = v));
    const xs = samples.map((h) => num(x(h.at.getTime())));
    const topLine = upper.map((v, i) => `${xs[i]},${num(y(v))}`).join(' ');
    const baseLine = lower.map((v, i) => `${xs[i]},${num(y(v))}`).reverse().join(' ');
    const name = escapeHtml(t);
    layers.push(
      `<g class="series" data-transport="${name}"><title>${name}</title>` +
        `<polygon class="area" points="${topLine} ${baseLine}" fill="${colour}" fill-opacity="0.28" stroke="none"/>` +
        `<polyline class="line" points="${topLine}" fill="none" stroke="${colour}" stroke-width="2" stroke-linejoin="round" stroke-linecap="round" vector-effect="non-scaling-stroke"/>` +
        // One sample draws no line: a zero-length round-capped segment shows it as a dot.
        (samples.length === 1
          ? `<line class="dot" x1="${xs[0]}" y1="${num(y(upper[0]!))}" x2="${xs[0]}" y2="${num(y(upper[0]!))}" stroke="${colour}" stroke-width="7" stroke-linecap="round" vector-effect="non-scaling-stroke"/>`
          : '') +
        '</g>',
    );
  }

  // The outer SVG is in pixels (no viewBox) so labels keep their size on a phone; only the
  // plot is stretched, horizontally, and x positions outside it are given in percent.
  const grid: string[] = [];
  const yLabels: string[] = [];
  for (let v = 0; v <= top; v += step) {
    const py = num(PLOT_TOP + y(v));
    if (v > 0) grid.push(`<line x1="0" x2="100%" y1="${py}" y2="${py}"/>`);
    yLabels.push(`<text class="ylabel" x="4" y="${num(PLOT_TOP + y(v) - 4)}">${v}</text>`);
  }
  const tick = timeStepMs(span);
  const axisY = PLOT_TOP + PLOT_H;
  const xTicks: string[] = [];
  for (let t = Math.ceil(start / tick) * tick; t <= end; t += tick) {
    const pct = ((t - start) / span) * 100;
    // Labels near an edge are anchored inside it rather than cut off.
    const anchor = pct < 5 ? 'start' : pct > 95 ? 'end' : 'middle';
    const label = tick >= 86_400_000 ? utc(new Date(t)).date.slice(5) : utc(new Date(t)).clock.slice(0, 5);
    xTicks.push(
      `<line x1="${num(pct)}%" x2="${num(pct)}%" y1="${PLOT_TOP}" y2="${axisY + 5}"/>` +
        `<text class="xlabel" x="${num(pct)}%" y="${axisY + 19}" text-anchor="${anchor}">${label}</text>`,
    );
  }

  const last = samples[samples.length - 1]!;
  const latest = transports.map((t) => `${t} ${count(last, t)}`).join(', ');
  const title = `Open connections by transport, ${utc(new Date(start)).clock.slice(0, 5)} to ${utc(new Date(end)).clock.slice(0, 5)} UTC`;
  const desc =
    `Stacked areas, ${samples.length} samples. Latest (${utc(last.at).clock} UTC): ${totals[totals.length - 1]} open` +
    `${latest === '' ? '' : ` (${latest})`}. Peak ${totals[peak]} at ${utc(samples[peak]!.at).clock} UTC.`;

  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="100%" height="${CHART_H}" role="img" ` +
    `aria-labelledby="chart-title chart-desc" data-samples="${samples.length}">` +
    `<title id="chart-title">${escapeHtml(title)}</title><desc id="chart-desc">${escapeHtml(desc)}</desc>` +
    `<g class="xgrid">${xTicks.join('')}</g>` +
    `<g class="grid">${grid.join('')}</g>` +
    `<svg class="plot" x="0" y="${PLOT_TOP}" width="100%" height="${PLOT_H}" viewBox="0 0 ${PLOT_W} ${PLOT_H}" preserveAspectRatio="none" overflow="visible">` +
    `${layers.join('')}</svg>` +
    `<line class="axis" x1="0" x2="100%" y1="${axisY}" y2="${axisY}"/>` +
    `${yLabels.join('')}</svg>`;

  const legend = transports
    .map(
      (t) =>
        `<li><span class="swatch s${PALETTE.indexOf(colours.get(t) ?? PALETTE[0]!)}" aria-hidden="true"></span>` +
        `${escapeHtml(t)} <span class="muted">${count(last, t)} now</span></li>`,
    )
    .join('');
  return `<figure class="chart-box">${svg}<figcaption><ul class="legend">${legend}</ul></figcaption></figure>`;
}

// ---------------------------------------------------------------------------------------------
// Sections

function connectionsSection(s: StatusSnapshot, colours: Map<string, string>): string {
  const byTransport = new Map<string, { open: number; dialects: Map<string, number> }>();
  for (const c of s.connections) {
    const entry = byTransport.get(c.transport) ?? { open: 0, dialects: new Map<string, number>() };
    const open = Number.isFinite(c.open) ? c.open : 0;
    entry.open += open;
    entry.dialects.set(c.dialect, (entry.dialects.get(c.dialect) ?? 0) + open);
    byTransport.set(c.transport, entry);
  }
  if (byTransport.size === 0) return section('connections', 'Live connections', '<p class="empty">No transports reported.</p>');
  const rows = orderTransports(byTransport.keys()).map((t) => {
    const { open, dialects } = byTransport.get(t)!;
    const parts = [...dialects]
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .map(([d, n]) => `${text(d, 40)} <b>${n}</b>`);
    return (
      `<tr${open === 0 ? ' class="idle"' : ''}><td><span class="swatch s${PALETTE.indexOf(colours.get(t) ?? PALETTE[0]!)}" aria-hidden="true"></span>${text(t, 40)}</td>` +
      `<td class="num">${open}</td><td>${parts.length > 0 ? parts.join(' · ') : '<span class="muted">–</span>'}</td></tr>`
    );
  });
  const total = [...byTransport.values()].reduce((sum, e) => sum + e.open, 0);
  return section(
    'connections',
    'Live connections',
    '<table><thead><tr><th scope="col">Transport</th><th scope="col" class="num">Open</th><th scope="col">By dialect</th></tr></thead>' +
      `<tbody>${rows.join('')}</tbody><tfoot><tr><th scope="row">Total</th><td class="num"><b>${total}</b></td><td></td></tr></tfoot></table>`,
  );
}

function upstreamsSection(s: StatusSnapshot): string {
  if (s.upstreams.length === 0) return section('upstreams', 'XMPP servers', '<p class="empty">No XMPP servers configured.</p>');
  const rows = s.upstreams.map(
    (u) =>
      `<tr><td data-label="Domain">${text(u.domain)}</td><td data-label="Server">${text(u.target)}</td>` +
      `<td data-label="State">${badge(u.state)}</td><td data-label="Checked">${when(u.checkedAt, s.now)}</td>` +
      `<td data-label="Detail">${text(u.detail, 300)}</td></tr>`,
  );
  return section(
    'upstreams',
    'XMPP servers',
    '<table class="stack"><thead><tr><th scope="col">Domain</th><th scope="col">Server</th><th scope="col">State</th>' +
      `<th scope="col">Checked</th><th scope="col">Detail</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
  );
}

function componentsSection(s: StatusSnapshot): string {
  if (s.components.length === 0) return section('components', 'Components', '<p class="empty">No XMPP components configured.</p>');
  const rows = s.components.map(
    (c) =>
      `<tr><td data-label="Domain">${text(c.domain)}</td><td data-label="State">${badge(c.state)}</td>` +
      `<td data-label="Since">${when(c.since, s.now)}</td></tr>`,
  );
  return section(
    'components',
    'Components',
    '<table class="stack"><thead><tr><th scope="col">Domain</th><th scope="col">State</th><th scope="col">Since</th></tr></thead>' +
      `<tbody>${rows.join('')}</tbody></table>`,
  );
}

function failuresSection(s: StatusSnapshot): string {
  if (s.recentLoginFailures.length === 0) {
    return section('login-failures', 'Recent failed logins', '<p class="empty">No failed logins since the gateway started.</p>');
  }
  const rows = s.recentLoginFailures.map(
    (f) =>
      `<tr><td data-label="Time">${when(f.at, s.now)}</td>` +
      `<td data-label="Transport" class="nowrap">${text(f.transport, 40)}${f.dialect ? ` <span class="muted">/ ${text(f.dialect, 40)}</span>` : ''}</td>` +
      `<td data-label="Address" class="nowrap">${text(f.remoteAddress, 64)}</td><td data-label="User">${text(f.user, 80)}</td>` +
      `<td data-label="Method">${text(f.method, 40)}</td><td data-label="Reason">${text(f.reason)}</td></tr>`,
  );
  return section(
    'login-failures',
    'Recent failed logins',
    '<table class="stack"><thead><tr><th scope="col">Time (UTC)</th><th scope="col">Transport</th><th scope="col">Address</th>' +
      `<th scope="col">User</th><th scope="col">Method</th><th scope="col">Reason</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
  );
}

function section(id: string, heading: string, body: string): string {
  return `<section id="${id}" aria-labelledby="${id}-h"><h2 id="${id}-h">${heading}</h2>${body}</section>`;
}

// No '<' or '&' anywhere in the style sheet: the document must stay well-formed XML.
const CSS = `
:root{color-scheme:light;--fg:#1f2328;--muted:#59636e;--line:#d8dee4;--bg:#f3f5f7}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main{max-width:1080px;margin:0 auto;padding:0 16px}
header{padding-top:14px}
h1{font-size:1.35rem;margin:0}
h1 .version{font-weight:400;color:var(--muted);font-size:1rem}
.meta{margin:2px 0 0;color:var(--muted);font-size:.85rem}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:8px;margin:12px 0 0}
.tiles div{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 12px}
.tiles dt{font-size:.8rem;color:var(--muted)}
.tiles dd{margin:0;font-size:1.45rem;font-weight:600;font-variant-numeric:tabular-nums}
.tiles dd.alert{color:#a40e26}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin:12px 0}
h2{font-size:1.05rem;margin:0 0 8px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:anywhere}
thead th{font-size:.8rem;color:var(--muted);font-weight:600;white-space:nowrap}
tfoot th,tfoot td{border-bottom:0}
.num{text-align:right;font-variant-numeric:tabular-nums}
tr.idle td{color:var(--muted)}
time{font-variant-numeric:tabular-nums;white-space:nowrap}
.nowrap{white-space:nowrap}
.badge{display:inline-block;padding:0 8px;border-radius:999px;font-size:.8rem;font-weight:600;white-space:nowrap;border:1px solid}
.ok{background:#dafbe1;color:#116329;border-color:#4ac26b}
.bad{background:#ffebe9;color:#a40e26;border-color:#ff8182}
.warn{background:#fff8c5;color:#7d4e00;border-color:#d4a72c}
.unknown{background:#eff2f5;color:#59636e;border-color:#afb8c1}
.muted,.ago{color:var(--muted)}
.ago{font-size:.8rem;white-space:nowrap}
.empty{color:var(--muted);font-style:italic;margin:4px 0}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:6px;vertical-align:-1px}
.s0{background:#0072B2}.s1{background:#E69F00}.s2{background:#009E73}.s3{background:#CC79A7}
.s4{background:#56B4E9}.s5{background:#D55E00}.s6{background:#7F7F7F}.s7{background:#000000}
figure{margin:0}
svg.chart{display:block;width:100%;overflow:visible}
svg.chart text{font-size:12px;fill:#59636e}
svg.chart .ylabel{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
svg.chart .grid line{stroke:#e6eaef}
svg.chart .xgrid line{stroke:#eef1f4}
svg.chart .axis{stroke:#8c959f}
.legend{list-style:none;margin:6px 0 0;padding:0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:.875rem}
footer{max-width:1080px;margin:0 auto;padding:0 16px 16px;color:var(--muted);font-size:.8rem}
@media (max-width:640px){
body{font-size:14px}
header,main,footer{padding-left:8px;padding-right:8px}
section{padding:10px}
table.stack,table.stack tbody{display:block}
table.stack thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table.stack tr{display:block;border-bottom:1px solid var(--line);padding:6px 0}
table.stack td{display:block;position:relative;border:0;padding:1px 0 1px 6.5em;white-space:normal}
table.stack td::before{content:attr(data-label);position:absolute;left:0;top:.2em;color:var(--muted);font-size:.8rem}
}
`;

/** The status page: a complete HTML5 document that is also well-formed XML. */
export function renderStatusPage(s: StatusSnapshot): string {
  const colours = new Map<string, string>();
  const allTransports = orderTransports([...s.connections.map((c) => c.transport), ...s.history.flatMap((h) => Object.keys(h.byTransport))]);
  allTransports.forEach((t, i) => colours.set(t, PALETTE[i % PALETTE.length]!));

  const total = s.connections.reduce((sum, c) => sum + (Number.isFinite(c.open) ? c.open : 0), 0);
  const uptime = valid(s.startedAt) && valid(s.now) ? formatDuration(s.now.getTime() - s.startedAt.getTime()) : '–';
  const upCount = s.upstreams.filter((u) => u.state === 'up').length;
  const onlineCount = s.components.filter((c) => c.state === 'online').length;
  const tile = (label: string, value: string, bad = false): string => `<div><dt>${label}</dt><dd${bad ? ' class="alert"' : ''}>${value}</dd></div>`;
  const tiles = [
    tile('Live connections', String(total)),
    tile('Uptime', uptime),
    ...(s.upstreams.length > 0 ? [tile('XMPP servers up', `${upCount} / ${s.upstreams.length}`, upCount < s.upstreams.length)] : []),
    ...(s.components.length > 0 ? [tile('Components online', `${onlineCount} / ${s.components.length}`, onlineCount < s.components.length)] : []),
    tile('Recent failed logins', String(s.recentLoginFailures.length)),
  ];
  const started = valid(s.startedAt) ? `${utc(s.startedAt).date} ${utc(s.startedAt).clock} UTC` : '–';
  const generated = valid(s.now) ? `${utc(s.now).clock} UTC` : '–';

  return (
    '<!DOCTYPE html>\n' +
    '<html xmlns="http://www.w3.org/1999/xhtml" lang="en">\n<head>\n' +
    '<meta charset="utf-8"/>\n' +
    '<meta name="viewport" content="width=device-width, initial-scale=1"/>\n' +
    `<meta http-equiv="refresh" content="${REFRESH_SECONDS}"/>\n` +
    // Addresses and user names are on it: keep it out of search engines if it is ever exposed.
    '<meta name="robots" content="noindex, nofollow"/>\n' +
    `<title>flash-xmpp-gateway status</title>\n<style>${CSS}</style>\n</head>\n<body>\n` +
    `<header><h1>flash-xmpp-gateway <span class="version">${escapeHtml(clip(s.version, 60))}</span></h1>` +
    `<p class="meta">Up ${uptime}, since ${started}. Page generated ${generated}; it reloads every ${REFRESH_SECONDS} s.</p>` +
    `<dl class="tiles">${tiles.join('')}</dl></header>\n<main>\n` +
    connectionsSection(s, colours) +
    '\n' +
    section('history', 'Connections over the last hour (UTC)', renderChart(s.history, s.now, colours)) +
    '\n' +
    upstreamsSection(s) +
    '\n' +
    componentsSection(s) +
    '\n' +
    failuresSection(s) +
    '\n</main>\n<footer>Times are UTC. Counts are sampled in memory and start again at each restart.</footer>\n</body>\n</html>\n'
  );
}

// ---------------------------------------------------------------------------------------------
// JSON

function iso(d: Date | undefined): string | null | undefined {
  if (d === undefined) return undefined;
  return valid(d) ? d.toISOString() : null;
}

/**
 * The snapshot as JSON, dates as ISO 8601 strings. `<`, `>` and `&` are written as \u escapes
 * (still the same JSON) so a browser that sniffs the body as HTML finds no markup in it.
 */
export function statusJson(s: StatusSnapshot): string {
  const body = {
    version: s.version,
    startedAt: iso(s.startedAt),
    now: iso(s.now),
    uptimeSeconds: valid(s.startedAt) && valid(s.now) ? Math.max(0, Math.floor((s.now.getTime() - s.startedAt.getTime()) / 1000)) : null,
    totalConnections: s.connections.reduce((sum, c) => sum + (Number.isFinite(c.open) ? c.open : 0), 0),
    connections: s.connections.map((c) => ({ transport: c.transport, dialect: c.dialect, open: c.open })),
    recentLoginFailures: s.recentLoginFailures.map((f) => ({
      at: iso(f.at),
      transport: f.transport,
      dialect: f.dialect,
      remoteAddress: f.remoteAddress,
      user: f.user,
      method: f.method,
      reason: f.reason,
    })),
    upstreams: s.upstreams.map((u) => ({ domain: u.domain, target: u.target, state: u.state, checkedAt: iso(u.checkedAt), detail: u.detail })),
    components: s.components.map((c) => ({ domain: c.domain, state: c.state, since: iso(c.since) })),
    history: s.history.map((h) => ({ at: iso(h.at), byTransport: { ...h.byTransport } })),
  };
  return JSON.stringify(body).replace(/[<>&\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
