/**
 * A complete client login run by the gateway upstream: SASL with the best mechanism the server
 * offers (RFC 6120 §6), the stream restart, resource binding (§7) and the legacy session IQ
 * (RFC 3921 §3) when the server still advertises it. Used where the Flash client hands the
 * gateway a plaintext password: legacy `jabber:iq:auth` (XEP-0078) and the RTMP call API.
 */
import { randomUUID } from 'node:crypto';
import { attr, child, childElements, NS, text, type XmlElement } from '../codec/xml/element.js';
import { escapeText } from '../codec/xml/serializer.js';
import { LoginError, StreamError } from '../errors.js';
import { saslMechanisms } from './features.js';
import { chooseMechanism, type Credentials } from './sasl/mechanisms.js';
import type { SaltedPasswordCache } from './sasl/salted-password-cache.js';
import type { UpstreamHandler, UpstreamStream } from './upstream.js';

export interface LoginRequest {
  /** Undefined for an anonymous login (SASL ANONYMOUS). */
  readonly credentials: Credentials | undefined;
  /** The resource to bind; empty lets the server choose. */
  readonly resource: string;
  readonly timeoutMs: number;
  /** SCRAM SaltedPassword values of earlier logins (RFC 5802 §5.1); none: always derived. */
  readonly saltedPasswords?: SaltedPasswordCache;
}

export interface LoginResult {
  readonly jid: string;
  /** The features of the authenticated stream. */
  readonly features: XmlElement;
}

/** Hands the login the server's elements one at a time, while it owns the stream. */
class Dialog implements UpstreamHandler {
  private readonly queue: XmlElement[] = [];
  private waiter: { resolve: (e: XmlElement) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  element(element: XmlElement): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) waiter.resolve(element);
    else this.queue.push(element);
  }

  ended(error?: StreamError): void {
    this.failure = error ?? new StreamError('remote-connection-failed', 'the XMPP server closed the stream during login');
    this.waiter?.reject(this.failure);
    this.waiter = undefined;
  }

  next(timeoutMs: number): Promise<XmlElement> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new StreamError('remote-connection-failed', `the XMPP server did not answer the login within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiter = {
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }
}

const b64 = (s: string): string => (s === '' ? '=' : Buffer.from(s, 'utf8').toString('base64'));
const unb64 = (s: string): string => Buffer.from(s.trim(), 'base64').toString('utf8');

function saslFailure(element: XmlElement): LoginError {
  const condition = childElements(element).find((c) => c.local !== 'text')?.local ?? 'not-authorized';
  const description = child(element, 'text');
  return new LoginError(condition, description ? text(description) : `the server refused the login (${condition})`);
}

function stanzaFailure(iq: XmlElement, what: string): LoginError {
  const error = child(iq, 'error');
  const condition = error ? (childElements(error).find((c) => c.ns === NS.stanzas && c.local !== 'text')?.local ?? 'undefined-condition') : 'undefined-condition';
  return new LoginError(condition, `${what} failed (${condition})`);
}

/**
 * Logs in on `stream` whose current features are `features`. The stream's handler is replaced
 * for the duration; the caller attaches its own afterwards. Throws LoginError for a refusal
 * (wrong password, resource conflict) and StreamError when the stream itself fails.
 */
export async function loginUpstream(stream: UpstreamStream, features: XmlElement, request: LoginRequest): Promise<LoginResult> {
  const dialog = new Dialog();
  stream.attach(dialog);
  const offered = saslMechanisms(features);
  const mechanism = chooseMechanism(offered, request.credentials, request.saltedPasswords);
  if (!mechanism) {
    throw new LoginError(
      request.credentials ? 'invalid-mechanism' : 'not-authorized',
      request.credentials
        ? `the server offers no mechanism the gateway can use (offered: ${offered.join(' ') || 'none'})`
        : 'the server does not allow anonymous logins',
    );
  }

  stream.write(`<auth xmlns="${NS.sasl}" mechanism="${mechanism.name}">${b64(await mechanism.initial())}</auth>`);
  for (;;) {
    const answer = await dialog.next(request.timeoutMs);
    if (answer.ns !== NS.sasl) continue;
    if (answer.local === 'challenge') {
      let response: string;
      try {
        response = await mechanism.challenge(unb64(text(answer)));
      } catch (error) {
        stream.write(`<abort xmlns="${NS.sasl}"/>`);
        throw new LoginError('aborted', (error as Error).message);
      }
      stream.write(`<response xmlns="${NS.sasl}">${response === '' ? '' : b64(response)}</response>`);
      continue;
    }
    if (answer.local === 'success') {
      // RFC 6120 §6.4.6: the server's next bytes start a new stream.
      stream.expectRestart();
      try {
        mechanism.success(unb64(text(answer)));
      } catch (error) {
        throw new StreamError('remote-connection-failed', `the XMPP server failed mutual authentication (${(error as Error).message})`);
      }
      break;
    }
    if (answer.local === 'failure') throw saslFailure(answer);
  }

  const authenticated = await stream.openStream();
  const bindId = `gw-bind-${randomUUID()}`;
  const resource = request.resource === '' ? '' : `<resource>${escapeText(request.resource)}</resource>`;
  stream.write(`<iq type="set" id="${bindId}"><bind xmlns="${NS.bind}">${resource}</bind></iq>`);
  const bound = await answerTo(dialog, bindId, request.timeoutMs);
  const jidElement = child(child(bound, 'bind', NS.bind) ?? bound, 'jid', NS.bind);
  if (attr(bound, 'type') !== 'result' || !jidElement) throw stanzaFailure(bound, 'resource binding');
  const jid = text(jidElement);

  if (child(authenticated, 'session', NS.session)) {
    const sessionId = `gw-session-${randomUUID()}`;
    stream.write(`<iq type="set" id="${sessionId}"><session xmlns="${NS.session}"/></iq>`);
    const session = await answerTo(dialog, sessionId, request.timeoutMs);
    if (attr(session, 'type') !== 'result') throw stanzaFailure(session, 'session establishment');
  }
  return { jid, features: authenticated };
}

async function answerTo(dialog: Dialog, id: string, timeoutMs: number): Promise<XmlElement> {
  for (;;) {
    const element = await dialog.next(timeoutMs);
    if (element.local === 'iq' && attr(element, 'id') === id) return element;
  }
}
