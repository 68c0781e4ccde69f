/**
 * Room control (shared/spec/room-control.md): a moderator pushes an app-defined payload to
 * every occupant of a MUC room, through the gateway's XEP-0114 component. MUC fans out only
 * groupchat and presence and checks nobody's role, so the service joins the room as a MUC
 * admin (it then sees real JIDs and roles), checks the requester's role at request time, and
 * sends each occupant an IQ (or a headline message) of its own.
 */
import { randomUUID } from 'node:crypto';
import { attr, child, childElements, el, NS, type XmlElement } from '../codec/xml/element.js';
import type { Logger } from '../log/logger.js';

export const CONTROL_NS = 'urn:flash-xmpp-gateway:control:0';
const MUC = 'http://jabber.org/protocol/muc';
const MUC_USER = 'http://jabber.org/protocol/muc#user';
const DISCO_INFO = 'http://jabber.org/protocol/disco#info';

/** What the service needs of the component connection. */
export interface ComponentPort {
  readonly state: string;
  send(element: XmlElement): unknown;
  iq(element: XmlElement, timeoutMs: number): Promise<XmlElement>;
  onStanza(handler: (element: XmlElement) => void): void;
  onState(handler: (state: string) => void): void;
}

export type Deliver = 'iq' | 'message';

export interface DeliveryReport {
  readonly room: string;
  readonly delivered: number;
  readonly failed: { jid: string; condition: string }[];
}

/** A refusal, in the stanza error vocabulary (RFC 6120 §8.3.3). */
export class RoomControlError extends Error {
  override readonly name = 'RoomControlError';
  constructor(
    readonly condition: 'forbidden' | 'item-not-found' | 'bad-request' | 'service-unavailable' | 'remote-server-timeout',
    readonly text: string,
  ) {
    super(`${condition}: ${text}`);
  }
}

interface Occupant {
  readonly jid: string;
  readonly role: string;
  readonly affiliation: string;
}

interface Room {
  readonly occupants: Map<string, Occupant>;
  joined: Promise<void>;
  markJoined: () => void;
}

export interface RoomControlOptions {
  readonly component: ComponentPort;
  /** The component's domain (pushes come from it). */
  readonly domain: string;
  /** The JID the service joins rooms with; the MUC service must list it as an admin. */
  readonly serviceJid: string;
  readonly nick: string;
  /** How long occupants have to answer a pushed IQ. */
  readonly answerTimeoutMs: number;
  readonly log: Logger;
}

const bare = (jid: string): string => jid.split('/')[0]!.toLowerCase();
const sameJid = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

export class RoomControlService {
  private readonly rooms = new Map<string, Room>();
  private readonly component: ComponentPort;

  constructor(private readonly options: RoomControlOptions) {
    this.component = options.component;
    this.component.onStanza((element) => this.stanza(element));
    // A new component stream means new MUC sessions: rooms are joined again when next used.
    this.component.onState((state) => {
      if (state !== 'online') this.rooms.clear();
    });
  }

  private stanza(element: XmlElement): void {
    if (element.local === 'presence') {
      this.presence(element);
      return;
    }
    if (element.local !== 'iq') return;
    const type = attr(element, 'type');
    if (type !== 'get' && type !== 'set') return;
    void this.request(element).then(
      (reply) => this.component.send(reply),
      (error: unknown) => this.component.send(this.errorReply(element, error)),
    );
  }

