#!/usr/bin/env node
// The whole-run redaction check: `node scripts/check-redaction.mjs DIR`.
// DIR is what a test run with FXG_LOG_CAPTURE_DIR=DIR left (see test/support/secrets.ts):
//   secrets-*.jsonl  one JSON object per line: {"secret", "kind", "user"?, "domain"?}
//   secrets-*.txt    (optional, by hand) one raw secret per line
//   *.log            log lines: gateway-<test pid>-<gateway pid>.log per gateway process,
//                    inproc-<test pid>.log for loggers a test ran in its own process
// Every log line is searched for every secret and for the encodings it would have on the wire:
// base64 (at any byte alignment, so also inside a longer base64 blob), the base64 SASL PLAIN
// messages of the user it belongs to, hex, URL encoding, JSON and XML escaping.
// Secrets of kind 'demo-password' (the embedded server's published demo accounts) are allowed in
// the gateway's human-readable startup banner, i.e. in lines that are not JSON; never in a record.
// Exit 0: lines and secrets were there and no secret was found; 1: a secret was found, or there
// were no log lines or no secrets (a check that saw nothing proves nothing); 2: usage.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const MIN_SECRET_LENGTH = 6;

/** The base64 characters that depend on the secret's bytes only, for each of the 3 alignments. */
function base64Fragments(bytes) {
  const out = [];
  for (let k = 0; k < 3; k++) {
    const encoded = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64').replace(/=+$/, '');
    const first = Math.ceil((8 * k) / 6);
    const end = Math.floor((8 * (k + bytes.length)) / 6); // chars [first, end) are whole
    if (end - first >= 4) out.push(encoded.slice(first, end));
  }
  return out;
}

