/**
 * The one error type of the AMF codecs. Decoders throw nothing else for any input (bad bytes, lying
 * lengths, limits); encoders throw it for values that cannot be written. An RTMP session answers a
 * call whose body fails to decode with `_error` (or closes the connection) and keeps serving others.
 */

/** Stable codes; the RTMP layer maps them, tests assert them. */
export type AmfErrorCode =
  /** The input ends inside a value (or a length/count claims more bytes than remain). */
  | 'truncated'
  /** An unknown type marker, or one that is not a value (AMF0 object-end 0x09 outside an object). */
  | 'bad-marker'
  /** Complex values nested deeper than `maxDepth` (decoders) or `MAX_ENCODE_DEPTH` (encoders). */
  | 'too-deep'
  /** A string, XML or byte array longer than `maxStringBytes`, or too long for its length field. */
  | 'too-long'
  /** More elements/members/entries in one array, object, vector or dictionary than `maxItems`. */
  | 'too-many-items'
  /** A reference table (AMF0 objects; AMF3 strings, objects, traits) would exceed `maxReferences`. */
  | 'too-many-references'
  /** A reference to an index not (yet) in its table, or to a value of another kind. */
  | 'bad-reference'
  /**
   * A valid but unsupported construct: AMF3 externalizable traits, AMF0 movieclip (0x04) and
   * recordset (0x0E); for encoders a JS value outside the model, or a cycle in AMF0.
   */
  | 'unsupported'
  /** A string's bytes are not well-formed UTF-8. */
  | 'invalid-utf8'
  /** Encoders: a value of the model whose content cannot be written (e.g. an int vector item out of range, an empty AMF3 dynamic key). */
  | 'invalid-value'
  /** `decodeAmf3Value`: bytes left after the one value. */
  | 'trailing-bytes';

export class AmfError extends Error {
  override readonly name = 'AmfError';
  constructor(
    readonly code: AmfErrorCode,
    readonly text: string,
    /** Decoders: the input offset where the problem was found. Encoders: the output offset. */
    readonly offset: number,
  ) {
    super(`${code} at byte ${offset}: ${text}`);
  }
}