  /** Requests to the service: disco#info and broadcast. */
  private async request(iq: XmlElement): Promise<XmlElement> {
    const from = attr(iq, 'from') ?? '';
    const reply = (children: XmlElement[] = []): XmlElement =>
      el('iq', NS.client, { type: 'result', id: attr(iq, 'id'), to: from, from: attr(iq, 'to') }, children);
    if (attr(iq, 'type') === 'get' && child(iq, 'query', DISCO_INFO)) {
      return reply([
        el('query', DISCO_INFO, {}, [
          el('identity', DISCO_INFO, { category: 'component', type: 'generic', name: 'Room control (flash-xmpp-gateway)' }),
          el('feature', DISCO_INFO, { var: DISCO_INFO }),
          el('feature', DISCO_INFO, { var: CONTROL_NS }),
        ]),
      ]);
    }
    const broadcast = attr(iq, 'type') === 'set' ? child(iq, 'broadcast', CONTROL_NS) : undefined;
    if (!broadcast) throw new RoomControlError('service-unavailable', 'this service answers broadcast requests only');
    const room = attr(broadcast, 'room') ?? '';
    const deliver = attr(broadcast, 'deliver') ?? 'iq';
    if (deliver !== 'iq' && deliver !== 'message') throw new RoomControlError('bad-request', 'deliver must be "iq" or "message"');
    const report = await this.broadcast(room, childElements(broadcast), deliver, from);
    return reply([reportElement(report)]);
  }

  /**
   * Pushes `payload` to every occupant of `room` but the requester and the service itself.
   * `requester` (a full JID) must be a moderator there, or an owner or admin; undefined means
   * the caller is trusted (the HTTP API, which checked its token).
   */
  async broadcast(room: string, payload: XmlElement[], deliver: Deliver, requester: string | undefined): Promise<DeliveryReport> {
    if (!/^[^@/\s]+@[^@/\s]+$/.test(room)) throw new RoomControlError('bad-request', 'room must be a bare room JID');
    if (payload.length === 0) throw new RoomControlError('bad-request', 'no payload to push');
    if (this.component.state !== 'online') throw new RoomControlError('service-unavailable', 'the room-control component is not connected');
    const roomJid = room.toLowerCase();
    const state = await this.join(roomJid);

    let by = this.options.nick;
    if (requester !== undefined) {
      const entry = [...state.occupants].find(([, o]) => sameJid(o.jid, requester));
      const allowed = entry && (entry[1].role === 'moderator' || entry[1].affiliation === 'owner' || entry[1].affiliation === 'admin');
      if (!entry || !allowed) {
        this.options.log.info({ room: roomJid }, 'room-control broadcast refused: the requester is not a moderator there');
        throw new RoomControlError('forbidden', 'only a moderator of the room may push to it');
      }
      by = entry[0];
    }

    const targets = [...state.occupants.values()].filter(
      (o) => !sameJid(o.jid, this.options.serviceJid) && (requester === undefined || !sameJid(o.jid, requester)),
    );
    const push = (): XmlElement => el('push', CONTROL_NS, { room: roomJid, by }, payload);
    const failed: { jid: string; condition: string }[] = [];
    let delivered = 0;
    if (deliver === 'message') {
      for (const target of targets) {
        this.component.send(el('message', NS.client, { type: 'headline', from: this.options.domain, to: target.jid, id: randomUUID() }, [push()]));
        delivered++;
      }
    } else {
      const answers = await Promise.allSettled(
        targets.map((target) =>
          this.component.iq(el('iq', NS.client, { type: 'set', from: this.options.domain, to: target.jid, id: randomUUID() }, [push()]), this.options.answerTimeoutMs),
        ),
      );
      answers.forEach((answer, i) => {
        const jid = (targets[i] as Occupant).jid;
        if (answer.status === 'rejected') failed.push({ jid, condition: 'remote-server-timeout' });
        else if (attr(answer.value, 'type') === 'result') delivered++;
        else failed.push({ jid, condition: stanzaErrorCondition(answer.value) });
      });
    }
    this.options.log.info({ room: roomJid, deliver, delivered, failed: failed.length }, 'room-control broadcast');
    return { room: roomJid, delivered, failed };
  }

