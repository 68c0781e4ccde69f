/**
 * The last few failed client logins, for the status page: a fixed-size ring, so a password
 * guesser cannot grow it, and the operator sees who is failing now rather than a count.
 */

export interface LoginFailure {
  readonly at: Date;
  /** tcp, websocket, rtmp, rtmps, rtmpt. */
  readonly transport: string;
  /** raw or nul on XMPP streams; call-api, xiff or redfire on RTMP; absent when not known yet. */
  readonly dialect?: string;
  readonly remoteAddress: string;
  /** The user name the client gave (attacker-controlled: escape it wherever it is shown). */
  readonly user?: string;
  /** sasl, iq:auth or rtmp. */
  readonly method: string;
  /** The XMPP condition or stream error that ended the try (also attacker-influenced). */
  readonly reason: string;
}

/** Longer strings are cut: a client picks its user name, and 50 of them are kept in memory. */
export const MAX_FIELD_CHARS = 256;

function cut(value: string): string {
  if (value.length <= MAX_FIELD_CHARS) return value;
  // Don't split a surrogate pair: a lone surrogate is not valid XML or UTF-8.
  let end = MAX_FIELD_CHARS - 1;
  const code = value.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end -= 1;
  return `${value.slice(0, end)}…`;
}

export class RecentLoginFailures {
  private readonly ring: (LoginFailure | undefined)[];
  /** Where the next record goes; the oldest entry once the ring is full. */
  private next = 0;
  private count = 0;

  /** `capacity` 0 keeps nothing (the page then shows no failures). */
  constructor(readonly capacity = 50) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`capacity must be a whole number >= 0, not ${capacity}`);
    this.ring = new Array<LoginFailure | undefined>(capacity);
  }

  /** Keeps a copy (cut to MAX_FIELD_CHARS per field), dropping the oldest when full. */
  record(f: LoginFailure): void {
    if (this.capacity === 0) return;
    const copy: LoginFailure = {
      at: new Date(f.at.getTime()),
      transport: cut(f.transport),
      remoteAddress: cut(f.remoteAddress),
      method: cut(f.method),
      reason: cut(f.reason),
      ...(f.dialect !== undefined ? { dialect: cut(f.dialect) } : {}),
      ...(f.user !== undefined ? { user: cut(f.user) } : {}),
    };
    this.ring[this.next] = Object.freeze(copy);
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Newest first (in the order recorded, not by `at`). */
  list(): LoginFailure[] {
    const out: LoginFailure[] = [];
    for (let i = 1; i <= this.count; i++) {
      const entry = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (entry !== undefined) out.push(entry);
    }
    return out;
  }
}
