/**
 * Errors in the protocol's own vocabulary, catalogued in one place.
 *
 * A StreamError ends one client's (or one upstream's) XML stream with the RFC 6120 §4.9.3
 * condition it names; `text` is what the peer reads in <text/>. Nothing here touches I/O.
 */

/** RFC 6120 §4.9.3 stream error conditions. */
export type StreamErrorCondition =
  | 'bad-format'
  | 'bad-namespace-prefix'
  | 'conflict'
  | 'connection-timeout'
  | 'host-gone'
  | 'host-unknown'
  | 'improper-addressing'
  | 'internal-server-error'
  | 'invalid-from'
  | 'invalid-namespace'
  | 'invalid-xml'
  | 'not-authorized'
  | 'not-well-formed'
  | 'policy-violation'
  | 'remote-connection-failed'
  | 'reset'
  | 'resource-constraint'
  | 'restricted-xml'
  | 'see-other-host'
  | 'system-shutdown'
  | 'undefined-condition'
  | 'unsupported-encoding'
  | 'unsupported-feature'
  | 'unsupported-stanza-type'
  | 'unsupported-version';

export class StreamError extends Error {
  override readonly name = 'StreamError';
  constructor(
    readonly condition: StreamErrorCondition,
    readonly text: string,
  ) {
    super(`${condition}: ${text}`);
  }
}

/** A configuration problem: start-up stops and the message says what to change. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * A login the gateway ran upstream on a client's behalf failed (legacy iq:auth, RTMP).
 * `condition` is the server's own: a SASL failure condition (RFC 6120 §6.5, e.g.
 * `not-authorized`) or a stanza error condition from resource binding (e.g. `conflict`).
 */
export class LoginError extends Error {
  override readonly name = 'LoginError';
  constructor(
    readonly condition: string,
    readonly text: string,
  ) {
    super(`${condition}: ${text}`);
  }
}
