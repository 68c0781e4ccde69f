/**
 * A byte-exact emulation of a Flash "NUL mode" XMPP client (XMLSocket: XIFF 2.x, XIFF 3 betas,
 * hand-written AS2 apps) that also CHECKS what such a client requires of the bytes it receives.
 *
 * XMLSocket frames both directions with NUL bytes: every `XMLSocket.send` appends one `\0`, and
 * the player buffers incoming bytes until a `\0`, then hands the packet before it to the SWF,
 * which parses it alone. Hence, for every packet received:
 *
 * - packets are split at NULs whatever the TCP reads were (one packet may span several reads,
 *   one read may hold several packets), and each packet is decoded as UTF-8 on its own;
 * - a stream header packet (`<flash:stream …>` / `<stream:stream …>`, optionally after an XML
 *   declaration) holds the header only. For a client that opened with `flash:stream` it is
 *   Openfire's form, left open, and must become well-formed by appending `</flash:stream>`
 *   (XIFF 3-beta does exactly that), declaring `xmlns:flash`, `xmlns:stream` and
 *   `xmlns="jabber:client"`, with `from`, `id`, `xml:lang` and `version="1.0"`. For a client that
 *   opened with `stream:stream` it may be open (parsed with `</stream:stream>` appended) or
 *   self-closed; the form is recorded in `headerForms` / `headerForm`;
 * - every other packet holds EXACTLY ONE top-level element (an empty or whitespace-only packet —
 *   a forwarded keepalive — makes XIFF 3-beta raise an error; a second element is lost) and
 *   parses ON ITS OWN, namespace-aware: every prefix it uses is declared inside the packet;
 * - the peer's end of stream is a packet that is exactly `</flash:stream>` or `</stream:stream>`
 *   (matching the name the client opened with), and nothing follows it;
 * - when the peer ends the connection, no bytes are left that were not terminated by a NUL
 *   (XMLSocket never delivers them).
 *
 * Top-level elements are parsed as children of the stream: the default namespace is
 * `jabber:client` (what a real stream declares), no prefix is bound.
 *
 * A violation is recorded in `violations` and (in strict mode, the default) rejects every
 * pending and future wait, so the test fails with the reason.
 */
import type * as net from 'node:net';
import { FlashClientBase, rejectWaiters, strictUtf8, type FlashClientOptions, type Waiter } from './flash-client-base.js';
import { NS_CLIENT, NS_SASL, NS_STREAM, escapeXml, parseXmlDocument, startTagEnd, type XmlElement } from './flash-xml.js';
import { LoginError, bindAndSession, isSaslAnswer, offeredMechanisms, scramAuth } from './raw-client.js';
import { b64, plainMessage } from './scram.js';

export const NS_FLASH = 'http://www.jabber.com/streams/flash';
export const NS_IQ_AUTH = 'jabber:iq:auth';

export type StreamName = 'flash' | 'stream';
export type HeaderForm = 'open' | 'self-closed';

const FLASH_CLOSE = '</flash:stream>';
const STREAM_CLOSE = '</stream:stream>';

function closeTagFor(name: StreamName): string {
  return name === 'flash' ? FLASH_CLOSE : STREAM_CLOSE;
}

/**
 * XIFF 2.x (AS2) and the XIFF 3-beta default: self-closed `stream:stream` header; `to` is the
 * host the SWF connected to (IP or host name), not necessarily the XMPP domain. No `\0`:
 * `NulFlashClient.send` appends it.
 */
export function xiff2Header(to: string): string {
  return `<?xml version="1.0"?><stream:stream to="${escapeXml(to)}" xmlns="jabber:client" xmlns:stream="${NS_STREAM}" version="1.0" />`;
}

/** XIFF 3-beta with `streamType=flash`: open `flash:stream`, no `xmlns:stream`, no `xml:lang`. */
export function xiff3BetaFlashHeader(to: string): string {
  return `<?xml version="1.0"?><flash:stream to="${escapeXml(to)}" xmlns="jabber:client" xmlns:flash="${NS_FLASH}" version="1.0">`;
}

/** XEP-0078 field request. */
export function iqAuthGet(user: string, id = 'auth_1'): string {
  return `<iq type="get" id="${escapeXml(id)}"><query xmlns="${NS_IQ_AUTH}"><username>${escapeXml(user)}</username></query></iq>`;
}

