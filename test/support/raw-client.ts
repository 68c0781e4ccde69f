/**
 * A byte-exact emulation of a Flash "raw mode" XMPP client (flash.net.Socket: XIFF 3.0+,
 * SparkWeb) that also CHECKS what such a client requires of the bytes it receives:
 *
 * - never a NUL byte (one NUL breaks XIFF 3's parser for good);
 * - every socket read must be well-formed on its own when handled the way XIFF 3 does it:
 *   a read without a stream header gets XIFF's own opening tag prepended and
 *   `</stream:stream>` appended, then is parsed namespace-aware (so every prefix other than
 *   `stream:` and `xml:` must be declared inside the read); a read that starts with the
 *   (open) stream header gets `</stream:stream>` appended;
 * - the stream header and `<stream:features>` arrive in ONE read after each stream (re)start.
 *
 * A violation is recorded in `violations` and (in strict mode, the default) rejects every
 * pending and future wait, so the test fails with the reason.
 */
import type * as net from 'node:net';
import { ScramClient, plainMessage, b64, unb64, type ScramHash } from './scram.js';
import { FlashClientBase, strictUtf8, type FlashClientOptions } from './flash-client-base.js';
import { NS_BIND, NS_SASL, NS_SESSION, NS_STREAM, escapeXml, parseXmlDocument, startTagEnd, type XmlElement } from './flash-xml.js';

export {
  NS_STREAM,
  NS_CLIENT,
  NS_SASL,
  NS_BIND,
  NS_SESSION,
  NS_TLS,
  NS_STREAM_ERRORS,
  NS_STANZA_ERRORS,
  escapeXml,
  XmlElement,
  parseXmlDocument,
  type XmlNode,
} from './flash-xml.js';

/** The opening tag XIFF 3 prepends to a read that has no stream header. */
export const XIFF_OPEN_TAG = '<stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams">';
const CLOSE_TAG = '</stream:stream>';

/** SparkWeb's stream header: note the self-closing `/>`. */
export function sparkwebHeader(domain: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" to="${escapeXml(domain)}" xml:lang="en" version="1.0" />`;
}

/** XIFF 3.0+'s stream header (left open). */
export function xiffHeader(domain: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" to="${escapeXml(domain)}" xml:lang="en" version="1.0">`;
}

const HEADER_RE = /^\s*(?:<\?xml[^>]*\?>\s*)?<stream:stream(?=[\s/>])/;

export interface RawClientOptions extends FlashClientOptions {
  /**
   * Tolerate reads that are not well-formed alone by buffering them and retrying with the next
   * read (XIFF 3.0's `incompleteRawXML`), counting them in `splitReads` instead of recording a
   * violation. For payloads too large for one TCP segment. Default false.
   */
  allowSplitReads?: boolean;
}

export class RawFlashClient extends FlashClientBase {
  /** Reads that were not well-formed alone and were buffered (allowSplitReads). */
  splitReads = 0;

  private pending = '';
  private readonly allowSplitReads: boolean;

  private constructor(socket: net.Socket, opts: RawClientOptions) {
    super(socket, opts, { name: 'raw flash client', requirements: 'Flash client' });
    this.allowSplitReads = opts.allowSplitReads ?? false;
  }

  static connect(host: string, port: number, opts: RawClientOptions = {}): Promise<RawFlashClient> {
    return FlashClientBase.connectSocket(host, port, opts, (socket) => new RawFlashClient(socket, opts));
  }

  /** Writes exactly these bytes (UTF-8). */
  override send(bytes: string): void {
    this.write(bytes);
  }

  /** Writes raw bytes (e.g. a split multi-byte character, a NUL). */
  sendBuffer(buf: Buffer): void {
    this.write(buf);
  }

  protected override closeTag(): string {
    return CLOSE_TAG;
  }

  protected override onData(buf: Buffer): void {
    const n = this.reads.length + 1;
    let text = strictUtf8(buf);
    if (text === undefined) {
      text = buf.toString('utf8');
      this.violation(`read #${n} is not valid UTF-8 on its own (a multi-byte character split across writes?): ${JSON.stringify(text.slice(0, 200))}`);
    }
    this.noteRead(text);
    if (buf.includes(0)) {
      this.violation(`read #${n} contains a NUL byte (raw-mode clients never get NULs): ${JSON.stringify(text.slice(0, 200))}`);
      text = text.replace(/\0/g, '');
    }
    this.handleText(this.pending + text, n);
  }

