/**
 * Back-end push over HTTP (shared/spec/room-control.md): a web app whose moderator panel is not
 * an XMPP client posts the payload to `POST /api/rooms/{roomJid}/broadcast?deliver=iq|message`
 * with `Authorization: Bearer TOKEN`, and gets the delivery report as JSON. The endpoint exists
 * only when a token is configured.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { XmlElement } from '../codec/xml/element.js';
import { parseFragment, type XmlLimits } from '../codec/xml/parser.js';
import { StreamError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { RoomControlError, roomFromPath, type RoomControlService } from './room-control.js';

export interface PushApiOptions {
  readonly token: string;
  readonly service: RoomControlService;
  readonly limits: XmlLimits;
  readonly log: Logger;
}

const PATH = /^\/api\/rooms\/([^/]+)\/broadcast$/;

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const bytes = Buffer.from(JSON.stringify(body) + '\n', 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': bytes.length, ...headers });
  res.end(bytes);
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1] as string);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Handles the request if it is for the push API; false otherwise. */
export function createPushApi(options: PushApiOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const [path, query = ''] = (req.url ?? '').split('?') as [string, string?];
    const match = PATH.exec(path);
    if (!match) return false;
    if (req.method !== 'POST') {
      json(res, 405, { error: 'use POST' }, { Allow: 'POST' });
      return true;
    }
    if (!tokenMatches(req.headers.authorization, options.token)) {
      options.log.warn({ remote: req.socket.remoteAddress }, 'push API: missing or wrong token');
      json(res, 401, { error: 'a valid bearer token is required' }, { 'WWW-Authenticate': 'Bearer' });
      req.resume();
      return true;
    }
    const deliver = new URLSearchParams(query).get('deliver') ?? 'iq';
    if (deliver !== 'iq' && deliver !== 'message') {
      json(res, 400, { error: 'deliver must be iq or message' });
      req.resume();
      return true;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > options.limits.maxStanzaBytes) {
        json(res, 413, { error: `the payload is larger than ${options.limits.maxStanzaBytes} bytes` });
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      let payload: XmlElement[];
      try {
        payload = parseFragment(Buffer.concat(chunks).toString('utf8'), options.limits, '').filter((n): n is XmlElement => typeof n !== 'string');
      } catch (error) {
        json(res, 400, { error: `the payload is not well-formed XML (${error instanceof StreamError ? error.text : String(error)})` });
        return;
      }
      let room: string;
      try {
        room = roomFromPath(match[1] as string);
      } catch {
        json(res, 400, { error: 'bad room JID' });
        return;
      }
      options.service.broadcast(room, payload, deliver, undefined).then(
        (report) => json(res, 200, report),
        (error: unknown) => {
          if (!(error instanceof RoomControlError)) {
            options.log.error({ err: error }, 'push API failed');
            json(res, 500, { error: 'internal error' });
            return;
          }
          const status = { 'item-not-found': 404, 'service-unavailable': 503, 'bad-request': 400, forbidden: 403, 'remote-server-timeout': 504 }[error.condition];
          json(res, status, { error: error.text, condition: error.condition });
        },
      );
    });
    return true;
  };
}
