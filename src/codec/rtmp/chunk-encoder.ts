/**
 * The RTMP chunk stream, outgoing side (Adobe RTMP spec §5.3): one message in, its chunks out.
 *
 * Header choice, per chunk stream: fmt 0 for the first message, when the message stream id
 * changes or when the timestamp goes backwards; fmt 2 (delta only) when length and type repeat;
 * fmt 1 (delta, length, type) otherwise. Continuation chunks are fmt 3. A fmt 3 header never
 * starts a message: what its timestamp means after a fmt 0 header is the spec's least-read
 * corner (§5.3.1.2.4), and it would save three bytes. librtmp, ffmpeg and Flash Player all read
 * fmt 1 and 2. Each message's chunks are written contiguously (no interleaving), so the header
 * state the peer keeps is always the one assumed here.
 *
 * Timestamp fields (or deltas) of 0xFFFFFF and more go as 0xFFFFFF + a 4-byte extended
 * timestamp, repeated after every fmt 3 continuation chunk of that message (§5.3.1.3).
 *
 * The outgoing chunk size starts at 128. Encoding a Set Chunk Size message (type 1) switches to
 * its value for the messages after it, as the peer will (§5.4.1); setChunkSize() does the same
 * without a message (tests, or a peer told some other way).
 */

import { Buffer } from 'node:buffer';
import { DEFAULT_CHUNK_SIZE, MAX_CSID, MIN_CSID, type RtmpMessage } from './chunk-decoder.js';
import { MAX_CHUNK_SIZE_VALUE, MessageType } from './control.js';

/** What encode() takes: an RtmpMessage whose payload may be any Uint8Array. */
export interface OutgoingMessage extends Omit<RtmpMessage, 'payload'> {
  payload: Uint8Array;
}

export interface ChunkEncoderOptions {
  /** Initial outgoing chunk size. Default 128 (what the peer assumes until told otherwise). */
  chunkSize?: number;
  /** Use fmt 1/2 headers where valid (default true); false: always fmt 0 + fmt 3 continuations. */
  compressHeaders?: boolean;
}

const TS_EXTENDED = 0xffffff;
const MAX_MESSAGE_LENGTH = 0xffffff;
const MESSAGE_HEADER_SIZE = [11, 7, 3, 0] as const;

interface LastHeader {
  timestamp: number;
  length: number;
  typeId: number;
  streamId: number;
}

function uint(name: string, value: number, max: number, min = 0): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
}

function basicHeaderSize(csid: number): number {
  return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

function writeBasicHeader(out: Buffer, at: number, fmt: number, csid: number): number {
  if (csid < 64) {
    out[at] = (fmt << 6) | csid;
    return at + 1;
  }
  const rel = csid - 64;
  if (csid < 320) {
    out[at] = fmt << 6;
    out[at + 1] = rel;
    return at + 2;
  }
  out[at] = (fmt << 6) | 1;
  out[at + 1] = rel & 0xff;
  out[at + 2] = rel >> 8;
  return at + 3;
}

export class ChunkEncoder {
  private size: number;
  private readonly compress: boolean;
  private readonly last = new Map<number, LastHeader>();

  constructor(options: ChunkEncoderOptions = {}) {
    this.size = DEFAULT_CHUNK_SIZE;
    if (options.chunkSize !== undefined) this.setChunkSize(options.chunkSize);
    this.compress = options.compressHeaders ?? true;
  }

  /** The outgoing chunk size. */
  get chunkSize(): number {
    return this.size;
  }

  /** Sets the outgoing chunk size (1..0x7FFFFFFF) for the messages encoded after this call. */
  setChunkSize(n: number): void {
    uint('chunk size', n, MAX_CHUNK_SIZE_VALUE, 1);
    this.size = n;
  }

  /** The chunks of one message, in one buffer. Throws RangeError on fields out of range. */
  encode(msg: OutgoingMessage): Buffer {
    const { csid, timestamp, typeId, streamId, payload } = msg;
    uint('csid', csid, MAX_CSID, MIN_CSID);
    uint('timestamp', timestamp, 0xffffffff);
    uint('typeId', typeId, 0xff);
    uint('streamId', streamId, 0xffffffff);
    const length = payload.length;
    uint('payload length', length, MAX_MESSAGE_LENGTH);

    const prev = this.last.get(csid);
    let fmt = 0;
    let field = timestamp;
    if (this.compress && prev && prev.streamId === streamId && timestamp >= prev.timestamp) {
      field = timestamp - prev.timestamp;
      fmt = prev.length === length && prev.typeId === typeId ? 2 : 1;
    }
    const extended = field >= TS_EXTENDED;
    const basic = basicHeaderSize(csid);
    const extSize = extended ? 4 : 0;
    const chunkSize = this.size;
    const chunks = length === 0 ? 1 : Math.ceil(length / chunkSize);
    const total = basic + MESSAGE_HEADER_SIZE[fmt as 0 | 1 | 2] + extSize + length + (chunks - 1) * (basic + extSize);
    const out = Buffer.allocUnsafe(total);

    let at = writeBasicHeader(out, 0, fmt, csid);
    out.writeUIntBE(extended ? TS_EXTENDED : field, at, 3);
    at += 3;
    if (fmt <= 1) {
      out.writeUIntBE(length, at, 3);
      out[at + 3] = typeId;
      at += 4;
    }
    if (fmt === 0) {
      out.writeUInt32LE(streamId, at); // §5.3.1.2.1: the one little-endian field
      at += 4;
    }
    if (extended) at = out.writeUInt32BE(field, at);

    let sent = 0;
    for (;;) {
      const n = Math.min(chunkSize, length - sent);
      out.set(payload.subarray(sent, sent + n), at);
      at += n;
      sent += n;
      if (sent >= length) break;
      at = writeBasicHeader(out, at, 3, csid);
      if (extended) at = out.writeUInt32BE(field, at);
    }

    this.last.set(csid, { timestamp, length, typeId, streamId });
    if (typeId === MessageType.SetChunkSize && length >= 4) {
      const next = ((payload[0]! << 24) | (payload[1]! << 16) | (payload[2]! << 8) | payload[3]!) & MAX_CHUNK_SIZE_VALUE;
      if (next >= 1) this.size = next;
    }
    return out;
  }
}
