/**
 * The chart of docs/performance.svg, drawn by hand: one panel per measure group, a bar per
 * record (its judged figure: the ratio, the added latency, or the value), the target as a dashed
 * line. Plaintext and STARTTLS upstreams side by side; a missed target is marked ✗ in red.
 */
import { GROUP_TITLE, groupsOf } from './markdown.js';
import type { BenchResult, Report } from './report.js';

const W = 1200;
const PANEL_W = 580;
const PANEL_H = 300;
const GAP = 20;
const TOP = 70;
const COLORS = { plain: '#3b7dd8', starttls: '#9b6bd6', none: '#3b7dd8' };
/** Reference bars (the byte relays, no target of their own). */
const REFERENCE_COLORS = { plain: '#9aa5b1', starttls: '#c3c9d0', none: '#9aa5b1' };

function isReference(r: BenchResult): boolean {
  return r.target === null && r.name.split('.').some((p) => p === 'relay' || p === 'tls-relay');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function judgedValue(r: BenchResult, on = r.target?.on ?? (r.ratio !== undefined ? 'ratio' : 'gateway')): number {
  if (on === 'ratio') return r.ratio ?? NaN;
  if (on === 'difference') return r.difference ?? NaN;
  return r.gateway;
}

function axisLabel(rows: BenchResult[]): string {
  const r = rows.find((x) => x.target) ?? rows[0]!;
  const on = r.target?.on ?? (r.ratio !== undefined ? 'ratio' : 'gateway');
  if (on === 'ratio') return `gateway ÷ ${r.baselineLabel ?? 'baseline'}`;
  if (on === 'difference') return `gateway − ${r.baselineLabel ?? 'baseline'} (${r.unit})`;
  return r.unit;
}

/** A "nice" step for about `n` ticks up to `max`. */
function niceStep(span: number, n = 5): number {
  const raw = span / n;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * p;
}

function fmtTick(x: number, step: number): string {
  const d = step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step)));
  return x.toFixed(d);
}

function label(r: BenchResult): string {
  const parts = r.name.split('.');
  if (parts[parts.length - 1] === 'starttls') parts.pop();
  parts.shift(); // the group
  if (parts[0] === 'p50' || parts[0] === 'p99') parts.shift();
  // amf0.decode.realistic → "amf0 dec" over "realistic": short enough not to touch its neighbours.
  return parts.join('.').replace('.decode', ' dec').replace('.encode', ' enc');
}

function panel(group: string, rows: BenchResult[], x0: number, y0: number): string {
  const out: string[] = [];
  const plotX = x0 + 60;
  const plotY = y0 + 40;
  const plotW = PANEL_W - 80;
  const plotH = PANEL_H - 75;
  const target = rows.find((r) => r.target)?.target;
  // A reference bar is judged like its panel's targets (ratio, or difference for latency).
  const valueOf = (r: BenchResult): number => judgedValue(r, target?.on);
  const values = rows.map(valueOf).filter(Number.isFinite);
  // Far outliers would flatten every other bar: the axis stops at 4× the target, taller bars are cut (▲).
  const cap = target && target.value > 0 ? target.value * 4 : Infinity;
  const hi = Math.max(Math.min(Math.max(...values, 0), cap), target ? target.value * 1.25 : 0, 1e-9);
  const lo = Math.min(0, ...values);
  const step = niceStep(hi - lo);
  const top = Math.ceil(hi / step) * step;
  const bottom = Math.floor(lo / step) * step;
  const y = (v: number): number => plotY + plotH - ((v - bottom) / (top - bottom)) * plotH;

  out.push(`<rect x="${x0}" y="${y0}" width="${PANEL_W}" height="${PANEL_H}" rx="6" fill="#fff" stroke="#ddd"/>`);
  out.push(`<text x="${x0 + 12}" y="${y0 + 22}" class="title">${esc(GROUP_TITLE[group] ?? group)}</text>`);
  if (target) out.push(`<text x="${x0 + PANEL_W - 12}" y="${y0 + 22}" class="small" text-anchor="end">target ${esc(target.text)}</text>`);
  for (let v = bottom; v <= top + step / 1000; v += step) {
    out.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${plotX - 6}" y="${(y(v) + 4).toFixed(1)}" class="small" text-anchor="end">${fmtTick(v, step)}</text>`);
  }
  out.push(
    `<text transform="translate(${x0 + 14},${plotY + plotH / 2}) rotate(-90)" class="small" text-anchor="middle">${esc(axisLabel(rows))}</text>`,
  );

  // Bars: one slot per label, plain then starttls inside it.
  const labels = [...new Set(rows.map(label))];
  const slotW = plotW / Math.max(1, labels.length);
  const perSlot = Math.max(...labels.map((l) => rows.filter((r) => label(r) === l).length));
  const barW = Math.min(34, (slotW - 12) / perSlot);
  labels.forEach((l, i) => {
    const inSlot = rows.filter((r) => label(r) === l).sort((a, b) => (a.upstream === 'starttls' ? 1 : 0) - (b.upstream === 'starttls' ? 1 : 0));
    const startX = plotX + i * slotW + (slotW - barW * inSlot.length) / 2;
    inSlot.forEach((r, k) => {
      const v = valueOf(r);
      const bx = startX + k * barW;
      const color = (isReference(r) ? REFERENCE_COLORS : COLORS)[r.upstream ?? 'none'];
      if (Number.isFinite(v)) {
        const cut = v > top;
        const shown = cut ? top : v;
        const yTop = y(Math.max(shown, 0));
        const h = Math.abs(y(shown) - y(0));
        out.push(`<rect x="${(bx + 1).toFixed(1)}" y="${yTop.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${Math.max(h, 0.5).toFixed(1)}" fill="${color}"${r.met ? '' : ' stroke="#d33" stroke-width="2"'}/>`);
        const text = Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
        const ly = cut ? yTop + 14 : yTop - 4;
        out.push(`<text x="${(bx + barW / 2).toFixed(1)}" y="${ly.toFixed(1)}" class="${cut ? 'cut' : 'value'}" text-anchor="middle">${cut ? '▲' : ''}${text}</text>`);
        if (r.target) {
          out.push(
            `<text x="${(bx + barW / 2).toFixed(1)}" y="${(cut ? yTop - 4 : yTop - 16).toFixed(1)}" class="${r.met ? 'ok' : 'miss'}" text-anchor="middle">${r.met ? '✓' : '✗'}</text>`,
          );
        }
      } else {
        out.push(`<text x="${(bx + barW / 2).toFixed(1)}" y="${(y(0) - 4).toFixed(1)}" class="value" text-anchor="middle">n/a</text>`);
      }
    });
    const lx = plotX + i * slotW + slotW / 2;
    // Long names (amf0.decode.realistic) on two lines, split at the last dot, so neighbours don't overlap.
    const cut = l.length > 12 ? l.lastIndexOf('.') : -1;
    if (cut > 0) {
      out.push(
        `<text x="${lx.toFixed(1)}" y="${plotY + plotH + 14}" class="small" text-anchor="middle">${esc(l.slice(0, cut))}` +
          `<tspan x="${lx.toFixed(1)}" dy="12">${esc(l.slice(cut + 1))}</tspan></text>`,
      );
    } else out.push(`<text x="${lx.toFixed(1)}" y="${plotY + plotH + 16}" class="small" text-anchor="middle">${esc(l)}</text>`);
  });
  out.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${y(0).toFixed(1)}" y2="${y(0).toFixed(1)}" stroke="#888"/>`);
  if (target) {
    const ty = y(target.value).toFixed(1);
    out.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${ty}" y2="${ty}" stroke="#d33" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${plotX + plotW}" y="${(Number(ty) - 4).toFixed(1)}" class="target" text-anchor="end">${target.value}</text>`);
  }
  return out.join('\n');
}

