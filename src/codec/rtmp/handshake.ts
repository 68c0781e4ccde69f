/**
 * The server side of the RTMP handshake (Adobe RTMP spec §5.2), as a pure state machine.
 *
 * Reads exactly C0 (1 byte), C1 (1536) and C2 (1536); answers S0+S1+S2 in one piece as soon as
 * C0+C1 are in; hands back whatever follows C2 (the first chunks) for the chunk decoder.
 *
 * Two forms:
 * - plain (the spec's): S1 = time, four zero bytes, random; S2 = an echo of C1.
 * - digest (what Flash Player 9+ and librtmp with -w/-x or RTMPE send, not in the published spec):
 *   C1 carries a 32-byte HMAC-SHA256 at an offset derived from four of its own bytes (scheme 0:
 *   bytes 8..11, digest within 12..771; scheme 1: bytes 772..775, digest within 776..1535), keyed
 *   with the first 30 bytes of the Flash Player key. We answer with a digest S1 (same scheme,
 *   keyed with the first 36 bytes of the Flash Media Server key) and an S2 whose last 32 bytes are
 *   HMAC(HMAC(full FMS key, C1's digest), S2's first 1504 bytes). Flash Player needs this form to
 *   play H.264; librtmp in FP9 mode refuses a digest S1/S2 it cannot verify, but falls back to the
 *   plain form when S1's version byte is 0.
 *
 * C2 is read and ignored (no client checks what we make of it). Encrypted RTMPE (C0 = 6, 8, 9)
 * is refused with RtmpError 'bad-version'.
 */