const xmlEscape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/** [form name, text] pairs to look for; the more specific forms come first. */
function needlesFor({ secret, user, domain }) {
  const forms = [];
  const add = (form, text) => {
    if (text.length > 0 && !forms.some(([, t]) => t === text)) forms.push([form, text]);
  };
  if (user !== undefined) {
    const jid = domain !== undefined ? `${user}@${domain}` : undefined;
    const plain = [`\0${user}\0${secret}`, ...(jid ? [`\0${jid}\0${secret}`, `${jid}\0${user}\0${secret}`] : [])];
    for (const p of plain) add('base64 SASL PLAIN', Buffer.from(p, 'utf8').toString('base64'));
  }
  add('plain', secret);
  add('JSON-escaped', JSON.stringify(secret).slice(1, -1));
  add('XML-escaped', xmlEscape(secret));
  add('URL-encoded', encodeURIComponent(secret));
  add('form-encoded', encodeURIComponent(secret).replace(/%20/g, '+'));
  const bytes = Buffer.from(secret, 'utf8');
  add('hex', bytes.toString('hex'));
  add('HEX', bytes.toString('hex').toUpperCase());
  for (const f of base64Fragments(bytes)) {
    add('base64', f);
    add('base64url', f.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return forms;
}

const mask = (s) => `${[...s].slice(0, 2).join('')}${'*'.repeat(Math.max(3, [...s].length - 2))}`;
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Reads DIR; returns the report as { ok, lines: string[] } (pure: no printing, no exit). */
export function checkRedaction(dir) {
  const files = readdirSync(dir).sort();
  const entries = new Map(); // secret -> { secret, kinds:Set, users: [{user, domain}] }
  const addSecret = (e) => {
    if (typeof e.secret !== 'string' || e.secret === '') return;
    let s = entries.get(e.secret);
    if (!s) entries.set(e.secret, (s = { secret: e.secret, kinds: new Set(), users: [] }));
    if (e.kind) s.kinds.add(e.kind);
    if (typeof e.user === 'string' && !s.users.some((u) => u.user === e.user && u.domain === e.domain)) s.users.push({ user: e.user, domain: e.domain });
  };
  const problems = [];
  for (const f of files) {
    if (/^secrets-.*\.jsonl$/.test(f)) {
      for (const [i, line] of readFileSync(join(dir, f), 'utf8').split('\n').entries()) {
        if (line.trim() === '') continue;
        try {
          addSecret(JSON.parse(line));
        } catch {
          problems.push(`${f}:${i + 1}: not a JSON line`);
        }
      }
    } else if (/^secrets-.*\.txt$/.test(f)) {
      for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) if (line !== '') addSecret({ secret: line });
    }
  }
  const all = [...entries.values()];
  const secrets = all.filter((s) => [...s.secret].length >= MIN_SECRET_LENGTH);
  const skipped = all.length - secrets.length;

  const needles = []; // { text, form, secret }
  for (const s of secrets) {
    const variants = s.users.length > 0 ? s.users : [{}];
    for (const u of variants) {
      for (const [form, text] of needlesFor({ secret: s.secret, user: u.user, domain: u.domain })) {
        if (!needles.some((n) => n.text === text)) needles.push({ text, form, secret: s });
      }
    }
  }
  const longestFirst = [...needles].sort((a, b) => b.text.length - a.text.length);
  const any = needles.length > 0 ? new RegExp(needles.map((n) => escapeRegExp(n.text)).join('|')) : undefined;

  const logFiles = files.filter((f) => f.endsWith('.log') && statSync(join(dir, f)).isFile());
  let lineCount = 0;
  let bannerLines = 0;
  let gatewayFiles = 0;
  let inProcessFiles = 0;
  const hits = [];
  for (const f of logFiles) {
    if (f.startsWith('inproc-')) inProcessFiles++;
    else gatewayFiles++;
    const lines = readFileSync(join(dir, f), 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    lineCount += lines.length;
    if (!any) continue;
    for (const [i, line] of lines.entries()) {
      if (!any.test(line)) continue;
      const found = new Set();
      const hitsBefore = hits.length;
      const banner = !line.trimStart().startsWith('{');
      let allowed = false;
      for (const n of needles) {
        if (found.has(n.secret) || !line.includes(n.text)) continue;
        found.add(n.secret);
        if (banner && [...n.secret.kinds].every((k) => k === 'demo-password')) {
          allowed = true;
          continue;
        }
        const whose = [...n.secret.kinds].join('/') || 'secret';
        const of = n.secret.users.length > 0 ? ` of ${n.secret.users.map((u) => u.user).join(', ')}` : '';
        hits.push(`${f}:${i + 1}: ${whose}${of} "${mask(n.secret.secret)}" found, ${n.form}`);
      }
      if (hits.length === hitsBefore) {
        if (allowed) bannerLines++;
        continue;
      }
      // The line itself, with every secret form masked out.
      let shown = line;
      for (const n of longestFirst) shown = shown.split(n.text).join('[SECRET]');
      hits.push(`    ${shown.length > 400 ? `${shown.slice(0, 400)}…` : shown}`);
    }
  }

  const sources = `${gatewayFiles} gateway processes${inProcessFiles > 0 ? ` (and ${inProcessFiles} in-process loggers)` : ''}`;
  const secretsText = `${secrets.length} secrets${skipped > 0 ? ` (${skipped} shorter than ${MIN_SECRET_LENGTH} characters skipped)` : ''}`;
  const head = `redaction: ${lineCount} log lines from ${sources} checked against ${secretsText}`;
  if (problems.length > 0) return { ok: false, lines: [`${head}: unreadable secrets files`, ...problems] };
  if (lineCount === 0) return { ok: false, lines: [`${head}: FAILED, no log lines were captured in ${dir}: the check saw nothing`] };
  if (secrets.length === 0) return { ok: false, lines: [`${head}: FAILED, no secrets were recorded in ${dir}: the check saw nothing`] };
  if (hits.length > 0) return { ok: false, lines: [`${head}: FAILED, secrets found in the logs:`, ...hits] };
  const note = bannerLines > 0 ? ` (${bannerLines} non-JSON banner lines show the published demo passwords, as intended)` : '';
  return { ok: true, lines: [`${head}: no secret found${note}`] };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir || process.argv.length > 3) {
    console.error('usage: node scripts/check-redaction.mjs DIR');
    process.exit(2);
  }
  let result;
  try {
    result = checkRedaction(dir);
  } catch (error) {
    console.error(`redaction: cannot read ${dir}: ${error.message}`);
    process.exit(1);
  }
  (result.ok ? console.log : console.error)(result.lines.join('\n'));
  process.exit(result.ok ? 0 : 1);
}
