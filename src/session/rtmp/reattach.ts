/**
 * Redfire's re-attach (shared/spec/rtmp.md, dialect C): when a Redfire client's RTMP connection
 * drops, its XMPP session is parked for a grace period, and stanzas that arrive meanwhile are
 * kept; a client that comes back with the same credentials and resource within the grace period
 * gets the live session and those stanzas. Parked sessions are found by bare JID and resource;
 * the password is kept only as a salted hash, to check the returning client's.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { XmlElement } from '../../codec/xml/element.js';
import type { Logger } from '../../log/logger.js';
import type { XmppLink } from './xmpp-link.js';

export interface ParkedSession {
  readonly link: XmppLink;
  readonly digest: string;
  /** Stanzas that arrived while no RTMP connection was attached, in order. */
  readonly missed: XmlElement[];
}

interface Parked extends ParkedSession {
  readonly salt: Buffer;
  readonly passwordHash: Buffer;
  readonly timer: NodeJS.Timeout;
}

function hash(salt: Buffer, password: string): Buffer {
  return createHash('sha256').update(salt).update(password, 'utf8').digest();
}

export class ReattachRegistry {
  private readonly parked = new Map<string, Parked>();

  constructor(
    private readonly graceMs: number,
    /** Stanzas kept per parked session; past it the oldest go (the client gets the latest). */
    private readonly maxMissed: number,
    private readonly log: Logger,
  ) {}

  /** Keeps the session for the grace period; closes it after. */
  park(key: string, link: XmppLink, digest: string, password: string): void {
    this.take(key)?.link.close();
    const salt = randomBytes(16);
    const missed: XmlElement[] = [];
    const timer = setTimeout(() => {
      this.parked.delete(key);
      this.log.info({ key }, 'Redfire session not re-attached within the grace period; closed');
      void link.close();
    }, this.graceMs);
    timer.unref();
    link.listen({
      stanza: (element) => {
        missed.push(element);
        if (missed.length > this.maxMissed) missed.shift();
      },
      lost: () => {
        clearTimeout(timer);
        this.parked.delete(key);
      },
    });
    this.parked.set(key, { link, digest, missed, salt, passwordHash: hash(salt, password), timer });
    this.log.info({ key, graceMs: this.graceMs }, 'Redfire session parked for re-attach');
  }

  /** The parked session for these credentials, removed from the registry; else undefined. */
  claim(key: string, password: string): ParkedSession | undefined {
    const entry = this.parked.get(key);
    if (!entry || !timingSafeEqual(entry.passwordHash, hash(entry.salt, password))) return undefined;
    return this.take(key);
  }

  private take(key: string): Parked | undefined {
    const entry = this.parked.get(key);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    this.parked.delete(key);
    entry.link.listen(undefined);
    return entry;
  }

  /** Closes every parked session (shutdown). */
  closeAll(): void {
    for (const key of [...this.parked.keys()]) void this.take(key)?.link.close();
  }

  get size(): number {
    return this.parked.size;
  }
}
