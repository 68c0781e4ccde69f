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
import * as net from 'node:net';
import { SaxesParser } from 'saxes';
import { ScramClient, plainMessage, b64, unb64, type ScramHash } from './scram.js';

export const NS_STREAM = 'http://etherx.jabber.org/streams';
export const NS_CLIENT = 'jabber:client';
export const NS_SASL = 'urn:ietf:params:xml:ns:xmpp-sasl';
export const NS_BIND = 'urn:ietf:params:xml:ns:xmpp-bind';
export const NS_SESSION = 'urn:ietf:params:xml:ns:xmpp-session';
export const NS_TLS = 'urn:ietf:params:xml:ns:xmpp-tls';
export const NS_STREAM_ERRORS = 'urn:ietf:params:xml:ns:xmpp-streams';
export const NS_STANZA_ERRORS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

/** The opening tag XIFF 3 prepends to a read that has no stream header. */
export const XIFF_OPEN_TAG = '<stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams">';
const CLOSE_TAG = '</stream:stream>';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** SparkWeb's stream header: note the self-closing `/>`. */
export function sparkwebHeader(domain: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" to="${escapeXml(domain)}" xml:lang="en" version="1.0" />`;
}

/** XIFF 3.0+'s stream header (left open). */
export function xiffHeader(domain: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><stream:stream xmlns="jabber:client" xmlns:stream="http://etherx.jabber.org/streams" to="${escapeXml(domain)}" xml:lang="en" version="1.0">`;
}

export type XmlNode = XmlElement | string;

/** A parsed element. `attrs` holds the attributes as received, including xmlns declarations. */
export class XmlElement {
  readonly children: XmlNode[] = [];
  constructor(
    readonly name: string,
    readonly local: string,
    readonly prefix: string,
    readonly uri: string,
    readonly attrs: Record<string, string>,
  ) {}

  /** local name and (optionally) namespace URI match. */
  is(local: string, uri?: string): boolean {
    return this.local === local && (uri === undefined || this.uri === uri);
  }

  elements(): XmlElement[] {
    return this.children.filter((c): c is XmlElement => typeof c !== 'string');
  }

  getChild(local: string, uri?: string): XmlElement | undefined {
    return this.elements().find((e) => e.is(local, uri));
  }

  getChildren(local: string, uri?: string): XmlElement[] {
    return this.elements().filter((e) => e.is(local, uri));
  }

  /** Concatenated direct text children. */
  text(): string {
    return this.children.filter((c): c is string => typeof c === 'string').join('');
  }

  getChildText(local: string, uri?: string): string | undefined {
    return this.getChild(local, uri)?.text();
  }

  toString(): string {
    const attrs = Object.entries(this.attrs)
      .map(([k, v]) => ` ${k}="${escapeXml(v)}"`)
      .join('');
    if (this.children.length === 0) return `<${this.name}${attrs}/>`;
    const inner = this.children.map((c) => (typeof c === 'string' ? escapeXml(c) : c.toString())).join('');
    return `<${this.name}${attrs}>${inner}</${this.name}>`;
  }
}

/** Parses a complete XML document with saxes (strict, namespace-aware); returns the root. */
export function parseXmlDocument(xml: string): XmlElement {
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  parser.on('opentag', (node) => {
    const attrs: Record<string, string> = {};
    for (const [k, a] of Object.entries(node.attributes)) attrs[k] = a.value;
    const el = new XmlElement(node.name, node.local, node.prefix, node.uri, attrs);
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(el);
    else root = el;
    if (!node.isSelfClosing) stack.push(el);
  });
  parser.on('closetag', (node) => {
    // self-closing tags are not on the stack (saxes emits closetag for them too)
    if (!node.isSelfClosing) stack.pop();
  });
  const onText = (t: string): void => {
    const parent = stack[stack.length - 1];
    if (!parent) return;
    const last = parent.children[parent.children.length - 1];
    if (typeof last === 'string') parent.children[parent.children.length - 1] = last + t;
    else parent.children.push(t);
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.write(xml).close(); // throws on the first error
  if (!root) throw new Error('no root element');
  return root;
}

/** Finds the end ('>') of the start tag that begins at `start`, honouring quoted attribute values. */
function startTagEnd(s: string, start: number): { end: number; selfClosed: boolean } | undefined {
  let quote: string | undefined;
  for (let i = start; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '>') {
      return { end: i, selfClosed: s[i - 1] === '/' };
    }
  }
  return undefined;
}

const HEADER_RE = /^\s*(?:<\?xml[^>]*\?>\s*)?<stream:stream(?=[\s/>])/;

export interface RawClientOptions {
  /** Reject pending/future waits as soon as a violation is recorded. Default true. */
  strict?: boolean;
  /**
   * Tolerate reads that are not well-formed alone by buffering them and retrying with the next
   * read (XIFF 3.0's `incompleteRawXML`), counting them in `splitReads` instead of recording a
   * violation. For payloads too large for one TCP segment. Default false.
   */
  allowSplitReads?: boolean;
  /** Reject a wait when a `<stream:error>` arrives that its predicate does not match. Default true. */
  failOnStreamError?: boolean;
  /** Connect timeout, ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Label used in messages. */
  name?: string;
}

interface Waiter {
  predicate: (el: XmlElement) => boolean;
  resolve: (el: XmlElement) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class RawFlashClient {
  readonly violations: string[] = [];
  /** Attributes of every stream header received, in order. */
  readonly streamHeaders: Record<string, string>[] = [];
  /** Every top-level element received, in order (whether consumed by a wait or not). */
  readonly received: XmlElement[] = [];
  /** Each socket read, decoded (NULs shown as \0). */
  readonly reads: string[] = [];
  /** "C: ..." / "S: ..." lines. */
  readonly transcript: string[] = [];
  /** Reads that were not well-formed alone and were buffered (allowSplitReads). */
  splitReads = 0;
  /** True once `</stream:stream>` came from the peer. */
  peerClosedStream = false;
  /** True once the socket is closed. */
  socketClosed = false;

  private readonly queue: XmlElement[] = [];
  private waiters: Waiter[] = [];
  private pending = '';
  private readonly strict: boolean;
  private readonly allowSplitReads: boolean;
  private readonly failOnStreamError: boolean;
  private readonly closeWaiters: (() => void)[] = [];
  private readonly streamCloseWaiters: (() => void)[] = [];
  private readonly name: string;

  private constructor(
    readonly socket: net.Socket,
    opts: RawClientOptions,
  ) {
    this.strict = opts.strict ?? true;
    this.allowSplitReads = opts.allowSplitReads ?? false;
    this.failOnStreamError = opts.failOnStreamError ?? true;
    this.name = opts.name ?? 'raw flash client';
    socket.on('data', (buf: Buffer) => this.onData(buf));
    socket.on('error', (err) => this.transcript.push(`!: socket error ${err.message}`));
    socket.on('close', () => {
      this.socketClosed = true;
      this.transcript.push('!: socket closed');
      this.rejectAll(new Error(`${this.name}: connection closed${this.describeRecent()}`));
      for (const w of this.closeWaiters.splice(0)) w();
      for (const w of this.streamCloseWaiters.splice(0)) w();
    });
  }

  static connect(host: string, port: number, opts: RawClientOptions = {}): Promise<RawFlashClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, opts.connectTimeoutMs ?? 5000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        resolve(new RawFlashClient(socket, opts));
      });
    });
  }

  /** Writes exactly these bytes (UTF-8). */
  send(bytes: string): void {
    this.transcript.push(`C: ${bytes.replace(/\0/g, '\\0')}`);
    this.socket.write(bytes, 'utf8');
  }

  /** Writes raw bytes (e.g. a split multi-byte character, a NUL). */
  sendBuffer(buf: Buffer): void {
    this.transcript.push(`C: <${buf.length} bytes> ${buf.toString('utf8').replace(/\0/g, '\\0')}`);
    this.socket.write(buf);
  }

  /** The stream id of the last stream header received. */
  get streamId(): string | undefined {
    return this.streamHeaders[this.streamHeaders.length - 1]?.['id'];
  }

  /**
   * Resolves with the first received top-level element (oldest first) that matches, removing it
   * from the queue; non-matching elements stay queued for later waits.
   */
  nextElement(predicate: (el: XmlElement) => boolean = () => true, timeoutMs = 5000): Promise<XmlElement> {
    if (this.strict && this.violations.length > 0) return Promise.reject(this.violationError());
    const idx = this.queue.findIndex(predicate);
    if (idx >= 0) {
      const [el] = this.queue.splice(idx, 1);
      return Promise.resolve(el!);
    }
    if (this.failOnStreamError) {
      const se = this.queue.find((e) => e.is('error', NS_STREAM));
      if (se) return Promise.reject(new Error(`${this.name}: stream error received: ${se.toString()}`));
    }
    if (this.socketClosed) return Promise.reject(new Error(`${this.name}: connection closed${this.describeRecent()}`));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new Error(`${this.name}: no matching element within ${timeoutMs} ms${this.describeRecent()}`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Elements received but not consumed by a wait. */
  queued(): readonly XmlElement[] {
    return this.queue;
  }

  /** Drops queued elements. */
  drain(): XmlElement[] {
    return this.queue.splice(0);
  }

  /** Throws if any violation was recorded. */
  assertNoViolations(): void {
    if (this.violations.length > 0) throw this.violationError();
  }

  /** Resolves once the peer sent `</stream:stream>` or closed the socket. */
  waitStreamClosed(timeoutMs = 5000): Promise<void> {
    if (this.peerClosedStream || this.socketClosed) return Promise.resolve();
    return this.bounded(this.streamCloseWaiters, timeoutMs, 'stream close');
  }

  /** Resolves once the socket is closed (by either side). */
  waitClosed(timeoutMs = 5000): Promise<void> {
    if (this.socketClosed) return Promise.resolve();
    return this.bounded(this.closeWaiters, timeoutMs, 'socket close');
  }

  /**
   * Sends `</stream:stream>`, waits (bounded) for the peer's `</stream:stream>` or end, then
   * ends and destroys the socket. Never throws.
   */
  async close(timeoutMs = 3000): Promise<void> {
    if (!this.socketClosed && !this.socket.destroyed) {
      try {
        this.send(CLOSE_TAG);
        await this.waitStreamClosed(timeoutMs);
      } catch {
        /* peer did not answer in time */
      }
      this.socket.end();
      await this.waitClosed(500).catch(() => {});
    }
    this.socket.destroy();
  }

  /** Destroys the socket at once (a vanished client). */
  destroy(): void {
    this.socket.destroy();
  }

  private bounded(list: (() => void)[], timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = list.indexOf(done);
        if (i >= 0) list.splice(i, 1);
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms${this.describeRecent()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      list.push(done);
    });
  }

  private describeRecent(): string {
    const v = this.violations.length > 0 ? `\nviolations:\n  ${this.violations.join('\n  ')}` : '';
    const cut = (l: string): string => (l.length > 600 ? `${l.slice(0, 600)}... (${l.length} chars)` : l);
    return `${v}\ntranscript (last 20):\n  ${this.transcript.slice(-20).map(cut).join('\n  ')}`;
  }

  private violationError(): Error {
    return new Error(`${this.name}: Flash client requirements violated:\n  ${this.violations.join('\n  ')}${this.describeRecent()}`);
  }

  private violation(msg: string): void {
    this.violations.push(msg);
    this.transcript.push(`!: VIOLATION ${msg}`);
    if (this.strict) this.rejectAll(this.violationError());
  }

  private rejectAll(err: Error): void {
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }

  private onData(buf: Buffer): void {
    const n = this.reads.length + 1;
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
    } catch {
      text = buf.toString('utf8');
      this.violation(`read #${n} is not valid UTF-8 on its own (a multi-byte character split across writes?): ${JSON.stringify(text.slice(0, 200))}`);
    }
    this.reads.push(text.replace(/\0/g, '\\0'));
    this.transcript.push(`S: ${text.replace(/\0/g, '\\0')}`);
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
    if (closes) {
      this.peerClosedStream = true;
      this.transcript.push('!: peer closed the stream');
      for (const w of this.streamCloseWaiters.splice(0)) w();
    }
  }

  private deliver(el: XmlElement): void {
    this.received.push(el);
    const i = this.waiters.findIndex((w) => w.predicate(el));
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      clearTimeout(w!.timer);
      w!.resolve(el);
      return;
    }
    this.queue.push(el);
    if (this.failOnStreamError && el.is('error', NS_STREAM)) {
      this.rejectAll(new Error(`${this.name}: stream error received: ${el.toString()}`));
    }
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

