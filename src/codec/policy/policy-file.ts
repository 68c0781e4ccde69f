/**
 * The Flash socket policy file (Adobe "Cross-domain policy file specification", socket
 * policies) and the HTTP form Openfire's policy port served. Pure functions.
 */
import type { SiteControl } from '../../config/settings.js';
import { escapeAttr } from '../xml/serializer.js';

export interface PolicyOptions {
  /** Page domains allowed (`*`, `example.com`, `*.example.com`). */
  readonly allowFrom: readonly string[];
  /** Only the gateway's own Flash ports: never `*` (shared/spec/flash-clients.md). */
  readonly toPorts: readonly number[];
  readonly siteControl: SiteControl;
}

/** The request Flash Player sends, NUL-terminated. */
export const POLICY_REQUEST = '<policy-file-request/>';

/** The policy XML without the trailing NUL. */
export function policyXml(options: PolicyOptions): string {
  const ports = [...new Set(options.toPorts)].sort((a, b) => a - b).join(',');
  const allows = options.allowFrom
    .map((domain) => `<allow-access-from domain="${escapeAttr(domain)}" to-ports="${ports}"/>`)
    .join('');
  return (
    '<?xml version="1.0"?>' +
    '<!DOCTYPE cross-domain-policy SYSTEM "http://www.adobe.com/xml/dtds/cross-domain-policy.dtd">' +
    '<cross-domain-policy>' +
    `<site-control permitted-cross-domain-policies="${options.siteControl}"/>` +
    allows +
    '</cross-domain-policy>'
  );
}

/** The socket reply: the policy, then one NUL; the server closes after it. */
export function socketPolicyReply(options: PolicyOptions): Buffer {
  return Buffer.from(policyXml(options) + '\0', 'utf8');
}

/** The HTTP reply to `GET /crossdomain.xml` (or 404 for any other path). */
export function httpPolicyReply(path: string, options: PolicyOptions): Buffer {
  if (path !== '/crossdomain.xml') {
    const body = 'not found\n';
    return Buffer.from(
      `HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  const body = Buffer.from(policyXml(options), 'utf8');
  return Buffer.concat([
    Buffer.from(
      `HTTP/1.0 200 OK\r\nContent-Type: text/x-cross-domain-policy\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    ),
    body,
  ]);
}
