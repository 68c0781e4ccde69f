/**
 * PROXY protocol headers as a load balancer sends them (HAProxy's proxy-protocol.txt §2.1 and
 * §2.2), built independently of the gateway's parser: for the unit tests' round trips and for
 * the integration tests' hand-made connections.
 */
import net from 'node:net';

export const V2_SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** A version 1 line: `PROXY TCP4|TCP6 src dst sport dport\r\n`. */
export function proxyV1(source: { address: string; port: number }, destination: { address: string; port: number }): Buffer {
  const family = net.isIPv6(source.address) ? 'TCP6' : 'TCP4';
  return Buffer.from(`PROXY ${family} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`, 'latin1');
}

/** 16 (or 4) address bytes of an IPv6 (or IPv4) address, through Node's own parser. */
export function addressBytes(address: string): Buffer {
  if (net.isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  const [head = '', tail] = address.split('::') as [string, string?];
  const words = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const group of part.split(':')) {
      if (group.includes('.')) {
        const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(group, 16));
    }
    return out;
  };
  const h = words(head);
  const t = tail === undefined ? [] : words(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  all.forEach((w, i) => out.writeUInt16BE(w, 2 * i));
  return out;
}

export interface V2Options {
  /** 0x0 LOCAL, 0x1 PROXY (default 0x1). */
  command?: number;
  /** High nibble of byte 13: default 2. */
  version?: number;
  /** Byte 14 (family << 4 | transport); default from the address: 0x11 or 0x21. */
  familyByte?: number;
  /** Bytes after the addresses (TLVs). */
  tlvs?: Buffer;
  /** Replace the whole address block. */
  addressBlock?: Buffer;
  /** Force the length field. */
  length?: number;
}

/** A version 2 header (§2.2). Without source/destination: a LOCAL header with no addresses. */
export function proxyV2(
  source?: { address: string; port: number },
  destination?: { address: string; port: number },
  options: V2Options = {},
): Buffer {
  let block: Buffer = Buffer.alloc(0);
  let family = 0x00;
  if (source && destination) {
    const src = addressBytes(source.address);
    const dst = addressBytes(destination.address);
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(source.port, 0);
    ports.writeUInt16BE(destination.port, 2);
    block = Buffer.concat([src, dst, ports]);
    family = src.length === 4 ? 0x11 : 0x21;
  }
  if (options.addressBlock) block = options.addressBlock;
  const payload = Buffer.concat([block, options.tlvs ?? Buffer.alloc(0)]);
  const fixed = Buffer.alloc(4);
  fixed[0] = ((options.version ?? 2) << 4) | (options.command ?? (source ? 0x1 : 0x0));
  fixed[1] = options.familyByte ?? family;
  fixed.writeUInt16BE(options.length ?? payload.length, 2);
  return Buffer.concat([V2_SIG, fixed, payload]);
}

/** One TLV (§2.2): type, 16-bit length, value. */
export function tlv(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}
