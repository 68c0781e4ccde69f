/**
 * How stream output is framed for one kind of Flash client. Raw mode (flash.net.Socket): plain
 * XML, never a NUL (shared/spec/flash-clients.md, "Raw mode"). NUL mode (XMLSocket) comes with
 * its own framing; the session code is the same for both.
 */
import { streamHeader, STREAM_CLOSE, type HeaderFields } from '../xmpp/stream-header.js';

export interface ClientFraming {
  readonly mode: 'raw' | 'nul';
  /** The opening stream header sent to the client. */
  header(fields: HeaderFields): string;
  /** One top-level element, already serialized self-contained. */
  element(xml: string): string;
  /** The closing tag of the stream. */
  close(): string;
}

export const RAW_FRAMING: ClientFraming = {
  mode: 'raw',
  header: (fields) => streamHeader(fields),
  element: (xml) => xml,
  close: () => STREAM_CLOSE,
};
