/**
 * What the HTTP listener serves besides WebSockets: the demo page and its SWF, Ruffle itself
 * (self-hosted from the npm package, no CDN), and the HTTP form of the policy file. Static files
 * only, from two fixed folders, never outside them.
 */
import { createReadStream, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { policyXml, type PolicyOptions } from '../codec/policy/policy-file.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.swf': 'application/x-shockwave-flash',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
};

/** demo/public of this package (dist/src/edge/ → the package root). */
export const DEMO_ROOT = fileURLToPath(new URL('../../../demo/public/', import.meta.url));

function ruffleRoot(): string | undefined {
  try {
    return dirname(createRequire(import.meta.url).resolve('@ruffle-rs/ruffle/package.json'));
  } catch {
    return undefined;
  }
}

export interface HttpAppOptions {
  readonly policy: () => PolicyOptions;
}

export function createHttpApp(options: HttpAppOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const roots: Record<string, string | undefined> = { demo: DEMO_ROOT, ruffle: ruffleRoot() };
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { Allow: 'GET, HEAD' });
      return;
    }
    if (path === '/crossdomain.xml') {
      send(res, 200, 'text/x-cross-domain-policy', policyXml(options.policy()));
      return;
    }
    if (path === '/' || path === '/index.html') {
      serveFile(req, res, roots['demo'], 'index.html', 'no-cache');
      return;
    }
    const match = /^\/(demo|ruffle)\/(.+)$/.exec(path);
    if (match) {
      // Ruffle's file names carry content hashes; the demo files may change between versions.
      serveFile(req, res, roots[match[1] as string], match[2] as string, match[1] === 'ruffle' ? 'public, max-age=86400' : 'no-cache');
      return;
    }
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  };
}

/** A whole small response (HEAD gets the headers only). */
export function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': bytes.length, ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : bytes);
}

function serveFile(req: IncomingMessage, res: ServerResponse, root: string | undefined, relative: string, cache: string): void {
  let decoded: string;
  try {
    decoded = decodeURIComponent(relative);
  } catch {
    send(res, 400, 'text/plain; charset=utf-8', 'bad path\n');
    return;
  }
  const base = root === undefined ? undefined : resolve(root);
  const file = base === undefined ? undefined : resolve(base, decoded);
  // Only files inside the root: no `..`, no absolute paths, no NULs.
  if (base === undefined || file === undefined || decoded.includes('\0') || !(file + sep).startsWith(base + sep) || file === base) {
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    return;
  }
  let size: number;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw new Error('not a file');
    size = stat.size;
  } catch {
    send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    return;
  }
  res.writeHead(200, {
    'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': size,
    'Cache-Control': cache,
    'X-Content-Type-Options': 'nosniff',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(join(file));
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}
