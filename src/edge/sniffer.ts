/**
 * First-byte sniffing for the main Flash port (pure: bytes in, verdict out).
 *
 * Flash Player sends `<policy-file-request/>\0` to the port it wants to reach
 * (shared/spec/flash-clients.md, "Socket policy files"); XMPP clients start with `<`, possibly
 * after a stray NUL or whitespace (XMLSocket). The other protocols of the main port are
 * recognised by their fixed first bytes: WebSocket upgrades and RTMPT start with an HTTP
 * method, RTMP with version byte 0x03 (spec/rtmp.md), SecureSocket clients with a TLS record
 * (0x16). Which of these the gateway actually serves is the listener's decision.
 */

export type SniffedProtocol = 'policy' | 'xmpp' | 'http-get' | 'http-post' | 'rtmp' | 'tls';

export type SniffResult =
  | { readonly kind: 'match'; readonly protocol: SniffedProtocol; /** leading filler bytes to drop */ readonly skip: number }
  | { readonly kind: 'need-more' }
  | { readonly kind: 'unknown' };

/** Most filler bytes (NUL, whitespace) tolerated before the first `<`. */
export const MAX_FILLER_BYTES = 64;

const POLICY_REQUEST = Buffer.from('<policy-file-request/>');

/** Protocols recognised by fixed bytes at offset 0, no filler allowed. */
const PREFIXED: ReadonlyArray<readonly [Buffer, SniffedProtocol]> = [
  [Buffer.from('GET '), 'http-get'],
  [Buffer.from('POST '), 'http-post'],
  [Buffer.from([0x03]), 'rtmp'],
  [Buffer.from([0x16]), 'tls'],
];

function isFiller(byte: number): boolean {
  return byte === 0x00 || byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

/** Compares `probe` with `data` from `offset`: 'yes', 'no', or 'maybe' while `data` is shorter. */
function prefixMatch(data: Uint8Array, offset: number, probe: Uint8Array): 'yes' | 'no' | 'maybe' {
  const n = Math.min(probe.length, data.length - offset);
  for (let i = 0; i < n; i++) if (data[offset + i] !== probe[i]) return 'no';
  return n === probe.length ? 'yes' : 'maybe';
}

export function sniff(data: Uint8Array): SniffResult {
  if (data.length === 0) return { kind: 'need-more' };
  let undecided = false;
  for (const [probe, protocol] of PREFIXED) {
    const m = prefixMatch(data, 0, probe);
    if (m === 'yes') return { kind: 'match', protocol, skip: 0 };
    if (m === 'maybe') undecided = true;
  }
  if (undecided) return { kind: 'need-more' };

  let skip = 0;
  while (skip < data.length && isFiller(data[skip] as number)) skip++;
  if (skip === data.length) return skip > MAX_FILLER_BYTES ? { kind: 'unknown' } : { kind: 'need-more' };
  if (skip > MAX_FILLER_BYTES || data[skip] !== 0x3c /* < */) return { kind: 'unknown' };

  const policy = prefixMatch(data, skip, POLICY_REQUEST);
  if (policy === 'yes') return { kind: 'match', protocol: 'policy', skip };
  if (policy === 'maybe') return { kind: 'need-more' };
  return { kind: 'match', protocol: 'xmpp', skip };
}
