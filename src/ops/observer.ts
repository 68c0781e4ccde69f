/**
 * What a client connection reports about itself, for metrics, the status page and the login
 * log. Sessions call it; the composition root (main.ts) makes one per connection, bound to the
 * transport and remote address, so session code knows nothing of Prometheus.
 */
export interface LoginFailureReport {
  /** sasl, iq:auth (XEP-0078) or rtmp (a call-API login). */
  readonly method: string;
  /** The condition: a SASL failure element, an iq:auth error, or the stream error that ended the try. */
  readonly reason: string;
  /** The user name the client gave, when it is known (never the password). */
  readonly user?: string | undefined;
  /** The SASL mechanism, for SASL logins. */
  readonly mechanism?: string | undefined;
}

export interface ConnectionObserver {
  /** The client's dialect once known: raw or nul for XMPP streams; call-api, xiff or redfire on RTMP. */
  dialect(name: string): void;
  /** A login began (the first SASL `<auth/>`, an iq:auth set, an RTMP connect call). */
  loginStarted(): void;
  loginSucceeded(method: string): void;
  loginFailed(report: LoginFailureReport): void;
  /** A stanza from the client reached the XMPP server. */
  stanzaIn(): void;
  /** A stanza from the XMPP server reached the client. */
  stanzaOut(): void;
  /** An error condition told to the client (stream error, refused call). */
  errorSent(condition: string): void;
  /** The connection is gone; the observer forgets it. Idempotent. */
  closed(): void;
}

/** For code run without a gateway around it (unit tests, tools). */
export const UNOBSERVED: ConnectionObserver = {
  dialect: () => undefined,
  loginStarted: () => undefined,
  loginSucceeded: () => undefined,
  loginFailed: () => undefined,
  stanzaIn: () => undefined,
  stanzaOut: () => undefined,
  errorSent: () => undefined,
  closed: () => undefined,
};
