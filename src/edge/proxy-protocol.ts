/**
 * The PROXY protocol header a load balancer puts in front of a connection (HAProxy's "The PROXY
 * protocol, versions 1 & 2", haproxy.org/download/2.9/doc/proxy-protocol.txt): pure, bytes in
 * and a verdict out, no I/O. `edge/proxy-gate.ts` reads it off the sockets.
 *
 * The parser is fed the whole buffer read so far each time (it is at most a few hundred bytes):
 * it answers `need-more` while every byte still fits a header, throws ProxyProtocolError as soon
 * as one cannot, and returns the header with its length once it is complete, so the bytes after
 * it go to the protocol that follows.
 */

/** §2.2: the 12 bytes every version 2 header starts with. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** §2.1: "PROXY" and exactly one space. */
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** §2.1: the longest line a receiver must take, CRLF included ("PROXY UNKNOWN" with two IPv6 addresses). */
export const V1_MAX_BYTES = 107;
/**
 * Bytes a version 2 header may carry after its fixed 16 (addresses and TLVs). §2.2 lets the
 * length field say 65535; what HAProxy sends (addresses, unique id, authority, SSL details) stays
 * well under this, and a larger claim is refused before anything is buffered.
 */
export const V2_MAX_PAYLOAD_BYTES = 2048;

/** Which header versions a trusted proxy may send (HAProxy's `send-proxy` is v1, `send-proxy-v2` v2). */
export type ProxyVersions = 'v1' | 'v2' | 'any';

export type ProxyErrorCode =
  /** The first bytes are not a PROXY header at all. */
  | 'missing'
  /** A header of the version this listener was not configured for. */
  | 'wrong-version'
  /** A header that breaks the specification. */
  | 'malformed'
  /** A v1 line with no CRLF in 107 bytes, or a v2 length over V2_MAX_PAYLOAD_BYTES. */
  | 'too-long';

