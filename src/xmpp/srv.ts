/**
 * Finding a domain's XMPP server by DNS (RFC 6120 §3.2.1): the `_xmpp-client._tcp` SRV
 * records, lowest priority first and, within a priority, the heaviest weight; without records,
 * the domain itself on port 5222 (§3.2.2).
 */
import { promises as dns } from 'node:dns';
import type { HostPort } from '../config/settings.js';

export type SrvResolver = (name: string) => Promise<{ name: string; port: number; priority: number; weight: number }[]>;

export async function resolveClientServer(domain: string, resolve: SrvResolver = (n) => dns.resolveSrv(n)): Promise<HostPort> {
  let records: Awaited<ReturnType<SrvResolver>> = [];
  try {
    records = await resolve(`_xmpp-client._tcp.${domain}`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTFOUND' && code !== 'ENODATA') throw error;
  }
  // A single "." target means the service is decidedly not available (RFC 2782).
  const usable = records.filter((r) => r.name !== '' && r.name !== '.');
  if (records.length > 0 && usable.length === 0) throw new Error(`${domain} publishes no XMPP client service`);
  if (usable.length === 0) return { host: domain, port: 5222 };
  usable.sort((a, b) => a.priority - b.priority || b.weight - a.weight);
  const best = usable[0] as (typeof usable)[number];
  return { host: best.name, port: best.port };
}
