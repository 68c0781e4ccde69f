/**
 * Summarises V8 CPU profiles (`node --cpu-prof`): self time by function and by file, the first
 * place to look when a target is missed.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const i = url.indexOf('/dist/');
  if (i >= 0) return url.slice(i + 6);
  const n = url.indexOf('/node_modules/');
  if (n >= 0) return url.slice(n + 14);
  return url.replace(/^file:\/\//, '');
}

export async function summarizeProfiles(files: string[], top = 40): Promise<string> {
  const out: string[] = [];
  for (const file of files) {
    const p = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
    const total = p.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
    const ms = (p.endTime - p.startTime) / 1000;
    const perHit = total > 0 ? ms / total : 0;
    const byFn = new Map<string, number>();
    const byFile = new Map<string, number>();
    for (const n of p.nodes) {
      const h = n.hitCount ?? 0;
      if (h === 0) continue;
      const f = shortUrl(n.callFrame.url);
      const key = `${n.callFrame.functionName || '(anonymous)'}  ${f}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
      byFn.set(key, (byFn.get(key) ?? 0) + h);
      if (n.callFrame.functionName !== '(idle)') byFile.set(f, (byFile.get(f) ?? 0) + h);
    }
    const idle = [...byFn.entries()].filter(([k]) => k.startsWith('(idle)')).reduce((s, [, h]) => s + h, 0);
    const busy = total - idle;
    const pct = (h: number): string => `${((100 * h) / Math.max(1, busy)).toFixed(1).padStart(5)}%`;
    out.push(`# ${path.basename(file)}`, `${total} samples over ${(ms / 1000).toFixed(1)} s, ${busy} busy (${((busy * perHit) / 1000).toFixed(1)} s CPU on the main thread); percentages of busy samples`, '');
    out.push('## self time by function');
    for (const [k, h] of [...byFn.entries()].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`${pct(h)}  ${k}`);
    out.push('', '## self time by file');
    for (const [k, h] of [...byFile.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20)) out.push(`${pct(h)}  ${k}`);
    out.push('');
  }
  return out.join('\n');
}