import { Buffer } from 'node:buffer';
import { createHmac, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';
import { RtmpError } from './errors.js';

/** C0/S0: the only RTMP version served. */
export const RTMP_VERSION = 3;
/** Size of C1, C2, S1 and S2. */
export const HANDSHAKE_SIZE = 1536;
/** Bytes the server reads before the chunk stream begins: C0 + C1 + C2. */
export const CLIENT_HANDSHAKE_BYTES = 1 + 2 * HANDSHAKE_SIZE;

const DIGEST_SIZE = 32;
const SIGNED_SIZE = HANDSHAKE_SIZE - DIGEST_SIZE; // 1504

const KEY_TAIL = Buffer.from('f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae', 'hex');
/** "Genuine Adobe Flash Player 001" + 32 bytes (62): the first 30 sign C1; all 62 key C2's key. */
const FP_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Player 001', 'latin1'), KEY_TAIL]);
/** "Genuine Adobe Flash Media Server 001" + 32 bytes (68): the first 36 sign S1; all 68 key S2's key. */
const FMS_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Media Server 001', 'latin1'), KEY_TAIL]);
const FP_KEY_SHORT = FP_KEY.subarray(0, 30);
const FMS_KEY_SHORT = FMS_KEY.subarray(0, 36);

/** The two digest placements: 0 = offset bytes at 8 (digest in 12..771), 1 = at 772 (776..1535). */
export type DigestScheme = 0 | 1;

/** The version S1 announces in the digest form: 3.5.1.1, as librtmp's own server does. */
export const DEFAULT_SERVER_VERSION = 0x03050101;

const RTMPE_NAMES: Record<number, string> = {
  6: 'RTMPE (encrypted RTMP)',
  8: 'RTMPE type 8 (encrypted RTMP, XTEA signatures)',
  9: 'RTMPE type 9 (encrypted RTMP, Blowfish signatures)',
};

// ---------------------------------------------------------------------------------------------
// Digest arithmetic

/** Where the 32-byte digest sits in a 1536-byte C1/S1 for a scheme (never overlaps its 4 offset bytes). */
export function digestOffset(sig: Uint8Array, scheme: DigestScheme): number {
  const base = scheme === 0 ? 8 : 772;
  const sum = sig[base]! + sig[base + 1]! + sig[base + 2]! + sig[base + 3]!;
  return (sum % 728) + base + 4;
}

/** HMAC-SHA256 of the 1504 bytes around the digest at `offset`. */
function digestAround(sig: Uint8Array, offset: number, key: Uint8Array): Buffer {
  return createHmac('sha256', key)
    .update(sig.subarray(0, offset))
    .update(sig.subarray(offset + DIGEST_SIZE, HANDSHAKE_SIZE))
    .digest();
}

function hmac(key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function equal32(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The scheme and offset of a valid digest in `sig` (scheme 0 tried first), or undefined. */
function findDigest(sig: Uint8Array, key: Uint8Array): { scheme: DigestScheme; offset: number } | undefined {
  for (const scheme of [0, 1] as const) {
    const offset = digestOffset(sig, scheme);
    if (equal32(digestAround(sig, offset, key), sig.subarray(offset, offset + DIGEST_SIZE))) return { scheme, offset };
  }
  return undefined;
}

/** Writes the digest of `sig` (1536 bytes, in place) for a scheme; returns its offset. */
function signInPlace(sig: Buffer, scheme: DigestScheme, key: Uint8Array): number {
  const offset = digestOffset(sig, scheme);
  digestAround(sig, offset, key).copy(sig, offset);
  return offset;
}

/** Fills the last 32 bytes of a C2/S2 with HMAC(HMAC(key, peerDigest), first 1504 bytes). */
function signResponse(sig: Buffer, key: Uint8Array, peerDigest: Uint8Array): void {
  hmac(hmac(key, peerDigest), sig.subarray(0, SIGNED_SIZE)).copy(sig, SIGNED_SIZE);
}

function responseValid(sig: Uint8Array, key: Uint8Array, peerDigest: Uint8Array): boolean {
  return equal32(hmac(hmac(key, peerDigest), sig.subarray(0, SIGNED_SIZE)), sig.subarray(SIGNED_SIZE, HANDSHAKE_SIZE));
}

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

// ---------------------------------------------------------------------------------------------
// Server

export interface ServerHandshakeOptions {
  /** Source of S1's and S2's filler bytes. Default: node:crypto randomBytes. */
  randomBytes?: (size: number) => Uint8Array;
  /** S1's time field (uint32 ms; the spec allows 0). Default 0. */
  time?: number;
  /** Version field of a digest-form S1 (uint32, one byte per part). Default 3.5.1.1. */
  serverVersion?: number;
  /** Answer a digest C1 in the digest form. Default true; false always answers plain. */
  digest?: boolean;
}

export interface HandshakeStep {
  /** S0+S1+S2 (3073 bytes), once, in the step that completes C1. */
  reply?: Buffer;
  /** C2 is complete: the chunk stream starts. */
  done: boolean;
  /** Bytes after C2 in this step (a view of the input), for the chunk decoder. Absent when none. */
  rest?: Buffer;
}

const PH_C0 = 0;
const PH_C1 = 1;
const PH_C2 = 2;
const PH_DONE = 3;

export class ServerHandshake {
  /** 'digest' or 'plain' once C1 is in. */
  form: 'digest' | 'plain' | undefined;
  /** The digest scheme C1 used (digest form only). */
  digestScheme: DigestScheme | undefined;
  /** C1's time field. */
  clientTime: number | undefined;
  /** C1's version field (e.g. 0x80000302 = 128.0.3.2 from librtmp; 0 for a plain client). */
  clientVersion: number | undefined;

  private phase = PH_C0;
  private failure: RtmpError | undefined;
  private c1: Buffer | undefined;
  private have = 0; // bytes of the current part (C1 or C2) received
  private readonly random: (size: number) => Uint8Array;
  private readonly time: number;
  private readonly serverVersion: number;
  private readonly digestEnabled: boolean;

  constructor(options: ServerHandshakeOptions = {}) {
    this.random = options.randomBytes ?? cryptoRandomBytes;
    this.time = (options.time ?? 0) >>> 0;
    this.serverVersion = (options.serverVersion ?? DEFAULT_SERVER_VERSION) >>> 0;
    this.digestEnabled = options.digest ?? true;
  }

  get done(): boolean {
    return this.phase === PH_DONE;
  }

  /**
   * Feeds client bytes. Throws RtmpError 'bad-version' as soon as C0 is wrong (and again on any
   * later push). Pushing after `done` is a caller bug (plain Error): the rest belongs to the
   * chunk decoder.
   */
  push(bytes: Uint8Array): HandshakeStep {
    if (this.failure) throw this.failure;
    if (this.phase === PH_DONE) throw new Error('ServerHandshake.push after the handshake is done');
    const input = toBuffer(bytes);
    let pos = 0;
    let reply: Buffer | undefined;
    while (pos < input.length && this.phase !== PH_DONE) {
      if (this.phase === PH_C0) {
        this.checkVersion(input[pos]!);
        pos += 1;
        this.phase = PH_C1;
        this.c1 = Buffer.alloc(HANDSHAKE_SIZE);
        this.have = 0;
      } else if (this.phase === PH_C1) {
        const n = Math.min(HANDSHAKE_SIZE - this.have, input.length - pos);
        input.copy(this.c1!, this.have, pos, pos + n);
        pos += n;
        this.have += n;
        if (this.have === HANDSHAKE_SIZE) {
          reply = this.answer(this.c1!);
          this.c1 = undefined;
          this.phase = PH_C2;
          this.have = 0;
        }
      } else {
        const n = Math.min(HANDSHAKE_SIZE - this.have, input.length - pos);
        pos += n;
        this.have += n;
        if (this.have === HANDSHAKE_SIZE) this.phase = PH_DONE;
      }
    }
    const step: HandshakeStep = { done: this.phase === PH_DONE };
    if (reply) step.reply = reply;
    if (pos < input.length) step.rest = input.subarray(pos);
    return step;
  }

  private checkVersion(c0: number): void {
    if (c0 === RTMP_VERSION) return;
    const rtmpe = RTMPE_NAMES[c0];
    const text = rtmpe
      ? `C0 = ${c0}: ${rtmpe} is not supported; connect with rtmp:// (or rtmps:// for TLS)`
      : `C0 = 0x${c0.toString(16).padStart(2, '0')}: not RTMP version 3`;
    this.failure = new RtmpError('bad-version', text);
    throw this.failure;
  }

  /** Builds S0+S1+S2 for a complete C1. */
  private answer(c1: Buffer): Buffer {
    this.clientTime = c1.readUInt32BE(0);
    this.clientVersion = c1.readUInt32BE(4);
    const reply = Buffer.allocUnsafe(1 + 2 * HANDSHAKE_SIZE);
    reply[0] = RTMP_VERSION;
    const s1 = reply.subarray(1, 1 + HANDSHAKE_SIZE);
    const s2 = reply.subarray(1 + HANDSHAKE_SIZE);
    fill(s1, this.random);
    s1.writeUInt32BE(this.time, 0);

    const found = this.digestEnabled ? findDigest(c1, FP_KEY_SHORT) : undefined;
    if (found) {
      this.form = 'digest';
      this.digestScheme = found.scheme;
      s1.writeUInt32BE(this.serverVersion, 4);
      signInPlace(s1, found.scheme, FMS_KEY_SHORT);
      fill(s2, this.random);
      signResponse(s2, FMS_KEY, c1.subarray(found.offset, found.offset + DIGEST_SIZE));
    } else {
      this.form = 'plain';
      s1.writeUInt32BE(0, 4);
      c1.copy(s2);
    }
    return reply;
  }
}

function fill(target: Buffer, random: (size: number) => Uint8Array): void {
  const bytes = random(target.length);
  if (bytes.length !== target.length) throw new RangeError(`randomBytes(${target.length}) returned ${bytes.length} bytes`);
  target.set(bytes);
}

// ---------------------------------------------------------------------------------------------
// The client's side, for tests and test clients

export interface ClientC1Options {
  /** Sign C1 the way Flash Player 9+ and librtmp (FP9 mode) do. */
  digest: boolean;
  /** Digest placement (digest form only). Default 0; librtmp (built with FP10) uses 1. */
  scheme?: DigestScheme;
  /** Filler bytes. Default: node:crypto randomBytes. */
  randomBytes?: (size: number) => Uint8Array;
  /** Time field. Default 0. */
  time?: number;
  /** Version field. Default 0 (plain) or 9.0.124.2 (digest). */
  version?: number;
}

/** A C1 (1536 bytes, without C0) as Flash Player / librtmp build it. */
export function makeClientC1(options: ClientC1Options): Buffer {
  const c1 = Buffer.alloc(HANDSHAKE_SIZE);
  fill(c1, options.randomBytes ?? cryptoRandomBytes);
  c1.writeUInt32BE((options.time ?? 0) >>> 0, 0);
  c1.writeUInt32BE((options.version ?? (options.digest ? 0x09007c02 : 0)) >>> 0, 4);
  if (options.digest) signInPlace(c1, options.scheme ?? 0, FP_KEY_SHORT);
  return c1;
}

/**
 * The C2 a client answers S1 with: in the digest form (C1 and S1 both signed) random bytes signed
 * with HMAC(HMAC(full Flash Player key, S1's digest), …); otherwise an echo of S1.
 */
export function makeClientC2(c1: Uint8Array, s1: Uint8Array, randomBytes: (size: number) => Uint8Array = cryptoRandomBytes): Buffer {
  const clientDigest = findDigest(c1, FP_KEY_SHORT);
  const serverDigest = clientDigest && s1[4] !== 0 ? findDigest(s1, FMS_KEY_SHORT) : undefined;
  if (!serverDigest) return Buffer.from(s1);
  const c2 = Buffer.alloc(HANDSHAKE_SIZE);
  fill(c2, randomBytes);
  signResponse(c2, FP_KEY, s1.subarray(serverDigest.offset, serverDigest.offset + DIGEST_SIZE));
  return c2;
}

export type ServerHandshakeCheck = { ok: true; form: 'digest' | 'plain' } | { ok: false; reason: string };

/**
 * Checks S1/S2 as a strict client would. A signed C1 expects a signed S1 (either scheme, as
 * librtmp tries both) and an S2 signed with HMAC(full FMS key, C1's digest) — unless S1's first
 * version byte is 0, librtmp's signal to fall back to the plain form. A plain exchange expects
 * S2 to echo C1 (librtmp only warns when it does not; we insist).
 */
export function verifyServerHandshake(c1: Uint8Array, s1: Uint8Array, s2: Uint8Array): ServerHandshakeCheck {
  if (c1.length !== HANDSHAKE_SIZE || s1.length !== HANDSHAKE_SIZE || s2.length !== HANDSHAKE_SIZE) {
    return { ok: false, reason: 'C1, S1 and S2 must be 1536 bytes each' };
  }
  const clientDigest = findDigest(c1, FP_KEY_SHORT);
  if (clientDigest && s1[4] !== 0) {
    if (!findDigest(s1, FMS_KEY_SHORT)) return { ok: false, reason: 'S1 carries no valid digest' };
    const digest = c1.subarray(clientDigest.offset, clientDigest.offset + DIGEST_SIZE);
    if (!responseValid(s2, FMS_KEY, digest)) return { ok: false, reason: 'S2 is not signed for C1’s digest' };
    return { ok: true, form: 'digest' };
  }
  if (!Buffer.from(s2.buffer, s2.byteOffset, s2.byteLength).equals(c1)) return { ok: false, reason: 'S2 does not echo C1' };
  return { ok: true, form: 'plain' };
}