/** Resource bind (RFC 6120) then the legacy session IQ, as XIFF/SparkWeb do. Resolves with the full JID. */
export async function bindAndSession(client: RawFlashClient, features: XmlElement, resource: string, timeoutMs = 5000): Promise<string> {
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
  const scram = new ScramClient(mechanism as ScramHash, o.user, o.pass);
  client.send(`<auth xmlns="${NS_SASL}" mechanism="${mechanism}">${b64(scram.clientFirst())}</auth>`);
  const isSasl = (e: XmlElement): boolean => e.uri === NS_SASL && ['challenge', 'success', 'failure'].includes(e.local);
  const first = await client.nextElement(isSasl, t);
  if (!first.is('challenge', NS_SASL)) throw new LoginError('expected a SCRAM challenge', first);
  client.send(`<response xmlns="${NS_SASL}">${b64(scram.clientFinal(unb64(first.text())))}</response>`);
  let fin = await client.nextElement(isSasl, t);
  if (fin.is('challenge', NS_SASL)) {
    // server-final-message sent as a challenge (allowed by RFC 6120 6.3.10)
    scram.verifyServerFinal(unb64(fin.text()));
    client.send(`<response xmlns="${NS_SASL}"/>`);
    fin = await client.nextElement(isSasl, t);
    if (!fin.is('success', NS_SASL)) throw new LoginError('SCRAM failed', fin);
  } else if (fin.is('success', NS_SASL)) {
    if (fin.text().trim() === '') throw new LoginError('SCRAM success without server-final-message', fin);
    scram.verifyServerFinal(unb64(fin.text()));
  } else {
    throw new LoginError('SCRAM failed', fin);
  }
  const features2 = await openStream(client, header, t);
  return bindAndSession(client, features2, o.resource, t);
}
