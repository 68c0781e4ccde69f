/**
 * Errors of the RTMP transport codecs (handshake and chunk stream), with stable codes.
 *
 * Every RtmpError is a protocol violation by the peer (or a peer that broke one of our named
 * limits): the session closes that one connection, after logging the code and message. RTMP has
 * no error frame below the NetConnection level, so "what the peer sees" is always the close.
 * Mistakes of our own callers (an encoder asked for a chunk stream id of 70000, a push after the
 * handshake is done) are plain RangeError / Error, not RtmpError.
 */

export type RtmpErrorCode =
  /** C0 is not 3: RTMPE (6, 8, 9) or not RTMP at all. Adobe RTMP spec §5.2.2. */
  | 'bad-version'
  /** A fmt 2 or 3 chunk on a chunk stream that never had a message header (fmt 0 or 1). §5.3.1.2. */
  | 'unknown-chunk-stream'
  /** A fmt 0, 1 or 2 header on a chunk stream whose previous message is still incomplete. §5.3.1.2.4. */
  | 'interrupted-message'
  /** Set Chunk Size of 0, or above the `maxChunkSize` limit. §5.4.1. */
  | 'chunk-size'
  /** A message header announcing more than `maxMessageLength` bytes. */
  | 'message-too-large'
  /** More distinct chunk stream ids than `maxChunkStreams`. */
  | 'too-many-chunk-streams'
  /** Partial messages of all chunk streams together would hold more than `maxBufferedBytes`. */
  | 'buffer-limit'
  /** A protocol control message whose payload is too short for its type. §5.4. */
  | 'bad-message';

export class RtmpError extends Error {
  override readonly name = 'RtmpError';
  constructor(
    readonly code: RtmpErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}