/** XEP-0078 plaintext authentication. */
export function iqAuthSet(user: string, pass: string, resource: string, id = 'auth_2'): string {
  return (
    `<iq type="set" id="${escapeXml(id)}"><query xmlns="${NS_IQ_AUTH}"><username>${escapeXml(user)}</username>` +
    `<password>${escapeXml(pass)}</password><resource>${escapeXml(resource)}</resource></query></iq>`
  );
}

/** A header start: optional XML declaration, then `<flash:stream` or `<stream:stream`. */
const HEADER_RE = /^\s*(?:<\?xml[^>]*\?>\s*)?<(flash|stream):stream(?=[\s/>])/;
/** A stream header opened by the client (not a close tag). */
const CLIENT_HEADER_RE = /<(flash|stream):stream(?=[\s/>])/g;
const LEADING_XML_DECL_RE = /^\s*<\?xml(?:\s[^>]*)?\?>/;
const LEADING_DOCTYPE_RE = /^\s*<!DOCTYPE[^>[]*(?:\[[^\]]*\])?\s*>/i;
/** The element every non-header packet is parsed in: default namespace only, no prefixes. */
const PACKET_WRAPPER = 'nul-client-packet';

const show = (s: string, max = 300): string => JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s);

export interface NulClientOptions extends FlashClientOptions {
  /** If given, every stream header's `from` must be this domain. */
  domain?: string;
}

interface HeaderWaiter extends Waiter<Record<string, string>> {
  index: number;
}

export class NulFlashClient extends FlashClientBase {
  /** Form of every stream header in `streamHeaders`, same order. */
  readonly headerForms: HeaderForm[] = [];
  /** The text of every NUL-terminated packet received (without its NUL), in order. */
  readonly packets: string[] = [];
  /** The stream name of the last header this client sent (undefined before any). */
  openedWith: StreamName | undefined;

  private readonly headerWaiters: HeaderWaiter[] = [];
  private pending: Buffer = Buffer.alloc(0);
  /** The client sent a header and no header came back since. */
  private expectingHeader = false;
  /** The stream name of the last header received. */
  private lastHeaderName: StreamName | undefined;
  private readonly domain: string | undefined;

  private constructor(socket: net.Socket, opts: NulClientOptions) {
    super(socket, opts, { name: 'NUL-mode flash client', requirements: 'XMLSocket client' });
    this.domain = opts.domain;
    socket.on('end', () => this.onEnd());
  }

  static connect(host: string, port: number, opts: NulClientOptions = {}): Promise<NulFlashClient> {
    return FlashClientBase.connectSocket(host, port, opts, (socket) => new NulFlashClient(socket, opts));
  }

  /** `XMLSocket.send(xml)`: writes the string plus one `\0`, in one write. */
  override send(xml: string): void {
    this.noteSent(xml);
    this.write(`${xml}\0`);
  }

