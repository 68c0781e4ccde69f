/**
 * RTMP message types and the protocol control messages (Adobe RTMP spec §5.4, §7.1.7).
 *
 * Protocol control messages (types 1..6) travel on chunk stream 2, message stream 0; all their
 * integers are big-endian. Command messages (20 = AMF0, 17 = AMF3, whose payload starts with one
 * 0x00 byte) and data messages are not decoded here: their payloads go to the AMF codecs.
 */

import { Buffer } from 'node:buffer';
import { RtmpError } from './errors.js';
import type { RtmpMessage } from './chunk-decoder.js';

/** Message type ids (§5.4, §7.1). */
export const MessageType = Object.freeze({
  SetChunkSize: 1,
  Abort: 2,
  Acknowledgement: 3,
  UserControl: 4,
  WindowAckSize: 5,
  SetPeerBandwidth: 6,
  Audio: 8,
  Video: 9,
  DataAmf3: 15,
  SharedObjectAmf3: 16,
  CommandAmf3: 17,
  DataAmf0: 18,
  SharedObjectAmf0: 19,
  CommandAmf0: 20,
  Aggregate: 22,
} as const);

/** The chunk stream reserved for protocol control messages (§5.3.1.1, §5.4). */
export const PROTOCOL_CONTROL_CSID = 2;

/** User Control event types (§7.1.7; 26/27 SWF verification and 31/32 buffer events are Flash's). */
export const UserControlType = Object.freeze({
  StreamBegin: 0,
  StreamEof: 1,
  StreamDry: 2,
  SetBufferLength: 3,
  StreamIsRecorded: 4,
  PingRequest: 6,
  PingResponse: 7,
  SwfVerifyRequest: 26,
  SwfVerifyResponse: 27,
  BufferEmpty: 31,
  BufferReady: 32,
} as const);

/** Set Peer Bandwidth limit types (§5.4.5). */
export const PeerBandwidthLimit = Object.freeze({ Hard: 0, Soft: 1, Dynamic: 2 } as const);

/** Largest value of a Set Chunk Size (§5.4.1: 31 bits; the high bit is always 0). */
export const MAX_CHUNK_SIZE_VALUE = 0x7fffffff;

type StreamEventKind = 'stream-begin' | 'stream-eof' | 'stream-dry' | 'stream-is-recorded' | 'buffer-empty' | 'buffer-ready';

export type UserControlEvent =
  | { kind: StreamEventKind; streamId: number }
  | { kind: 'set-buffer-length'; streamId: number; bufferLength: number }
  | { kind: 'ping-request' | 'ping-response'; timestamp: number }
  /** Any other event type (SWF verification, …): its raw event data. */
  | { kind: 'other'; eventType: number; data: Buffer };

export type ControlMessage =
  | { type: 'set-chunk-size'; chunkSize: number }
  | { type: 'abort'; csid: number }
  | { type: 'acknowledgement'; sequence: number }
  | { type: 'user-control'; event: UserControlEvent }
  | { type: 'window-ack-size'; size: number }
  | { type: 'set-peer-bandwidth'; size: number; limitType: number };

const STREAM_EVENTS: Record<number, StreamEventKind> = {
  [UserControlType.StreamBegin]: 'stream-begin',
  [UserControlType.StreamEof]: 'stream-eof',
  [UserControlType.StreamDry]: 'stream-dry',
  [UserControlType.StreamIsRecorded]: 'stream-is-recorded',
  [UserControlType.BufferEmpty]: 'buffer-empty',
  [UserControlType.BufferReady]: 'buffer-ready',
};
const STREAM_EVENT_TYPES: Record<StreamEventKind, number> = {
  'stream-begin': UserControlType.StreamBegin,
  'stream-eof': UserControlType.StreamEof,
  'stream-dry': UserControlType.StreamDry,
  'stream-is-recorded': UserControlType.StreamIsRecorded,
  'buffer-empty': UserControlType.BufferEmpty,
  'buffer-ready': UserControlType.BufferReady,
};

