/**
 * The RTMP chunk stream, incoming side (Adobe RTMP spec §5.3): push bytes, get messages.
 *
 * Chunk = basic header (1, 2 or 3 bytes: fmt in the top two bits; csid 2..63 inline, 64 + b1,
 * or 64 + b1 + 256·b2) + message header (fmt 0: 11 bytes, 1: 7, 2: 3, 3: none) + an extended
 * timestamp (4 bytes) when the header's 24-bit timestamp field is 0xFFFFFF + payload (at most
 * the incoming chunk size, and no more than the message still needs).
 *
 * Rules enforced, with the clause:
 * - §5.3.1.2.1 fmt 0 carries an absolute timestamp; fmt 1 and 2 carry a delta added to the
 *   chunk stream's previous timestamp (mod 2^32). A fmt 1 header on a chunk stream never seen is
 *   accepted (librtmp sends its first control message so): delta from 0, message stream 0.
 *   fmt 2 and fmt 3 need a known chunk stream ('unknown-chunk-stream').
 * - §5.3.1.2.4 fmt 3 continues the chunk stream's incomplete message or, when there is none,
 *   starts a new one with the previous header's length, type, stream id and timestamp field as
 *   delta — after fmt 0 that is the absolute timestamp again, as the spec says and librtmp and
 *   ffmpeg do. A fmt 0/1/2 header while a message is incomplete is 'interrupted-message'.
 * - §5.3.1.3 the extended timestamp follows every fmt 3 chunk of a chunk stream whose last
 *   fmt 0/1/2 header had 0xFFFFFF: repeated (and ignored) in continuations; the delta itself
 *   when that fmt 3 chunk starts a new message.
 * - §5.3.1.2.1 the message stream id is little-endian, the only such field.
 * - §5.4.1 Set Chunk Size (type 1) and §5.4.2 Abort (type 2) are applied here, at once, before
 *   the next chunk is read (a caller could not do it in time: the next chunk may be in the same
 *   push). They are still returned, for logging; the caller need not call setChunkSize for them.
 *
 * Memory: nothing is allocated from a declared length. Payload bytes are copied as they arrive
 * (the input is never retained); partial messages of all chunk streams together are bounded by
 * `maxBufferedBytes`, a pending header by 18 bytes, the chunk streams by `maxChunkStreams`.
 * Splitting the input anywhere gives the same messages and the same error.
 */

import { Buffer } from 'node:buffer';
import { RtmpError } from './errors.js';
import { MAX_CHUNK_SIZE_VALUE, MessageType, decodeControlMessage } from './control.js';

export interface RtmpMessage {
  /** Chunk stream id (2..65599). */
  csid: number;
  /** Absolute timestamp in ms, uint32 (wraps). */
  timestamp: number;
  /** Message type id (see MessageType). */
  typeId: number;
  /** Message stream id, uint32. */
  streamId: number;
  payload: Buffer;
}

export interface ChunkDecoderLimits {
  /** Largest Set Chunk Size accepted from the peer (1..0x7FFFFFFF; §5.4.1 allows up to 0x7FFFFFFF). */
  maxChunkSize: number;
  /** Largest message length a header may announce (the field allows 0xFFFFFF). */
  maxMessageLength: number;
  /** Distinct chunk stream ids a peer may use (Flash Player and librtmp use fewer than 10). */
  maxChunkStreams: number;
  /** Payload bytes held in incomplete messages, all chunk streams together. */
  maxBufferedBytes: number;
}

export const DEFAULT_CHUNK_DECODER_LIMITS: ChunkDecoderLimits = Object.freeze({
  maxChunkSize: 16 * 1024 * 1024,
  maxMessageLength: 1024 * 1024,
  maxChunkStreams: 64,
  maxBufferedBytes: 4 * 1024 * 1024,
});

/** The chunk size both directions start with (§5.4.1). */
export const DEFAULT_CHUNK_SIZE = 128;
/** Chunk stream ids representable in a basic header (§5.3.1.1). */
export const MIN_CSID = 2;
export const MAX_CSID = 65599;

/** Basic (3) + fmt 0 message header (11) + extended timestamp (4). */
const MAX_HEADER = 18;
const TS_EXTENDED = 0xffffff;
const MESSAGE_HEADER_SIZE = [11, 7, 3, 0] as const;

/** What one chunk stream remembers (§5.3.1.2: later headers inherit these). */
interface ChunkStream {
  /** Absolute timestamp of the current (or last) message. */
  timestamp: number;
  /** The last fmt 0/1/2 timestamp field (absolute for fmt 0, else a delta): a new fmt 3 message's delta. */
  field: number;
  /** The last fmt 0/1/2 header's timestamp field was 0xFFFFFF: fmt 3 chunks carry 4 more bytes. */
  extended: boolean;
  length: number;
  typeId: number;
  streamId: number;
  /** Payload pieces of the incomplete message; null when none is in progress. */
  parts: Buffer[] | null;
  received: number;
}