  private handleText(text: string, n: number): void {
    let body = text;
    let closes = false;
    const m = /<\/stream:stream>\s*$/.exec(body);
    if (m) {
      body = body.slice(0, m.index);
      closes = true;
    }
    const hasHeader = HEADER_RE.test(body);
    let doc: string;
    if (hasHeader) {
      const start = body.indexOf('<stream:stream');
      const tag = startTagEnd(body, start);
      doc = tag && tag.selfClosed ? body : body + CLOSE_TAG;
    } else {
      doc = XIFF_OPEN_TAG + body + CLOSE_TAG;
    }
    let root: XmlElement;
    try {
      root = parseXmlDocument(doc);
    } catch (err) {
      if (this.allowSplitReads) {
        this.splitReads++;
      } else {
        this.violation(`read #${n} is not well-formed on its own as XIFF 3 parses it (${(err as Error).message}): ${JSON.stringify(text.slice(0, 300))}`);
      }
      this.pending = text; // keep going for non-strict users: retry with the next read
      return;
    }
    this.pending = '';
    const elements = root.elements();
    if (hasHeader) {
      this.streamHeaders.push({ ...root.attrs });
      if (!elements.some((e) => e.is('features', NS_STREAM) || e.is('error', NS_STREAM))) {
        this.violation(`read #${n}: stream header without <stream:features> in the same read: ${JSON.stringify(text.slice(0, 300))}`);
      }
    }
    for (const c of root.children) {
      if (typeof c === 'string' && c.trim() !== '') {
        this.violation(`read #${n}: non-whitespace text at the top level: ${JSON.stringify(c.slice(0, 100))}`);
      }
    }
    for (const el of elements) {
      if (!hasHeader && el.is('features', NS_STREAM)) {
        this.violation(`read #${n}: <stream:features> arrived in a read without the stream header`);
      }
      this.deliver(el);
    }
    if (closes) this.peerClosed();
  }
}

/** Thrown by the login helpers; `element` is the server's answer that made the login fail. */
export class LoginError extends Error {
  constructor(
    message: string,
    readonly element?: XmlElement,
  ) {
    super(element ? `${message}: ${element.toString()}` : message);
  }
}

export interface LoginOptions {
  domain: string;
  user: string;
  pass: string;
  resource: string;
  timeoutMs?: number;
}

/** Sends a stream header and resolves with the `<stream:features>` that came with the new header. */
export async function openStream(client: RawFlashClient, header: string, timeoutMs = 5000): Promise<XmlElement> {
  const before = client.streamHeaders.length;
  client.send(header);
  const features = await client.nextElement((e) => e.is('features', NS_STREAM), timeoutMs);
  if (client.streamHeaders.length <= before) {
    throw new LoginError('stream features arrived without a new stream header', features);
  }
  return features;
}

export function offeredMechanisms(features: XmlElement): string[] {
  return (features.getChild('mechanisms', NS_SASL)?.getChildren('mechanism', NS_SASL) ?? []).map((m) => m.text().trim());
}

let iqCounter = 0;

/**
 * Resource bind (RFC 6120) then the legacy session IQ, as XIFF/SparkWeb do (and XIFF in NUL
 * mode). Resolves with the full JID.
 */
export async function bindAndSession(client: FlashClientBase, features: XmlElement, resource: string, timeoutMs = 5000): Promise<string> {
  if (!features.getChild('bind', NS_BIND)) throw new LoginError('no <bind/> offered after authentication', features);
  const bindId = `bind_${++iqCounter}`;
  client.send(`<iq type="set" id="${bindId}"><bind xmlns="${NS_BIND}"><resource>${escapeXml(resource)}</resource></bind></iq>`);
  const bound = await client.nextElement((e) => e.is('iq') && e.attrs['id'] === bindId, timeoutMs);
  const jid = bound.getChild('bind', NS_BIND)?.getChildText('jid', NS_BIND);
  if (bound.attrs['type'] !== 'result' || !jid) throw new LoginError('resource bind failed', bound);
  const sessId = `sess_${++iqCounter}`;
  client.send(`<iq type="set" id="${sessId}"><session xmlns="${NS_SESSION}"/></iq>`);
  const sess = await client.nextElement((e) => e.is('iq') && e.attrs['id'] === sessId, timeoutMs);
  if (sess.attrs['type'] !== 'result') throw new LoginError('session IQ failed', sess);
  return jid;
}

