/**
 * Client bytes into the stream parser, with the framing told apart per connection
 * (shared/spec/flash-clients.md, "NUL mode"): XMLSocket sends its stream header and a NUL in
 * one `send()`, so a NUL right after the header (or a stray one before it) means NUL mode; a
 * raw flash.net.Socket client never sends a NUL. The decision is made when the header is
 * complete; only when the header ends exactly at the end of a read does a short grace period
 * wait for a NUL split off into the next segment.
 */
import type { XmlStreamParser } from '../codec/xml/parser.js';
import { StreamError } from '../errors.js';

export type FramingMode = 'raw' | 'nul';

export class ClientInput {
  private decided: FramingMode | undefined;
  private grace: NodeJS.Timeout | undefined;

  constructor(
    private readonly parser: XmlStreamParser,
    private readonly graceMs: number,
    private readonly onDecided: (mode: FramingMode) => void,
  ) {}

  get mode(): FramingMode | undefined {
    return this.decided;
  }

  push(chunk: Buffer): void {
    if (this.decided === 'raw') {
      this.parser.write(chunk);
    } else if (this.decided === 'nul') {
      this.pushNul(chunk);
    } else {
      this.pushUndecided(chunk);
    }
  }

  private pushUndecided(chunk: Buffer): void {
    const nul = chunk.indexOf(0);
    if (nul < 0) {
      const hadHeader = this.parser.streamOpened;
      this.parser.write(chunk);
      if (!this.parser.streamOpened) return;
      if (hadHeader || !this.parser.atTopLevel || this.parser.elementCount > 0) {
        // Bytes after the header without a NUL: a raw client.
        this.decide('raw');
      } else if (!this.grace) {
        this.grace = setTimeout(() => this.decide('raw'), this.graceMs);
        this.grace.unref();
      }
      return;
    }
    if (nul > 0) this.parser.write(chunk.subarray(0, nul));
    if (this.parser.streamOpened && this.parser.elementCount > 0) {
      // Elements after the header with no NUL between them: a raw client; its NUL is an error.
      this.decide('raw');
      this.parser.write(chunk.subarray(nul));
      return;
    }
    if (!this.parser.atTopLevel) throw nulInsideElement();
    this.decide('nul');
    this.pushNul(chunk.subarray(nul + 1));
  }

  /** Every NUL ends an XMLSocket packet, which always ends between top-level elements. */
  private pushNul(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nul = chunk.indexOf(0, start);
      const end = nul < 0 ? chunk.length : nul;
      if (end > start) this.parser.write(chunk.subarray(start, end));
      if (nul < 0) return;
      if (!this.parser.atTopLevel) throw nulInsideElement();
      start = nul + 1;
    }
  }

  private decide(mode: FramingMode): void {
    if (this.decided) return;
    if (this.grace) clearTimeout(this.grace);
    this.grace = undefined;
    this.decided = mode;
    this.onDecided(mode);
  }

  dispose(): void {
    if (this.grace) clearTimeout(this.grace);
    this.grace = undefined;
  }
}

function nulInsideElement(): StreamError {
  return new StreamError('not-well-formed', 'a NUL byte inside an element: XMLSocket packets end between elements');
}