function checkLimit(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
}

export class ChunkDecoder {
  /** Every byte pushed so far (for Acknowledgements, §5.4.3). */
  bytesReceived = 0;

  private readonly limits: ChunkDecoderLimits;
  private size = DEFAULT_CHUNK_SIZE;
  private readonly streams = new Map<number, ChunkStream>();
  private buffered = 0;
  private failure: unknown = undefined;

  /** Bytes of a header that arrived incomplete (at most MAX_HEADER - 1 stay between pushes). */
  private readonly pending = Buffer.alloc(MAX_HEADER);
  private pendingLength = 0;

  /** The chunk whose payload is being read: its stream and the payload bytes it still has. */
  private current: ChunkStream | null = null;
  private currentCsid = 0;
  private payloadLeft = 0;

  constructor(limits: Partial<ChunkDecoderLimits> = {}) {
    this.limits = { ...DEFAULT_CHUNK_DECODER_LIMITS, ...limits };
    checkLimit('maxChunkSize', this.limits.maxChunkSize, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE_VALUE);
    checkLimit('maxMessageLength', this.limits.maxMessageLength, 0, 0xffffff);
    checkLimit('maxChunkStreams', this.limits.maxChunkStreams, 1, MAX_CSID - MIN_CSID + 1);
    checkLimit('maxBufferedBytes', this.limits.maxBufferedBytes, 0, Number.MAX_SAFE_INTEGER);
  }

  /** The incoming chunk size. */
  get chunkSize(): number {
    return this.size;
  }

  /** Payload bytes currently held in incomplete messages. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Chunk streams seen so far. */
  get chunkStreamCount(): number {
    return this.streams.size;
  }