  /** Writes exactly these bytes (stray NULs, several elements in one write, split writes…). */
  sendRaw(bytes: string | Buffer): void {
    this.noteSent(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
    this.write(bytes);
  }

  /** The form of the last stream header received. */
  get headerForm(): HeaderForm | undefined {
    return this.headerForms[this.headerForms.length - 1];
  }

  /** Resolves with the attributes of stream header number `index` (0-based) once it has come. */
  waitStreamHeader(index: number, timeoutMs = 5000): Promise<Record<string, string>> {
    return this.waitFor(this.headerWaiters, () => this.streamHeaders[index], (w) => ({ ...w, index }), `stream header #${index + 1}`, timeoutMs);
  }

  /** The close tag matching the header this client opened with (`send` makes it a packet). */
  protected override closeTag(): string {
    return closeTagFor(this.openedWith ?? 'stream');
  }

  protected override rejectAll(err: Error): void {
    super.rejectAll(err);
    rejectWaiters(this.headerWaiters, err);
  }

  private noteSent(text: string): void {
    for (const m of text.matchAll(CLIENT_HEADER_RE)) {
      this.openedWith = m[1] as StreamName;
      this.expectingHeader = true;
    }
  }

  protected override onData(buf: Buffer): void {
    this.noteRead(buf.toString('utf8'));
    // XMLSocket buffers bytes until a NUL: a packet may span reads, a read may hold packets.
    let data = this.pending.length > 0 ? Buffer.concat([this.pending, buf]) : buf;
    let nul: number;
    while ((nul = data.indexOf(0)) >= 0) {
      this.handlePacket(data.subarray(0, nul));
      data = data.subarray(nul + 1);
    }
    this.pending = Buffer.from(data);
    if (this.peerClosedStream && this.pending.length > 0) {
      this.violation(`data after the peer's stream close: ${show(this.pending.toString('utf8'))}`);
      this.pending = Buffer.alloc(0);
    }
  }

  private onEnd(): void {
    if (this.pending.length > 0) {
      this.violation(
        `the peer ended the connection with ${this.pending.length} bytes not terminated by a NUL (XMLSocket never delivers them): ${show(this.pending.toString('utf8'))}`,
      );
      this.pending = Buffer.alloc(0);
    }
  }

  private handlePacket(bytes: Buffer): void {
    const n = this.packets.length + 1;
    let text = strictUtf8(bytes);
    if (text === undefined) {
      text = bytes.toString('utf8');
      this.violation(`packet #${n} is not valid UTF-8: ${show(text)}`);
    }
    this.packets.push(text);
    if (this.peerClosedStream) {
      this.violation(`packet #${n} came after the peer's stream close: ${show(text)}`);
      return;
    }
    const trimmed = text.trim();
    if (trimmed === FLASH_CLOSE || trimmed === STREAM_CLOSE) {
      this.handleClose(text, n);
      return;
    }
    const header = HEADER_RE.exec(text);
    if (header) {
      this.handleHeader(text, header[1] as StreamName, n);
      return;
    }
    if (this.expectingHeader) {
      this.violation(`packet #${n}: expected the stream header, got ${show(text)}`);
      this.expectingHeader = false;
    }
    this.handleElementPacket(text, n);
  }

  private handleClose(text: string, n: number): void {
    const trimmed = text.trim();
    if (text !== trimmed) {
      this.violation(`packet #${n}: the close packet must be exactly ${trimmed}, got ${show(text)}`);
    }
    const name = this.openedWith ?? this.lastHeaderName ?? 'stream';
    const expected = closeTagFor(name);
    if (trimmed !== expected) {
      this.violation(`packet #${n}: the stream was opened as ${name}:stream, so its close must be ${expected}, got ${trimmed}`);
    }
    this.peerClosed();
  }

  private handleHeader(text: string, name: StreamName, n: number): void {
    this.expectingHeader = false;
    this.lastHeaderName = name;
    if (this.openedWith !== undefined && name !== this.openedWith) {
      this.violation(`packet #${n}: the client opened with ${this.openedWith}:stream but got a ${name}:stream header: ${show(text)}`);
    }
    const start = text.indexOf(`<${name}:stream`);
    const tag = startTagEnd(text, start);
    if (!tag) {
      this.violation(`packet #${n}: unterminated stream header start tag: ${show(text)}`);
      return;
    }
    const rest = text.slice(tag.end + 1);
    if (rest.trim() !== '') {
      this.violation(
        `packet #${n}: the stream header packet holds more than the header (NUL mode: one element per packet, then \\0): ${show(rest)}`,
      );
    }
    let root: XmlElement;
    let form: HeaderForm;
    if (name === 'flash') {
      form = 'open';
      if (tag.selfClosed) {
        this.violation(
          `packet #${n}: the flash:stream header is self-closed, so it does not parse with ${FLASH_CLOSE} appended (XIFF 3-beta appends it): ${show(text)}`,
        );
        return;
      }
      try {
        root = parseXmlDocument(text + FLASH_CLOSE);
      } catch (err) {
        this.violation(`packet #${n}: the flash:stream header does not parse with ${FLASH_CLOSE} appended (${(err as Error).message}): ${show(text)}`);
        return;
      }
      if (!root.is('stream', NS_FLASH) || root.prefix !== 'flash') {
        this.violation(`packet #${n}: the header is not flash:stream in ${NS_FLASH}: ${show(text)}`);
      }
      if (root.attrs['xmlns:flash'] !== NS_FLASH) {
        this.violation(`packet #${n}: the flash:stream header does not declare xmlns:flash="${NS_FLASH}": ${show(text)}`);
      }
      if (root.attrs['xmlns:stream'] !== NS_STREAM) {
        this.violation(`packet #${n}: the flash:stream header does not declare xmlns:stream="${NS_STREAM}" (Openfire's form): ${show(text)}`);
      }
      if (!root.attrs['xml:lang']) {
        this.violation(`packet #${n}: the flash:stream header has no xml:lang (Openfire's form has xml:lang="en"): ${show(text)}`);
      }
    } else {
      form = tag.selfClosed ? 'self-closed' : 'open';
      try {
        root = parseXmlDocument(tag.selfClosed ? text : text + STREAM_CLOSE);
      } catch (err) {
        this.violation(`packet #${n}: the stream:stream header does not parse (${form}) (${(err as Error).message}): ${show(text)}`);
        return;
      }
      if (!root.is('stream', NS_STREAM) || root.prefix !== 'stream') {
        this.violation(`packet #${n}: the header is not stream:stream in ${NS_STREAM}: ${show(text)}`);
      }
    }
    if (root.attrs['xmlns'] !== NS_CLIENT) {
      this.violation(`packet #${n}: the stream header does not declare xmlns="${NS_CLIENT}": ${show(text)}`);
    }
    if (root.attrs['version'] !== '1.0') {
      this.violation(`packet #${n}: the stream header has no version="1.0": ${show(text)}`);
    }
    if (!root.attrs['id']) this.violation(`packet #${n}: the stream header has no id: ${show(text)}`);
    const from = root.attrs['from'];
    if (!from) this.violation(`packet #${n}: the stream header has no from: ${show(text)}`);
    else if (this.domain !== undefined && from !== this.domain) {
      this.violation(`packet #${n}: the stream header says from="${from}", expected "${this.domain}"`);
    }
    this.streamHeaders.push({ ...root.attrs });
    this.headerForms.push(form);
    const count = this.streamHeaders.length;
    for (const w of this.headerWaiters.filter((h) => h.index < count)) {
      this.headerWaiters.splice(this.headerWaiters.indexOf(w), 1);
      clearTimeout(w.timer);
      w.resolve(this.streamHeaders[w.index]!);
    }
  }

  private handleElementPacket(text: string, n: number): void {
    if (text.trim() === '') {
      this.violation(
        text === ''
          ? `packet #${n} is empty (XIFF 3-beta raises an error on an empty packet)`
          : `packet #${n} is whitespace only (a forwarded keepalive? XIFF 3-beta raises an error): ${show(text)}`,
      );
      return;
    }
    let body = text.replace(LEADING_XML_DECL_RE, '');
    body = body.replace(LEADING_DOCTYPE_RE, '');
    let root: XmlElement;
    try {
      root = parseXmlDocument(`<${PACKET_WRAPPER} xmlns="${NS_CLIENT}">${body}</${PACKET_WRAPPER}>`);
    } catch (err) {
      this.violation(`packet #${n} does not parse on its own, namespace-aware (${(err as Error).message}): ${show(text)}`);
      return;
    }
    const elements = root.elements();
    for (const c of root.children) {
      if (typeof c === 'string' && c.trim() !== '') {
        this.violation(`packet #${n}: non-whitespace text at the top level: ${show(c, 100)}`);
      }
    }
    if (elements.length === 0) {
      this.violation(`packet #${n} holds no element: ${show(text)}`);
    } else if (elements.length > 1) {
      this.violation(
        `packet #${n} holds ${elements.length} top-level elements (XIFF 3-beta reads only the first): ${elements.map((e) => `<${e.name}>`).join(' ')} in ${show(text)}`,
      );
    }
    for (const el of elements) this.deliver(el);
  }
}

// ---------------------------------------------------------------------------------------------
// Login helpers: the exact bytes of each client generation (shared/spec/flash-clients.md).

export interface NulIqAuthLoginOptions {
  /** What the SWF connected to (IP or host name), used as the header's `to`. */
  host: string;
  user: string;
  pass: string;
  resource: string;
  timeoutMs?: number;
}

export interface NulSaslLoginOptions {
  domain: string;
  user: string;
  pass: string;
  resource: string;
  mechanism: 'PLAIN' | 'SCRAM-SHA-1';
  timeoutMs?: number;
}

const isIq = (id: string) => (e: XmlElement): boolean => e.is('iq') && e.attrs['id'] === id;

/** XEP-0078 get + set (plaintext); resolves once the set's result came. */
async function iqAuth(client: NulFlashClient, o: NulIqAuthLoginOptions, t: number): Promise<void> {
  const fields = await client.nextElement(isIq('auth_1'), t);
  if (fields.attrs['type'] !== 'result') throw new LoginError('jabber:iq:auth field request failed', fields);
  const query = fields.getChild('query', NS_IQ_AUTH);
  if (!query?.getChild('password', NS_IQ_AUTH)) throw new LoginError('jabber:iq:auth does not offer plaintext <password/>', fields);
  client.send(iqAuthSet(o.user, o.pass, o.resource, 'auth_2'));
  const res = await client.nextElement(isIq('auth_2'), t);
  if (res.attrs['type'] !== 'result') throw new LoginError('jabber:iq:auth failed', res);
}

function jidFromHeader(client: NulFlashClient, o: NulIqAuthLoginOptions): string {
  const from = client.streamHeaders[client.streamHeaders.length - 1]?.['from'];
  if (!from) throw new LoginError('no stream header with a from attribute before the auth result');
  return `${o.user}@${from}/${o.resource}`;
}

/**
 * XIFF 3 beta with `streamType=flash`: open `flash:stream` header, then — as soon as the header
 * came, without waiting for stream features (any that come are left queued) — `jabber:iq:auth`
 * get and set. No bind, no session. Resolves with user@<header's from>/resource.
 */
export async function xiff3BetaFlashLogin(client: NulFlashClient, o: NulIqAuthLoginOptions): Promise<string> {
  const t = o.timeoutMs ?? 5000;
  const before = client.streamHeaders.length;
  client.send(xiff3BetaFlashHeader(o.host));
  await client.waitStreamHeader(before, t);
  client.send(iqAuthGet(o.user, 'auth_1'));
  await iqAuth(client, o, t);
  return jidFromHeader(client, o);
}

/**
 * XIFF 2 (AS2): self-closed `stream:stream` header and, in the same tick without waiting for
 * anything, the `jabber:iq:auth` get; the set after the get's result. Resolves with
 * user@<header's from>/resource.
 */
export async function xiff2Login(client: NulFlashClient, o: NulIqAuthLoginOptions): Promise<string> {
  const t = o.timeoutMs ?? 5000;
  client.send(xiff2Header(o.host));
  client.send(iqAuthGet(o.user, 'auth_1'));
  await iqAuth(client, o, t);
  return jidFromHeader(client, o);
}

/** Sends a header and resolves with the `<stream:features>` packet that follows the new header. */
export async function nulOpenStream(client: NulFlashClient, header: string, timeoutMs = 5000): Promise<XmlElement> {
  const before = client.streamHeaders.length;
  client.send(header);
  await client.waitStreamHeader(before, timeoutMs);
  return client.nextElement((e) => e.is('features', NS_STREAM), timeoutMs);
}

/** Resource bind then the session IQ (XIFF always sends it and waits for its result). */
export function nulBindAndSession(client: NulFlashClient, features: XmlElement, resource: string, timeoutMs = 5000): Promise<string> {
  return bindAndSession(client, features, resource, timeoutMs);
}

/**
 * A NUL-mode client doing SASL (XIFF 3 beta, default stream type): self-closed `stream:stream`
 * header to the domain, features, SASL PLAIN (empty authzid) or SCRAM-SHA-1 (server signature
 * verified), the self-closed header again, bind, session. Resolves with the bound JID.
 */
export async function nulSaslLogin(client: NulFlashClient, o: NulSaslLoginOptions): Promise<string> {
  const t = o.timeoutMs ?? 5000;
  const header = xiff2Header(o.domain);
  const features = await nulOpenStream(client, header, t);
  if (!offeredMechanisms(features).includes(o.mechanism)) throw new LoginError(`${o.mechanism} not offered`, features);
  if (o.mechanism === 'PLAIN') {
    client.send(`<auth xmlns="${NS_SASL}" mechanism="PLAIN">${b64(plainMessage('', o.user, o.pass))}</auth>`);
    const res = await client.nextElement(isSaslAnswer, t);
    if (!res.is('success', NS_SASL)) throw new LoginError('SASL PLAIN failed', res);
  } else {
    await scramAuth(client, o.mechanism, o.user, o.pass, t);
  }
  const features2 = await nulOpenStream(client, header, t);
  return nulBindAndSession(client, features2, o.resource, t);
}