const NAMES: Record<number, string> = {
  1: 'Set Chunk Size',
  2: 'Abort',
  3: 'Acknowledgement',
  4: 'User Control',
  5: 'Window Acknowledgement Size',
  6: 'Set Peer Bandwidth',
};

function need(payload: Uint8Array, n: number, what: string): Buffer {
  if (payload.length < n) throw new RtmpError('bad-message', `${what} needs ${n} bytes, got ${payload.length}`);
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

/** True for the protocol control message types 1..6. */
export function isControlType(typeId: number): boolean {
  return typeId >= 1 && typeId <= 6;
}

/**
 * Decodes a protocol control message (types 1..6); undefined for any other type. Payloads too
 * short for their type throw RtmpError 'bad-message'; extra bytes are ignored. Set Chunk Size's
 * high bit is masked (§5.4.1); range checks are the chunk decoder's (it applies the value).
 */
export function decodeControlMessage(typeId: number, payload: Uint8Array): ControlMessage | undefined {
  if (!isControlType(typeId)) return undefined;
  const name = NAMES[typeId]!;
  switch (typeId) {
    case MessageType.SetChunkSize:
      return { type: 'set-chunk-size', chunkSize: need(payload, 4, name).readUInt32BE(0) & MAX_CHUNK_SIZE_VALUE };
    case MessageType.Abort:
      return { type: 'abort', csid: need(payload, 4, name).readUInt32BE(0) };
    case MessageType.Acknowledgement:
      return { type: 'acknowledgement', sequence: need(payload, 4, name).readUInt32BE(0) };
    case MessageType.UserControl:
      return { type: 'user-control', event: decodeUserControl(payload) };
    case MessageType.WindowAckSize:
      return { type: 'window-ack-size', size: need(payload, 4, name).readUInt32BE(0) };
    default: {
      const b = need(payload, 5, name);
      return { type: 'set-peer-bandwidth', size: b.readUInt32BE(0), limitType: b[4]! };
    }
  }
}

/** Decodes a User Control payload (§7.1.7): a 16-bit event type, then the event data. */
export function decodeUserControl(payload: Uint8Array): UserControlEvent {
  const b = need(payload, 2, 'User Control');
  const eventType = b.readUInt16BE(0);
  const stream = STREAM_EVENTS[eventType];
  if (stream) return { kind: stream, streamId: need(b, 6, `User Control ${stream}`).readUInt32BE(2) };
  switch (eventType) {
    case UserControlType.SetBufferLength: {
      const d = need(b, 10, 'User Control set-buffer-length');
      return { kind: 'set-buffer-length', streamId: d.readUInt32BE(2), bufferLength: d.readUInt32BE(6) };
    }
    case UserControlType.PingRequest:
      return { kind: 'ping-request', timestamp: need(b, 6, 'User Control ping-request').readUInt32BE(2) };
    case UserControlType.PingResponse:
      return { kind: 'ping-response', timestamp: need(b, 6, 'User Control ping-response').readUInt32BE(2) };
    default:
      return { kind: 'other', eventType, data: Buffer.from(b.subarray(2)) };
  }
}

function u32(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`${what} must be a uint32, got ${n}`);
  return n;
}

function word(n: number, what: string): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(u32(n, what), 0);
  return b;
}

/** Encodes a User Control payload. */
export function encodeUserControl(event: UserControlEvent): Buffer {
  switch (event.kind) {
    case 'set-buffer-length': {
      const b = Buffer.allocUnsafe(10);
      b.writeUInt16BE(UserControlType.SetBufferLength, 0);
      b.writeUInt32BE(u32(event.streamId, 'streamId'), 2);
      b.writeUInt32BE(u32(event.bufferLength, 'bufferLength'), 6);
      return b;
    }
    case 'ping-request':
    case 'ping-response': {
      const b = Buffer.allocUnsafe(6);
      b.writeUInt16BE(event.kind === 'ping-request' ? UserControlType.PingRequest : UserControlType.PingResponse, 0);
      b.writeUInt32BE(u32(event.timestamp, 'timestamp'), 2);
      return b;
    }
    case 'other': {
      const b = Buffer.allocUnsafe(2 + event.data.length);
      b.writeUInt16BE(event.eventType, 0);
      b.set(event.data, 2);
      return b;
    }
    default: {
      const b = Buffer.allocUnsafe(6);
      b.writeUInt16BE(STREAM_EVENT_TYPES[event.kind], 0);
      b.writeUInt32BE(u32(event.streamId, 'streamId'), 2);
      return b;
    }
  }
}

