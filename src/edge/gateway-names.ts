/**
 * The names a Flash client may put in its stream header's `to` when it means "the server I
 * dialled": XIFF 2 and XIFF 3.4.5 send the host name or IP the SWF connected to
 * (shared/spec/flash-clients.md). They are this machine's host name and addresses, the address
 * the connection arrived on, and the operator's --public-host names (for NAT and DNS aliases).
 */
import { hostname, networkInterfaces } from 'node:os';

/** `::ffff:127.0.0.1` → `127.0.0.1`; `[::1]` → `::1`. */
function normalise(address: string): string {
  const bare = address.replace(/^\[|\]$/g, '').toLowerCase();
  return bare.startsWith('::ffff:') && bare.includes('.') ? bare.slice(7) : bare;
}

export function machineNames(publicHosts: readonly string[]): ReadonlySet<string> {
  const names = new Set<string>(publicHosts.map((n) => n.toLowerCase()));
  const host = hostname().toLowerCase();
  names.add(host);
  names.add(host.split('.')[0] as string);
  for (const list of Object.values(networkInterfaces())) {
    for (const address of list ?? []) names.add(normalise(address.address));
  }
  return names;
}

/** The test for one connection: the machine's names plus the address it was dialled on. */
export function gatewayNameTest(machine: ReadonlySet<string>, localAddress: string | undefined): (name: string) => boolean {
  const dialled = localAddress ? normalise(localAddress) : '';
  const loopback = dialled === '::1' || dialled.startsWith('127.');
  return (name) => {
    const n = normalise(name);
    return n === dialled || machine.has(n) || (loopback && n === 'localhost');
  };
}