  /**
   * Sets the incoming chunk size for the chunks that follow (§5.4.1). The decoder already does
   * this for Set Chunk Size messages it decodes. Throws RtmpError 'chunk-size' outside
   * 1..maxChunkSize.
   */
  setChunkSize(n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > this.limits.maxChunkSize) {
      throw new RtmpError('chunk-size', `chunk size ${n} is outside 1..${this.limits.maxChunkSize}`);
    }
    this.size = n;
  }

  /** Decodes what `bytes` completes; returns the messages in order. */
  push(bytes: Uint8Array): RtmpMessage[] {
    const out: RtmpMessage[] = [];
    this.write(bytes, (m) => out.push(m));
    return out;
  }

  /**
   * Like push, delivering each message as soon as it is complete — so that the messages before a
   * protocol error are not lost with it. Any exception (an RtmpError, or one thrown by
   * `onMessage`) leaves the decoder failed: later calls throw it again.
   */
  write(bytes: Uint8Array, onMessage: (message: RtmpMessage) => void): void {
    if (this.failure !== undefined) throw this.failure;
    this.bytesReceived += bytes.length;
    try {
      this.run(bytes, onMessage);
    } catch (e) {
      this.failure = e;
      throw e;
    }
  }

  private run(bytes: Uint8Array, onMessage: (message: RtmpMessage) => void): void {
    const end = bytes.length;
    let pos = 0;
    while (pos < end) {
      if (this.payloadLeft > 0) {
        const n = Math.min(this.payloadLeft, end - pos);
        this.append(bytes.subarray(pos, pos + n));
        pos += n;
        this.payloadLeft -= n;
        if (this.payloadLeft === 0) this.endChunk(onMessage);
      } else if (this.pendingLength === 0) {
        const used = this.header(bytes, pos, end);
        if (used === 0) {
          // An incomplete header: fewer than MAX_HEADER bytes remain.
          this.pending.set(bytes.subarray(pos, end), 0);
          this.pendingLength = end - pos;
          pos = end;
        } else {
          pos += used;
          if (this.payloadLeft === 0) this.endChunk(onMessage);
        }
      } else {
        const had = this.pendingLength;
        const take = Math.min(MAX_HEADER - had, end - pos);
        this.pending.set(bytes.subarray(pos, pos + take), had);
        const used = this.header(this.pending, 0, had + take);
        if (used === 0) {
          this.pendingLength = had + take;
          pos += take;
        } else {
          this.pendingLength = 0;
          pos += used - had;
          if (this.payloadLeft === 0) this.endChunk(onMessage);
        }
      }
    }
  }

  /**
   * Parses one chunk header at b[p..end). Returns the bytes it took, or 0 when it is not complete
   * yet (nothing changed then). On success `current`/`payloadLeft` describe the chunk's payload.
   */
  private header(b: Uint8Array, p: number, end: number): number {
    const b0 = b[p]!;
    const fmt = b0 >> 6;
    let i = p + 1;
    let csid = b0 & 0x3f;
    if (csid === 0) {
      if (end - i < 1) return 0;
      csid = 64 + b[i]!;
      i += 1;
    } else if (csid === 1) {
      if (end - i < 2) return 0;
      csid = 64 + b[i]! + 256 * b[i + 1]!;
      i += 2;
    }
    let cs = this.streams.get(csid);
    if (!cs && fmt >= 2) {
      throw new RtmpError('unknown-chunk-stream', `fmt ${fmt} chunk on chunk stream ${csid}, which has no previous header`);
    }
    const size = MESSAGE_HEADER_SIZE[fmt as 0 | 1 | 2 | 3];
    if (end - i < size) return 0;
    let field = 0;
    let length = 0;
    let typeId = 0;
    let streamId = 0;
    if (fmt <= 2) field = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    if (fmt <= 1) {
      length = (b[i + 3]! << 16) | (b[i + 4]! << 8) | b[i + 5]!;
      typeId = b[i + 6]!;
    }
    if (fmt === 0) streamId = (b[i + 7]! | (b[i + 8]! << 8) | (b[i + 9]! << 16) | (b[i + 10]! << 24)) >>> 0;
    i += size;
    const extended = fmt <= 2 ? field === TS_EXTENDED : cs!.extended;
    let ext = 0;
    if (extended) {
      if (end - i < 4) return 0;
      ext = ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
      i += 4;
    }

    // The header is complete: check it, then commit.
    if (fmt <= 2 && cs?.parts) {
      throw new RtmpError(
        'interrupted-message',
        `fmt ${fmt} header on chunk stream ${csid} while its message has ${cs.length - cs.received} of ${cs.length} bytes to go`,
      );
    }
    if (fmt <= 1 && length > this.limits.maxMessageLength) {
      throw new RtmpError('message-too-large', `message of ${length} bytes on chunk stream ${csid} (limit ${this.limits.maxMessageLength})`);
    }
    if (!cs) {
      if (this.streams.size >= this.limits.maxChunkStreams) {
        throw new RtmpError('too-many-chunk-streams', `chunk stream ${csid} would be number ${this.streams.size + 1} (limit ${this.limits.maxChunkStreams})`);
      }
      cs = { timestamp: 0, field: 0, extended: false, length: 0, typeId: 0, streamId: 0, parts: null, received: 0 };
      this.streams.set(csid, cs);
    }
    const value = extended ? ext : field;
    if (fmt === 0) {
      cs.timestamp = value;
      cs.streamId = streamId;
    } else if (fmt <= 2 || !cs.parts) {
      // fmt 1/2 delta, or fmt 3 starting a new message (delta = the last field, or the extended value).
      cs.timestamp = (cs.timestamp + (fmt <= 2 ? value : extended ? ext : cs.field)) >>> 0;
    }
    if (fmt <= 2) {
      cs.field = value;
      cs.extended = extended;
    }
    if (fmt <= 1) {
      cs.length = length;
      cs.typeId = typeId;
    }
    if (!cs.parts) {
      cs.parts = [];
      cs.received = 0;
    }
    this.current = cs;
    this.currentCsid = csid;
    this.payloadLeft = Math.min(this.size, cs.length - cs.received);
    return i - p;
  }

  private append(bytes: Uint8Array): void {
    const cs = this.current!;
    if (this.buffered + bytes.length > this.limits.maxBufferedBytes) {
      throw new RtmpError('buffer-limit', `incomplete messages would hold more than ${this.limits.maxBufferedBytes} bytes`);
    }
    cs.parts!.push(Buffer.from(bytes)); // a copy: the caller's buffer is never retained
    cs.received += bytes.length;
    this.buffered += bytes.length;
  }

  /** The current chunk's payload is all in: emit its message if that is complete too. */
  private endChunk(onMessage: (message: RtmpMessage) => void): void {
    const cs = this.current!;
    this.current = null;
    if (cs.received < cs.length) return;
    const parts = cs.parts!;
    const payload = parts.length === 1 ? parts[0]! : Buffer.concat(parts, cs.length);
    this.buffered -= cs.received;
    cs.parts = null;
    cs.received = 0;
    const message: RtmpMessage = {
      csid: this.currentCsid,
      timestamp: cs.timestamp,
      typeId: cs.typeId,
      streamId: cs.streamId,
      payload,
    };
    if (message.typeId === MessageType.SetChunkSize || message.typeId === MessageType.Abort) this.control(message);
    onMessage(message);
  }

  /** Applies Set Chunk Size (§5.4.1) and Abort (§5.4.2) before the next chunk is read. */
  private control(message: RtmpMessage): void {
    const c = decodeControlMessage(message.typeId, message.payload);
    if (c?.type === 'set-chunk-size') {
      this.setChunkSize(c.chunkSize);
    } else if (c?.type === 'abort') {
      const target = c.csid <= MAX_CSID ? this.streams.get(c.csid) : undefined;
      if (target?.parts) {
        this.buffered -= target.received;
        target.parts = null;
        target.received = 0;
      }
    }
  }
}
