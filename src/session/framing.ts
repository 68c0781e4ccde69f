/**
 * How stream output is framed for one client (shared/spec/flash-clients.md). Raw mode
 * (flash.net.Socket): plain XML, never a NUL. NUL mode (XMLSocket): one top-level element per
 * packet, each followed by one NUL. The header mirrors the client's: `flash:stream` clients get
 * Openfire's form (left open, `xmlns:flash` declared), `stream:stream` clients the standard one,
 * self-closed when theirs was (such a client parses each packet alone).
 */
import { NS } from '../codec/xml/element.js';
import { escapeAttr } from '../codec/xml/serializer.js';
import type { HeaderFields } from '../xmpp/stream-header.js';
import type { FramingMode } from './client-input.js';

export interface ClientFraming {
  readonly mode: FramingMode;
  /** The opening stream header sent to the client. */
  header(fields: HeaderFields): string;
  /** One top-level element, already serialized self-contained. */
  element(xml: string): string;
  /** The closing tag of the stream. */
  close(): string;
}

export interface ClientDialect {
  readonly mode: FramingMode;
  /** The client's own header: `flash:stream` or `stream:stream`. */
  readonly flashHeader: boolean;
  readonly selfClosedHeader: boolean;
}

function fieldAttrs(fields: HeaderFields): string {
  let out = '';
  if (fields.from !== undefined) out += ` from="${escapeAttr(fields.from)}"`;
  if (fields.id !== undefined) out += ` id="${escapeAttr(fields.id)}"`;
  out += ` xml:lang="${escapeAttr(fields.lang ?? 'en')}"`;
  if (fields.version !== undefined) out += ` version="${escapeAttr(fields.version)}"`;
  return out;
}

const DECL = `<?xml version='1.0' encoding='UTF-8'?>`;

export function framingFor(dialect: ClientDialect): ClientFraming {
  const terminator = dialect.mode === 'nul' ? '\0' : '';
  const name = dialect.flashHeader ? 'flash:stream' : 'stream:stream';
  const selfClose = dialect.mode === 'nul' && !dialect.flashHeader && dialect.selfClosedHeader;
  const declarations = dialect.flashHeader
    ? `xmlns:flash="${NS.flash}" xmlns:stream="${NS.stream}" xmlns="${NS.client}"`
    : `xmlns="${NS.client}" xmlns:stream="${NS.stream}"`;
  return {
    mode: dialect.mode,
    header: (fields) => `${DECL}<${name} ${declarations}${fieldAttrs(fields)}${selfClose ? '/' : ''}>${terminator}`,
    element: (xml) => xml + terminator,
    close: () => `</${name}>${terminator}`,
  };
}

/** Before the client's header is known: errors go out in raw form (nothing better is known). */
export const UNKNOWN_CLIENT_FRAMING = framingFor({ mode: 'raw', flashHeader: false, selfClosedHeader: false });