/** Encodes a protocol control message's payload. */
export function encodeControlPayload(msg: ControlMessage): Buffer {
  switch (msg.type) {
    case 'set-chunk-size':
      if (!Number.isInteger(msg.chunkSize) || msg.chunkSize < 1 || msg.chunkSize > MAX_CHUNK_SIZE_VALUE) {
        throw new RangeError(`chunk size must be 1..${MAX_CHUNK_SIZE_VALUE}, got ${msg.chunkSize}`);
      }
      return word(msg.chunkSize, 'chunkSize');
    case 'abort':
      return word(msg.csid, 'csid');
    case 'acknowledgement':
      return word(msg.sequence, 'sequence');
    case 'user-control':
      return encodeUserControl(msg.event);
    case 'window-ack-size':
      return word(msg.size, 'size');
    case 'set-peer-bandwidth': {
      const b = Buffer.allocUnsafe(5);
      b.writeUInt32BE(u32(msg.size, 'size'), 0);
      if (!Number.isInteger(msg.limitType) || msg.limitType < 0 || msg.limitType > 255) {
        throw new RangeError(`limitType must be a byte, got ${msg.limitType}`);
      }
      b[4] = msg.limitType;
      return b;
    }
  }
}

const TYPE_IDS: Record<ControlMessage['type'], number> = {
  'set-chunk-size': MessageType.SetChunkSize,
  abort: MessageType.Abort,
  acknowledgement: MessageType.Acknowledgement,
  'user-control': MessageType.UserControl,
  'window-ack-size': MessageType.WindowAckSize,
  'set-peer-bandwidth': MessageType.SetPeerBandwidth,
};

/** A protocol control message ready for ChunkEncoder.encode: chunk stream 2, message stream 0. */
export function controlMessage(msg: ControlMessage, timestamp = 0): RtmpMessage {
  return {
    csid: PROTOCOL_CONTROL_CSID,
    timestamp,
    typeId: TYPE_IDS[msg.type],
    streamId: 0,
    payload: encodeControlPayload(msg),
  };
}

/** The Ping Response that answers a Ping Request (§7.1.7: echo its timestamp); else undefined. */
export function pingResponseFor(event: UserControlEvent): UserControlEvent | undefined {
  return event.kind === 'ping-request' ? { kind: 'ping-response', timestamp: event.timestamp } : undefined;
}

/**
 * Says when to send an Acknowledgement (§5.4.3): after each `windowSize` bytes received since the
 * last one. The sequence number is the total received so far, mod 2^32. A window of 0 (none
 * announced yet) never acknowledges. Feed it every byte read from the socket — the handshake's
 * 3073 included, as librtmp counts them — or only the chunk stream's; peers do not check.
 */
export class AckTracker {
  private total = 0;
  private lastAcked = 0;
  private window: number;

  constructor(windowSize = 0) {
    this.window = u32(windowSize, 'windowSize');
  }

  get windowSize(): number {
    return this.window;
  }

  /** Bytes counted so far (not reduced mod 2^32). */
  get bytesReceived(): number {
    return this.total;
  }

  /** The peer's Window Acknowledgement Size arrived. */
  setWindowSize(windowSize: number): void {
    this.window = u32(windowSize, 'windowSize');
  }

  /** Counts `n` more bytes; returns the sequence number to acknowledge now, or undefined. */
  received(n: number): number | undefined {
    this.total += n;
    if (this.window === 0 || this.total - this.lastAcked < this.window) return undefined;
    this.lastAcked = this.total;
    return this.total % 0x100000000;
  }
}
