/**
 * Opening and closing stream tags and stream errors, written as strings because a stream
 * header is never a complete element (RFC 6120 §4.7).
 */
import { NS } from '../codec/xml/element.js';
import { escapeAttr, escapeText } from '../codec/xml/serializer.js';
import type { StreamErrorCondition } from '../errors.js';

export interface HeaderFields {
  readonly to?: string | undefined;
  readonly from?: string | undefined;
  readonly id?: string | undefined;
  readonly lang?: string | undefined;
  readonly version?: string | undefined;
}

function attrs(fields: HeaderFields): string {
  let out = '';
  if (fields.from !== undefined) out += ` from="${escapeAttr(fields.from)}"`;
  if (fields.to !== undefined) out += ` to="${escapeAttr(fields.to)}"`;
  if (fields.id !== undefined) out += ` id="${escapeAttr(fields.id)}"`;
  if (fields.lang !== undefined) out += ` xml:lang="${escapeAttr(fields.lang)}"`;
  if (fields.version !== undefined) out += ` version="${escapeAttr(fields.version)}"`;
  return out;
}

/** `<?xml?><stream:stream …>` left open, as RFC 6120 §4.7 and every Flash raw client expect. */
export function streamHeader(fields: HeaderFields): string {
  return `<?xml version='1.0' encoding='UTF-8'?><stream:stream xmlns="${NS.client}" xmlns:stream="${NS.stream}"${attrs(fields)}>`;
}

export const STREAM_CLOSE = '</stream:stream>';

/** A stream error that parses on its own: the `stream` prefix is declared on it. */
export function streamErrorXml(condition: StreamErrorCondition, text?: string): string {
  const body = text === undefined ? '' : `<text xmlns="${NS.streams}" xml:lang="en">${escapeText(text)}</text>`;
  return `<stream:error xmlns:stream="${NS.stream}"><${condition} xmlns="${NS.streams}"/>${body}</stream:error>`;
}