export function renderChart(report: Report): string {
  const groups = groupsOf(report.results);
  const rowsOf = (g: string): BenchResult[] => report.results.filter((r) => r.group === g);
  const cols = 2;
  const rowsCount = Math.max(1, Math.ceil(groups.length / cols));
  const H = TOP + rowsCount * (PANEL_H + GAP) + 10;
  const m = report.machine;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    '<style>.title{font-size:15px;font-weight:bold;fill:#222}.small{font-size:11px;fill:#555}.value{font-size:10px;fill:#222}.ok{font-size:12px;fill:#2a2}.miss{font-size:12px;fill:#d33;font-weight:bold}.target{font-size:11px;fill:#d33}.cut{font-size:10px;fill:#fff;font-weight:bold}.head{font-size:18px;font-weight:bold;fill:#222}</style>',
    `<rect width="${W}" height="${H}" fill="#f7f7f7"/>`,
    `<text x="20" y="30" class="head">flash-xmpp-gateway vs. its baselines${report.quick ? ' (quick smoke run)' : ''}</text>`,
    `<text x="20" y="50" class="small">${esc(`${m.nproc} × ${m.cpuModel}, Node ${m.node}, Prosody ${m.prosody}; median of ${report.runs} run(s), ${report.startedAt.slice(0, 10)}. Dashed red line: the target. ✗ and a red outline: target missed. Grey: Node relays, for reference (tls-relay terminates TLS).`)}</text>`,
    `<rect x="${W - 300}" y="16" width="12" height="12" fill="${COLORS.plain}"/><text x="${W - 284}" y="26" class="small">upstream in plaintext</text>`,
    `<rect x="${W - 150}" y="16" width="12" height="12" fill="${COLORS.starttls}"/><text x="${W - 134}" y="26" class="small">upstream STARTTLS</text>`,
  ];
  groups.forEach((g, i) => {
    const x0 = 10 + (i % cols) * (PANEL_W + GAP);
    const y0 = TOP + Math.floor(i / cols) * (PANEL_H + GAP);
    // Latency: only the records with a target (p99) go in the chart; p50 is in the table.
    // One axis per panel: records in another unit (memory's "sessions held") stay in the tables.
    const all = rowsOf(g);
    const unitCount = new Map<string, number>();
    for (const r of all) unitCount.set(r.unit, (unitCount.get(r.unit) ?? 0) + 1);
    const mainUnit = [...unitCount].sort((x, y) => y[1] - x[1])[0]?.[0];
    const rows = all.filter((r) => r.unit === mainUnit);
    // The relay's bars (reference) go first, in grey.
    const withTarget = rows.filter((r) => r.target || (isReference(r) && !r.name.includes('.p50.')));
    withTarget.sort((a, b) => Number(isReference(b)) - Number(isReference(a)));
    out.push(panel(g, withTarget.length ? withTarget : rows, x0, y0));
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
