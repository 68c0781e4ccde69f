/**
 * What N sessions added to the gateway's heap, per session, from two V8 heap snapshots (the
 * memory bench writes them with --heap-snapshot DIR: one at the baseline, one at its largest size):
 *
 *   node dist/bench/lib/memory-heapdiff.js BASE.heapsnapshot AFTER.heapsnapshot SESSIONS [ROWS]
 *
 * Objects are grouped by kind and constructor name (strings, code and arrays by kind); each row is
 * the growth in count and self size divided by SESSIONS. Self sizes only: what an object holds
 * outside the V8 heap (socket handles, OpenSSL, libuv) shows in RSS, not here.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

type Tally = Map<string, { count: number; size: number }>;

function tally(file: string): { groups: Tally; total: number } {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const groups: Tally = new Map();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!]!;
    const name = snap.strings[snap.nodes[i + iName]!]!;
    const size = snap.nodes[i + iSize]!;
    let key: string;
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') key = '(strings)';
    else if (type === 'code') key = '(compiled code)';
    else if (type === 'number') key = '(heap numbers)';
    else if (type === 'array' || type === 'hidden' || type === 'closure') key = `(${type}) ${name.slice(0, 40)}`;
    else key = `${name.slice(0, 50)}${type === 'object' ? '' : ` [${type}]`}`;
    const g = groups.get(key) ?? { count: 0, size: 0 };
    g.count++;
    g.size += size;
    groups.set(key, g);
    total += size;
  }
  return { groups, total };
}

export function heapDiff(baseFile: string, afterFile: string, sessions: number, rows = 40): string {
  const base = tally(baseFile);
  const after = tally(afterFile);
  const diff: { key: string; count: number; size: number }[] = [];
  for (const [key, a] of after.groups) {
    const b = base.groups.get(key) ?? { count: 0, size: 0 };
    diff.push({ key, count: a.count - b.count, size: a.size - b.size });
  }
  diff.sort((x, y) => y.size - x.size);
  const lines = [
    `heap self size: ${((after.total - base.total) / sessions / 1024).toFixed(1)} KiB per session (${sessions} sessions)`,
    '   objects/session   bytes/session   group',
  ];
  for (const d of diff.slice(0, rows)) {
    lines.push(`${(d.count / sessions).toFixed(2).padStart(17)} ${(d.size / sessions).toFixed(0).padStart(15)}   ${d.key}`);
  }
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [base, after, n, rows] = process.argv.slice(2);
  if (!base || !after || !n) {
    console.error('usage: node dist/bench/lib/memory-heapdiff.js BASE.heapsnapshot AFTER.heapsnapshot SESSIONS [ROWS]');
    process.exit(2);
  }
  console.log(heapDiff(base, after, Number(n), rows ? Number(rows) : 40));
}