/** The SASL answers a client waits for. */
export const isSaslAnswer = (e: XmlElement): boolean => e.uri === NS_SASL && ['challenge', 'success', 'failure'].includes(e.local);

/**
 * SASL SCRAM once the features offered `mechanism`: auth, challenge, response, then the
 * server-final-message (in `<success>` or in a last challenge) verified. Raw and NUL mode alike.
 */
export async function scramAuth(
  client: FlashClientBase,
  mechanism: 'SCRAM-SHA-1' | 'SCRAM-SHA-256',
  user: string,
  pass: string,
  t: number,
): Promise<void> {
  const scram = new ScramClient(mechanism as ScramHash, user, pass);
  client.send(`<auth xmlns="${NS_SASL}" mechanism="${mechanism}">${b64(scram.clientFirst())}</auth>`);
  const first = await client.nextElement(isSaslAnswer, t);
  if (!first.is('challenge', NS_SASL)) throw new LoginError('expected a SCRAM challenge', first);
  client.send(`<response xmlns="${NS_SASL}">${b64(scram.clientFinal(unb64(first.text())))}</response>`);
  let fin = await client.nextElement(isSaslAnswer, t);
  if (fin.is('challenge', NS_SASL)) {
    // server-final-message sent as a challenge (allowed by RFC 6120 6.3.10)
    scram.verifyServerFinal(unb64(fin.text()));
    client.send(`<response xmlns="${NS_SASL}"/>`);
    fin = await client.nextElement(isSaslAnswer, t);
    if (!fin.is('success', NS_SASL)) throw new LoginError('SCRAM failed', fin);
  } else if (fin.is('success', NS_SASL)) {
    if (fin.text().trim() === '') throw new LoginError('SCRAM success without server-final-message', fin);
    scram.verifyServerFinal(unb64(fin.text()));
  } else {
    throw new LoginError('SCRAM failed', fin);
  }
}

/**
 * SparkWeb's login, byte for byte: self-closed header, SASL PLAIN with authzid, restart with the
 * self-closed header again, bind, session. `selfClosedHeader: false` uses XIFF's open header
 * instead (e.g. to check the flow straight against a server).
 */
export async function sparkwebLogin(client: RawFlashClient, o: LoginOptions & { selfClosedHeader?: boolean }): Promise<string> {
  const t = o.timeoutMs ?? 5000;
  const header = o.selfClosedHeader === false ? xiffHeader(o.domain) : sparkwebHeader(o.domain);
  const features = await openStream(client, header, t);
  if (!offeredMechanisms(features).includes('PLAIN')) throw new LoginError('PLAIN not offered', features);
  client.send(`<auth xmlns="${NS_SASL}" mechanism="PLAIN">${b64(plainMessage(`${o.user}@${o.domain}`, o.user, o.pass))}</auth>`);
  const res = await client.nextElement((e) => e.uri === NS_SASL && (e.local === 'success' || e.local === 'failure'), t);
  if (!res.is('success', NS_SASL)) throw new LoginError('SASL PLAIN failed', res);
  const features2 = await openStream(client, header, t);
  return bindAndSession(client, features2, o.resource, t);
}

/** A standard client: open header, SCRAM (server signature verified), restart, bind, session. */
export async function scramLogin(
  client: RawFlashClient,
  o: LoginOptions & { mechanism?: 'SCRAM-SHA-1' | 'SCRAM-SHA-256' },
): Promise<string> {
  const t = o.timeoutMs ?? 5000;
  const mechanism = o.mechanism ?? 'SCRAM-SHA-1';
  const header = xiffHeader(o.domain);
  const features = await openStream(client, header, t);
  if (!offeredMechanisms(features).includes(mechanism)) throw new LoginError(`${mechanism} not offered`, features);
  await scramAuth(client, mechanism, o.user, o.pass, t);
  const features2 = await openStream(client, header, t);
  return bindAndSession(client, features2, o.resource, t);
}