export class ProxyProtocolError extends Error {
  override readonly name = 'ProxyProtocolError';
  constructor(
    readonly code: ProxyErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface ProxyEndpoint {
  /** In Node's own notation (`socket.remoteAddress`): dotted IPv4, compressed lower-case IPv6. */
  readonly address: string;
  readonly port: number;
}

export type ProxyHeader =
  | {
      readonly version: 1 | 2;
      /** A relayed TCP connection: `source` is the client, `destination` the address it dialled. */
      readonly command: 'proxy';
      readonly family: 'IPv4' | 'IPv6';
      readonly source: ProxyEndpoint;
      readonly destination: ProxyEndpoint;
      /** Bytes of the header; what follows belongs to the proxied protocol. */
      readonly length: number;
    }
  | {
      readonly version: 1 | 2;
      /**
       * Use the connection's real endpoints: `local` is v2 LOCAL (the proxy's own connection, a
       * health check), `unknown` is v1 UNKNOWN or a v2 PROXY for a family or transport that is
       * not TCP over IPv4/IPv6 (§2.2 lets the receiver fall back to the real addresses).
       */
      readonly command: 'local' | 'unknown';
      readonly length: number;
    };

export type ProxyParseResult = { readonly kind: 'need-more' } | { readonly kind: 'header'; readonly header: ProxyHeader };

const NEED_MORE: ProxyParseResult = { kind: 'need-more' };

/** Compares `probe` with the start of `data`: 'yes', 'no', or 'maybe' while `data` is shorter. */
function prefixOf(data: Uint8Array, probe: Uint8Array, offset = 0): 'yes' | 'no' | 'maybe' {
  const n = Math.min(probe.length, data.length - offset);
  for (let i = 0; i < n; i++) if (data[offset + i] !== probe[i]) return 'no';
  return n === probe.length ? 'yes' : 'maybe';
}

/**
 * Whether `data` starts with a PROXY header signature of either version ('maybe' while too
 * short to tell). For connections from addresses that may not send one.
 */
export function proxySignature(data: Uint8Array): 'yes' | 'no' | 'maybe' {
  const v1 = prefixOf(data, V1_PREFIX);
  const v2 = prefixOf(data, V2_SIGNATURE);
  if (v1 === 'yes' || v2 === 'yes') return 'yes';
  return v1 === 'maybe' || v2 === 'maybe' ? 'maybe' : 'no';
}

/**
 * Parses the PROXY header at the start of `data`, accepting the given versions. Throws
 * ProxyProtocolError for anything that is not (or can no longer become) such a header.
 */
export function parseProxyHeader(data: Uint8Array, versions: ProxyVersions = 'any'): ProxyParseResult {
  if (data.length === 0) return NEED_MORE;
  const v1 = prefixOf(data, V1_PREFIX);
  const v2 = prefixOf(data, V2_SIGNATURE);
  if (v1 !== 'no') {
    if (versions === 'v2') throw new ProxyProtocolError('wrong-version', 'a version 1 (text) PROXY header where version 2 is configured');
    return v1 === 'maybe' ? NEED_MORE : parseV1(data);
  }
  if (v2 !== 'no') {
    if (versions === 'v1') throw new ProxyProtocolError('wrong-version', 'a version 2 (binary) PROXY header where version 1 is configured');
    return v2 === 'maybe' ? NEED_MORE : parseV2(data);
  }
  throw new ProxyProtocolError('missing', `no PROXY header: the connection starts with ${describeBytes(data)}`);
}

// ---- version 1 (§2.1) ----

const CR = 0x0d;
const LF = 0x0a;
const V1_PROTOCOLS = ['TCP4 ', 'TCP6 ', 'UNKNOWN'].map((p) => Buffer.from(p, 'latin1'));
/** Characters of a TCP4/TCP6 line after the protocol: addresses, ports and single spaces. */
const V1_FIELD_BYTE = /^[0-9A-Fa-f.: ]*$/;

function parseV1(data: Uint8Array): ProxyParseResult {
  const start = V1_PREFIX.length;
  let protocol: string | undefined;
  let undecided = false;
  for (const probe of V1_PROTOCOLS) {
    const m = prefixOf(data, probe, start);
    if (m === 'yes') protocol = probe.toString('latin1').trim();
    else if (m === 'maybe') undecided = true;
  }
  // Only the first line can be the header: look no further than its longest form.
  const window = Math.min(data.length, V1_MAX_BYTES);
  let end = -1;
  for (let i = start; i + 1 < window; i++) {
    if (data[i] === CR && data[i + 1] === LF) {
      end = i;
      break;
    }
  }
  if (protocol === undefined) {
    if (undecided && end < 0) return NEED_MORE;
    throw new ProxyProtocolError('malformed', `PROXY v1: unknown protocol ${describeBytes(data.subarray(start, Math.min(data.length, start + 8)))} (TCP4, TCP6 or UNKNOWN)`);
  }
  if (protocol === 'UNKNOWN') {
    // "the receiver must ignore anything presented before the CRLF"
    const after = start + 'UNKNOWN'.length;
    const next = data[after];
    const crlfNext = next === CR && (data.length === after + 1 || data[after + 1] === LF);
    if (next !== undefined && next !== 0x20 && !crlfNext) {
      throw new ProxyProtocolError('malformed', 'PROXY v1: UNKNOWN must be followed by a space or CRLF');
    }
    if (end < 0) return tooLongOrMore(data);
    return { kind: 'header', header: { version: 1, command: 'unknown', length: end + 2 } };
  }
  const fieldsStart = start + 5;
  // Without the CRLF yet, a CR as the very last byte read may be its first half.
  const seenEnd = end >= 0 ? end : window === data.length && data[window - 1] === CR ? window - 1 : window;
  const seen = Buffer.from(data.subarray(fieldsStart, Math.max(fieldsStart, seenEnd))).toString('latin1');
  if (!V1_FIELD_BYTE.test(seen)) {
    throw new ProxyProtocolError('malformed', `PROXY v1: unexpected characters in the ${protocol} line`);
  }
  if (end < 0) return tooLongOrMore(data);
  const fields = seen.split(' ');
  if (fields.length !== 4) {
    throw new ProxyProtocolError('malformed', `PROXY v1: a ${protocol} line has four fields separated by single spaces`);
  }
  const [src, dst, srcPort, dstPort] = fields as [string, string, string, string];
  const family = protocol === 'TCP4' ? 'IPv4' : 'IPv6';
  const parseAddress = family === 'IPv4' ? parseIPv4Text : parseIPv6Text;
  const sourceBytes = parseAddress(src);
  const destinationBytes = parseAddress(dst);
  if (!sourceBytes || !destinationBytes) {
    throw new ProxyProtocolError('malformed', `PROXY v1: ${!sourceBytes ? 'source' : 'destination'} is not an ${family} address in canonical form`);
  }
  const sourcePort = parsePort(srcPort);
  const destinationPort = parsePort(dstPort);
  if (sourcePort === undefined || destinationPort === undefined) {
    throw new ProxyProtocolError('malformed', 'PROXY v1: a port is not a decimal number from 0 to 65535 without leading zeros');
  }
  return {
    kind: 'header',
    header: {
      version: 1,
      command: 'proxy',
      family,
      source: { address: formatAddress(sourceBytes), port: sourcePort },
      destination: { address: formatAddress(destinationBytes), port: destinationPort },
      length: end + 2,
    },
  };
}

function tooLongOrMore(data: Uint8Array): ProxyParseResult {
  if (data.length >= V1_MAX_BYTES) throw new ProxyProtocolError('too-long', `PROXY v1: no CRLF in the first ${V1_MAX_BYTES} bytes`);
  return NEED_MORE;
}

/** §2.1: exactly four decimal numbers 0-255, no leading zeros. */
function parseIPv4Text(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i] as string;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/**
 * §2.1: groups of hex digits separated by colons, at most one `::`, 128 bits in all. A dotted
 * IPv4 tail is taken too: inet_ntop writes IPv4-mapped addresses that way (::ffff:1.2.3.4).
 */
function parseIPv6Text(text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (half: string): number[] | undefined => {
    if (half === '') return [];
    const out: number[] = [];
    const parts = half.split(':');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string;
      if (i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIPv4Text(part);
        if (!v4) return undefined;
        out.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(part)) return undefined;
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0] as string);
  const tail = halves.length === 2 ? groups(halves[1] as string) : [];
  if (!head || !tail) return undefined;
  const words =
    halves.length === 2
      ? head.length + tail.length > 7
        ? undefined
        : [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
      : head.length === 8
        ? head
        : undefined;
  if (!words) return undefined;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

function parsePort(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

// ---- version 2 (§2.2) ----

const V2_FIXED = 16;
const COMMAND_LOCAL = 0x0;
const COMMAND_PROXY = 0x1;
const AF_UNSPEC = 0x0;
const AF_INET = 0x1;
const AF_INET6 = 0x2;
const AF_UNIX = 0x3;
const TRANSPORT_STREAM = 0x1;
/** Address block sizes by family (§2.2, `union proxy_addr`). */
const ADDRESS_BYTES: Record<number, number> = { [AF_UNSPEC]: 0, [AF_INET]: 12, [AF_INET6]: 36, [AF_UNIX]: 216 };

function parseV2(data: Uint8Array): ProxyParseResult {
  const sig = V2_SIGNATURE.length;
  if (data.length > sig) {
    const versionCommand = data[sig] as number;
    if (versionCommand >> 4 !== 0x2) throw new ProxyProtocolError('malformed', `PROXY v2: version ${versionCommand >> 4} (only 2 exists)`);
    const command = versionCommand & 0x0f;
    if (command !== COMMAND_LOCAL && command !== COMMAND_PROXY) throw new ProxyProtocolError('malformed', `PROXY v2: unassigned command ${command}`);
  }
  const command = data.length > sig ? (data[sig] as number) & 0x0f : undefined;
  if (command === COMMAND_PROXY && data.length > sig + 1) {
    // For LOCAL the family is ignored altogether (§2.2).
    const family = (data[sig + 1] as number) >> 4;
    const transport = (data[sig + 1] as number) & 0x0f;
    if (family > AF_UNIX) throw new ProxyProtocolError('malformed', `PROXY v2: unspecified address family ${family}`);
    if (transport > 0x2) throw new ProxyProtocolError('malformed', `PROXY v2: unspecified transport protocol ${transport}`);
  }
  if (data.length < V2_FIXED) return NEED_MORE;
  const payload = ((data[14] as number) << 8) | (data[15] as number);
  if (payload > V2_MAX_PAYLOAD_BYTES) {
    throw new ProxyProtocolError('too-long', `PROXY v2: a header of ${V2_FIXED + payload} bytes (at most ${V2_FIXED + V2_MAX_PAYLOAD_BYTES} taken)`);
  }
  const familyByte = data[13] as number;
  const family = familyByte >> 4;
  if (command === COMMAND_PROXY && payload < (ADDRESS_BYTES[family] as number)) {
    throw new ProxyProtocolError('malformed', `PROXY v2: ${payload} bytes cannot hold the addresses of family ${family} (${ADDRESS_BYTES[family]} needed)`);
  }
  const length = V2_FIXED + payload;
  if (data.length < length) return NEED_MORE;
  // TLVs after the addresses are skipped: the gateway needs none of them.
  if (command === COMMAND_LOCAL) return { kind: 'header', header: { version: 2, command: 'local', length } };
  const transport = familyByte & 0x0f;
  if ((family !== AF_INET && family !== AF_INET6) || transport !== TRANSPORT_STREAM) {
    return { kind: 'header', header: { version: 2, command: 'unknown', length } };
  }
  const size = family === AF_INET ? 4 : 16;
  const at = V2_FIXED;
  const port = (offset: number): number => ((data[offset] as number) << 8) | (data[offset + 1] as number);
  return {
    kind: 'header',
    header: {
      version: 2,
      command: 'proxy',
      family: family === AF_INET ? 'IPv4' : 'IPv6',
      source: { address: formatAddress(data.subarray(at, at + size)), port: port(at + 2 * size) },
      destination: { address: formatAddress(data.subarray(at + size, at + 2 * size)), port: port(at + 2 * size + 2) },
      length,
    },
  };
}

// ---- addresses ----

/**
 * 4 or 16 address bytes as Node writes them in `socket.remoteAddress` (libuv's inet_ntop), so
 * an address from a header and the same address seen directly are one key for the limiter:
 * the longest run of two or more zero groups is `::`, and ::ffff:a.b.c.d and ::a.b.c.d show
 * their IPv4 part dotted.
 */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestLength < 2) bestStart = -1;
  if (bestStart === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff))) {
    return `::${bestLength === 5 ? 'ffff:' : ''}${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLength - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += (words[i] as number).toString(16);
  }
  return out;
}

/** A few bytes for a log line, printable ASCII as is and the rest as \xNN. */
function describeBytes(data: Uint8Array): string {
  let out = '';
  for (const byte of data.subarray(0, 16)) {
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return `"${out}${data.length > 16 ? '…' : ''}"`;
}