  /** Joins the room (once per component session), never creating it (room-control.md). */
  private async join(roomJid: string): Promise<Room> {
    const known = this.rooms.get(roomJid);
    if (known) {
      await known.joined;
      return known;
    }
    const info = await this.component
      .iq(el('iq', NS.client, { type: 'get', from: this.options.serviceJid, to: roomJid, id: randomUUID() }, [el('query', DISCO_INFO)]), this.options.answerTimeoutMs)
      .catch(() => undefined);
    if (!info || attr(info, 'type') !== 'result') throw new RoomControlError('item-not-found', `there is no room ${roomJid}`);
    let markJoined = (): void => undefined;
    const joined = new Promise<void>((resolve) => (markJoined = resolve));
    const room: Room = { occupants: new Map(), joined, markJoined };
    this.rooms.set(roomJid, room);
    this.component.send(el('presence', NS.client, { from: this.options.serviceJid, to: `${roomJid}/${this.options.nick}` }, [el('x', MUC)]));
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new RoomControlError('remote-server-timeout', `could not join ${roomJid}`)), this.options.answerTimeoutMs).unref(),
    );
    try {
      await Promise.race([joined, timeout]);
    } catch (error) {
      this.rooms.delete(roomJid);
      throw error;
    }
    return room;
  }

  /** Occupant presence: real JIDs and roles (visible to the service as a MUC admin). */
  private presence(presence: XmlElement): void {
    const from = attr(presence, 'from') ?? '';
    const slash = from.indexOf('/');
    if (slash < 0) return;
    const room = this.rooms.get(from.slice(0, slash).toLowerCase());
    if (!room) return;
    const nick = from.slice(slash + 1);
    const x = child(presence, 'x', MUC_USER);
    if (attr(presence, 'type') === 'error') {
      this.rooms.delete(from.slice(0, slash).toLowerCase());
      return;
    }
    if (attr(presence, 'type') === 'unavailable') {
      room.occupants.delete(nick);
      return;
    }
    const item = x ? child(x, 'item', MUC_USER) : undefined;
    const jid = (item && attr(item, 'jid')) ?? '';
    if (jid !== '') room.occupants.set(nick, { jid, role: attr(item as XmlElement, 'role') ?? 'none', affiliation: attr(item as XmlElement, 'affiliation') ?? 'none' });
    const self = nick === this.options.nick || (x !== undefined && childElements(x).some((s) => s.local === 'status' && attr(s, 'code') === '110'));
    if (self) room.markJoined();
  }

  private errorReply(iq: XmlElement, error: unknown): XmlElement {
    const refusal = error instanceof RoomControlError ? error : new RoomControlError('service-unavailable', 'internal error');
    if (!(error instanceof RoomControlError)) this.options.log.error({ err: error }, 'room-control request failed');
    const type = refusal.condition === 'bad-request' ? 'modify' : refusal.condition === 'forbidden' ? 'auth' : 'cancel';
    return el('iq', NS.client, { type: 'error', id: attr(iq, 'id'), to: attr(iq, 'from'), from: attr(iq, 'to') }, [
      el('error', NS.client, { type }, [el(refusal.condition, NS.stanzas), el('text', NS.stanzas, {}, [refusal.text])]),
    ]);
  }

  /** Leaves every room (shutdown). */
  leaveAll(): void {
    for (const room of this.rooms.keys()) {
      this.component.send(el('presence', NS.client, { from: this.options.serviceJid, to: `${room}/${this.options.nick}`, type: 'unavailable' }));
    }
    this.rooms.clear();
  }
}

function stanzaErrorCondition(iq: XmlElement): string {
  const error = child(iq, 'error');
  return (error && childElements(error).find((c) => c.ns === NS.stanzas && c.local !== 'text')?.local) ?? 'undefined-condition';
}

export function reportElement(report: DeliveryReport): XmlElement {
  return el(
    'report',
    CONTROL_NS,
    { delivered: String(report.delivered), failed: String(report.failed.length) },
    report.failed.map((f) => el('failed', CONTROL_NS, { jid: f.jid, condition: f.condition })),
  );
}

/** The room's bare JID as the HTTP API gets it (percent-encoded in the path). */
export function roomFromPath(segment: string): string {
  return bare(decodeURIComponent(segment));
}
