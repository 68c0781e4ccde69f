/**
 * The npm AMF package the bench compares our codecs with: `amfjs` (AMF0 and AMF3, both
 * directions, MIT, no dependencies). Its encoder and decoder read and write through a stream
 * object (`read(n)` / `write(buffer)`); the adapters below give it the cheapest possible ones —
 * a cursor over one Buffer and an array of chunks — so the figures are the codec's own, not a
 * Node stream's.
 */
import { createRequire } from 'node:module';

interface AmfjsType {
  readonly id: number;
}
interface AmfjsEncoder {
  writeObject(value: unknown, type: AmfjsType): void;
  encode(value: unknown, type: AmfjsType): void;
}
interface AmfjsDecoder {
  decode(type: AmfjsType): unknown;
}
interface Amfjs {
  AMF0: AmfjsType;
  AMF3: AmfjsType;
  AMFEncoder: new (writable: { write(chunk: Buffer): void }) => AmfjsEncoder;
  AMFDecoder: new (readable: { read(n: number): Buffer | null }) => AmfjsDecoder;
}

const require = createRequire(import.meta.url);
const amfjs = require('amfjs') as Amfjs;

/** The package's name and version, for the report. */
export const NPM_AMF_LABEL = `npm amfjs ${(require('amfjs/package.json') as { version: string }).version}`;

class ChunkSink {
  chunks: Buffer[] = [];
  write(chunk: Buffer): void {
    this.chunks.push(chunk);
  }
}

class BufferSource {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  read(n: number): Buffer | null {
    if (this.pos + n > this.buf.length) return null;
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
}

/** A command body in plain AMF0: every value in turn, one reference table. */
export function npmEncodeAmf0(values: readonly unknown[]): Buffer {
  const sink = new ChunkSink();
  const encoder = new amfjs.AMFEncoder(sink);
  for (const v of values) encoder.writeObject(v, amfjs.AMF0);
  return Buffer.concat(sink.chunks);
}

/** A command body of AMF0 values where each is switched to AMF3 (0x11 + AMF3), one context. */
export function npmEncodeAmf3Body(values: readonly unknown[]): Buffer {
  const sink = new ChunkSink();
  const encoder = new amfjs.AMFEncoder(sink);
  for (const v of values) encoder.encode(v, amfjs.AMF3);
  return Buffer.concat(sink.chunks);
}

/** Every value of an AMF0 body (0x11 switches to AMF3 for one value), until the bytes end. */
export function npmDecodeBody(bytes: Buffer): unknown[] {
  const source = new BufferSource(bytes);
  const decoder = new amfjs.AMFDecoder(source);
  const values: unknown[] = [];
  while (!source.done) values.push(decoder.decode(amfjs.AMF0));
  return values;
}
