/**
 * The operator's HTTP endpoints on the HTTP listener: Prometheus exposition (/metrics), liveness
 * (/healthz: the process answers), readiness (/readyz: listeners bound and every upstream XMPP
 * server reachable — what a load balancer should route on) and the status page for people
 * (/status, /status.json). /metrics and the status page name users and addresses, so only
 * `opsAllowFrom` may read them; the health checks are open.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { send as sendResponse } from '../edge/http-app.js';
import type { GatewayMetrics } from './metrics.js';
import type { UpstreamState } from './readiness.js';
import { renderStatusPage, statusJson, type StatusSnapshot } from './status-page.js';

export interface OpsRoutesOptions {
  readonly metrics: GatewayMetrics;
  /** Whether a remote address may read /metrics and the status page (opsAllowFrom). */
  readonly mayRead: (remoteAddress: string) => boolean;
  /** True once every listener is bound. */
  readonly listening: () => boolean;
  readonly upstreams: () => Promise<UpstreamState[]>;
  readonly status: () => StatusSnapshot;
}

const TEXT = 'text/plain; charset=utf-8';

/** Returns a handler that answers the ops paths and returns false for any other. */
export function createOpsRoutes(options: OpsRoutesOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (!['/metrics', '/healthz', '/readyz', '/status', '/status.json'].includes(path)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, TEXT, 'method not allowed\n', { Allow: 'GET, HEAD' });
      return true;
    }
    if (path === '/healthz') {
      send(res, 200, TEXT, 'ok\n');
      return true;
    }
    if (path === '/readyz') {
      void readiness(options).then(({ ready, text }) => send(res, ready ? 200 : 503, TEXT, text));
      return true;
    }
    if (!options.mayRead(req.socket.remoteAddress ?? '')) {
      send(res, 403, TEXT, `${path} is open to the addresses in opsAllowFrom only\n`);
      return true;
    }
    if (path === '/metrics') {
      options.metrics.exposition().then(
        ({ contentType, body }) => send(res, 200, contentType, body),
        (error: unknown) => send(res, 500, TEXT, `metrics failed: ${(error as Error).message}\n`),
      );
    } else if (path === '/status') send(res, 200, 'text/html; charset=utf-8', renderStatusPage(options.status()));
    else send(res, 200, 'application/json', statusJson(options.status()));
    return true;
  };
}

/** One line per check, so `curl /readyz` says what is wrong. */
async function readiness(options: OpsRoutesOptions): Promise<{ ready: boolean; text: string }> {
  const lines: string[] = [];
  const listening = options.listening();
  lines.push(listening ? 'listeners: bound' : 'listeners: not bound yet');
  const upstreams = await options.upstreams();
  for (const u of upstreams) lines.push(`upstream ${u.domain} (${u.target}): ${u.state}${u.detail ? ` — ${u.detail}` : ''}`);
  const ready = listening && upstreams.every((u) => u.state === 'up');
  return { ready, text: `${ready ? 'ready' : 'not ready'}\n${lines.join('\n')}\n` };
}

/** Never cached: every answer is the state now. */
function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  sendResponse(res, status, type, body, { 'Cache-Control': 'no-store', ...headers });
}
