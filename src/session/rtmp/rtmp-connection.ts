/**
 * One RTMP client: handshake, chunk stream, protocol control and NetConnection commands
 * (shared/spec/rtmp.md, "RTMP facts a server must honour"), with the XMPP call API on top
 * (xmpp-call-api.ts). It takes a ClientChannel, never a socket, so it serves any transport.
 */
import { decodeAmf0Values, encodeAmf0Values } from '../../codec/amf/amf0.js';
import { AmfError } from '../../codec/amf/errors.js';
import { amfObject, AmfEcmaArray, isAmfObject, type AmfValue } from '../../codec/amf/values.js';
import type { AmfLimits } from '../../codec/amf/amf3.js';
import { ChunkDecoder, type ChunkDecoderLimits, type RtmpMessage } from '../../codec/rtmp/chunk-decoder.js';
import { ChunkEncoder } from '../../codec/rtmp/chunk-encoder.js';
import { AckTracker, controlMessage, decodeControlMessage, MessageType, PeerBandwidthLimit, pingResponseFor } from '../../codec/rtmp/control.js';
import { RtmpError } from '../../codec/rtmp/errors.js';
import { ServerHandshake } from '../../codec/rtmp/handshake.js';
import type { Logger } from '../../log/logger.js';
import type { ClientChannel } from '../../transport/channel.js';
import { StanzaRateLimiter } from '../rate-limiter.js';
import { CallError, type CallPeer, type RtmpApplication } from './xmpp-call-api.js';
import type { ConnectionObserver } from '../../ops/observer.js';

export interface RtmpConnectionOptions {
  /** The application clients connect to: rtmp://host/APP. */
  readonly appName: string;
  readonly amfLimits: AmfLimits;
  readonly chunkLimits: ChunkDecoderLimits;
  /** A client silent this long is disconnected; pings go out at half of it. */
  readonly idleTimeoutMs: number;
  /** Time from connect to a completed handshake and NetConnection connect. */
  readonly connectTimeoutMs: number;
  /** The call dialects this connection answers, tried in order. */
  readonly createApplications: (peer: CallPeer) => RtmpApplication[];
  /** Calls per second a client may make, with a burst; over it, its input is paused. */
  readonly rateLimit: { readonly perSecond: number; readonly burst: number };
  /** Calls that may wait over the rate; one more closes the connection. */
  readonly maxPendingCalls: number;
  readonly log: Logger;
  /** Metrics: errors told to the client, by condition. */
  readonly observer?: ConnectionObserver;
}

/** Commands go on csid 3, as Flash Media Server does; control messages on csid 2. */
const COMMAND_CSID = 3;
/** What the server announces after connect (FMS's customary values). */
const WINDOW_ACK_SIZE = 2_500_000;
const OUTGOING_CHUNK_SIZE = 4096;

type State = 'handshake' | 'chunks' | 'connected' | 'closed';

/** A decoded command message: `values` is [name, txid, commandObject, ...args]. */
interface Call {
  readonly name: string;
  readonly txid: number;
  readonly values: AmfValue[];
}

export class RtmpConnection implements CallPeer {
  private state: State = 'handshake';
  private readonly handshake = new ServerHandshake();
  private readonly decoder: ChunkDecoder;
  private readonly encoder = new ChunkEncoder();
  private readonly acks = new AckTracker();
  private applications: RtmpApplication[] = [];
  private objectEncoding = 0;
  private readonly idleTimer: NodeJS.Timeout;
  private readonly pingTimer: NodeJS.Timeout;
  private readonly connectTimer: NodeJS.Timeout;
  private readonly log: Logger;
  private readonly started = Date.now();
  private readonly closedHandlers: (() => void)[] = [];
  private readonly rate: StanzaRateLimiter;
  /** Calls over the client's rate, waiting for tokens, in order. */
  private rateQueue: Call[] = [];
  private rateTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly channel: ClientChannel,
    private readonly options: RtmpConnectionOptions,
  ) {
    this.log = options.log;
    this.decoder = new ChunkDecoder(options.chunkLimits);
    this.rate = new StanzaRateLimiter(options.rateLimit.perSecond, options.rateLimit.burst);
    this.idleTimer = setTimeout(() => this.close(`no traffic for ${options.idleTimeoutMs / 1000} s`), options.idleTimeoutMs);
    this.pingTimer = setInterval(() => this.ping(), Math.max(1000, options.idleTimeoutMs / 2));
    this.connectTimer = setTimeout(() => this.close('no NetConnection connect in time'), options.connectTimeoutMs);
    for (const timer of [this.idleTimer, this.pingTimer, this.connectTimer]) timer.unref();
    channel.start({ data: (chunk) => this.receive(chunk), closed: () => this.closed() });
  }

  receive(bytes: Buffer): void {
    if (this.state === 'closed') return;
    this.idleTimer.refresh();
    try {
      const sequence = this.acks.received(bytes.length);
      if (this.state === 'handshake') {
        const step = this.handshake.push(bytes);
        if (step.reply) this.channel.write(step.reply);
        if (!step.done) return;
        this.state = 'chunks';
        this.log.debug({ form: this.handshake.form }, 'RTMP handshake done');
        if (step.rest) this.decoder.write(step.rest, (m) => this.message(m));
      } else {
        this.decoder.write(bytes, (m) => this.message(m));
      }
      // §5.4.3: acknowledge every window of bytes received.
      if (sequence !== undefined) this.sendControl({ type: 'acknowledgement', sequence });
    } catch (error) {
      this.fail(error);
    }
  }

  private fail(error: unknown): void {
    if (error instanceof RtmpError || error instanceof AmfError) {
      this.log.info({ code: error.code }, `RTMP protocol error: ${error.message}`);
      this.options.observer?.errorSent(error.code);
      this.close(error.message);
      return;
    }
    this.log.error({ err: error }, 'RTMP session error');
    this.options.observer?.errorSent('internal-server-error');
    this.close('internal error');
  }

  private message(message: RtmpMessage): void {
    // The rest of a read after the connection was closed (e.g. over the call rate).
    if (this.state === 'closed') return;
    const control = decodeControlMessage(message.typeId, message.payload);
    if (control) {
      // Set Chunk Size and Abort are applied by the decoder itself.
      if (control.type === 'window-ack-size') this.acks.setWindowSize(control.size);
      if (control.type === 'user-control') {
        const pong = pingResponseFor(control.event);
        if (pong) this.sendControl({ type: 'user-control', event: pong });
      }
      return;
    }
    if (message.typeId === MessageType.CommandAmf0) {
      this.limit(callOf(decodeAmf0Values(message.payload, this.options.amfLimits)));
    } else if (message.typeId === MessageType.CommandAmf3) {
      // Type 17: a format byte (0), then AMF0 whose values may switch to AMF3 (0x11).
      if (message.payload[0] !== 0) throw new RtmpError('bad-message', 'an AMF3 command must start with a 0 byte');
      this.limit(callOf(decodeAmf0Values(message.payload.subarray(1), this.options.amfLimits)));
    }
    // Audio, video and data messages have no meaning here: ignored.
  }

  /**
   * Per-client rate limit, as XMPP sessions have: every call but `connect` takes a token. Over
   * the rate, calls wait their turn in order while the input is paused (TCP backpressure does
   * the rest); more than maxPendingCalls waiting closes the connection. Calls are decoded (and
   * malformed ones refused) before they queue, so protocol errors still close at once.
   * Calls also wait, the same way, while an app's XMPP server has not read what was sent
   * (backpressure: the gateway never buffers what a server does not read).
   */
  private limit(call: Call): void {
    if (this.rateQueue.length === 0 && !this.whenWritable() && (call.name === 'connect' || this.rate.tryTake() === 0)) {
      this.command(call);
      return;
    }
    if (this.rateQueue.length >= this.options.maxPendingCalls) {
      const reason = `policy-violation: more than ${this.options.rateLimit.perSecond} calls per second, and ${this.options.maxPendingCalls} waiting`;
      this.log.info({ code: 'policy-violation', method: call.name }, `RTMP call rate exceeded: ${reason}`);
      this.options.observer?.errorSent('policy-violation');
      this.close(reason);
      return;
    }
    this.rateQueue.push(call);
    if (this.rateQueue.length === 1) {
      this.channel.pause();
      this.drainRateQueue();
    }
  }

  private drainRateQueue(): void {
    this.rateTimer = undefined;
    while (this.rateQueue.length > 0 && this.state !== 'closed') {
      const call = this.rateQueue[0] as Call;
      const writable = this.whenWritable();
      if (writable) {
        // Resolves on drain, or when the stream is gone (then the calls fail as not connected).
        void writable.then(() => this.drainRateQueue());
        return;
      }
      if (call.name !== 'connect') {
        const wait = this.rate.tryTake();
        if (wait > 0) {
          this.rateTimer = setTimeout(() => this.drainRateQueue(), wait);
          this.rateTimer.unref();
          return;
        }
      }
      this.rateQueue.shift();
      // Its input is paused, not silent: a client still being served is not idle.
      this.idleTimer.refresh();
      try {
        this.command(call);
      } catch (error) {
        // From a timer, not the decoder: end the connection here, never let it escape.
        this.fail(error);
        return;
      }
    }
    if (this.state !== 'closed') this.channel.resume();
  }

  /** Undefined when calls may go on; else resolves once every app's XMPP stream takes more. */
  private whenWritable(): Promise<void> | undefined {
    for (const application of this.applications) {
      const writable = application.whenWritable?.();
      if (writable) return writable;
    }
    return undefined;
  }

  private command(call: Call): void {
    const { name, txid, values } = call;
    const args = values.slice(3);
    const commandObject = values[2];
    if (name === 'connect') {
      this.connect(txid, commandObject);
      return;
    }
    if (this.state !== 'connected') {
      this.error(txid, 'NetConnection.Call.Failed', `call ${name} before connect`);
      this.close(`call ${name} before connect`);
      return;
    }
    if (name === 'close') {
      this.close('the client closed the NetConnection');
      return;
    }
    if (name === 'createStream') {
      // Harmless for clients that create a stream by habit; the API needs none.
      if (txid > 0) this.result(txid, 1);
      return;
    }
    for (const application of this.applications) {
      const pending = application.call(name, args, txid);
      if (pending) {
        this.answer(txid, name, pending);
        return;
      }
    }
    // A silent server would leave the client's responder waiting forever (rtmp.md).
    if (txid > 0) this.error(txid, 'NetConnection.Call.Failed', `unknown method ${name}`);
  }

  private answer(txid: number, name: string, pending: Promise<AmfValue>): void {
    pending.then(
      (value) => {
        if (txid > 0) this.result(txid, value);
      },
      (error: unknown) => {
        if (error instanceof CallError) {
          this.log.info({ method: name }, `call refused: ${error.message}`);
          this.options.observer?.errorSent('call-failed');
          if (txid > 0) this.error(txid, 'NetConnection.Call.Failed', error.message);
          return;
        }
        this.log.error({ err: error, method: name }, 'call failed');
        if (txid > 0) this.error(txid, 'NetConnection.Call.Failed', 'internal error');
      },
    );
  }

  /** NetConnection connect (rtmp.md "NetConnection"). */
  private connect(txid: number, commandObject: AmfValue): void {
    if (this.state === 'connected') {
      this.error(txid, 'NetConnection.Call.Failed', 'already connected');
      return;
    }
    const info = isAmfObject(commandObject) ? commandObject : amfObject();
    const app = typeof info['app'] === 'string' ? info['app'].split('?')[0]!.replace(/\/+$/, '') : '';
    const encoding = typeof info['objectEncoding'] === 'number' ? info['objectEncoding'] : 0;
    if (app !== this.options.appName) {
      this.sendCommand('_error', txid, null, [
        amfObject({
          level: 'error',
          code: 'NetConnection.Connect.Rejected',
          description: `unknown application "${app}": this gateway serves rtmp://host/${this.options.appName}`,
        }),
      ]);
      this.close(`unknown application ${app}`);
      return;
    }
    clearTimeout(this.connectTimer);
    this.objectEncoding = encoding === 3 ? 3 : 0;
    this.state = 'connected';
    this.sendControl({ type: 'window-ack-size', size: WINDOW_ACK_SIZE });
    this.sendControl({ type: 'set-peer-bandwidth', size: WINDOW_ACK_SIZE, limitType: PeerBandwidthLimit.Dynamic });
    // The encoder switches to the new chunk size itself once it has encoded this message.
    this.sendControl({ type: 'set-chunk-size', chunkSize: OUTGOING_CHUNK_SIZE });
    this.sendControl({ type: 'user-control', event: { kind: 'stream-begin', streamId: 0 } });
    this.sendCommand('_result', txid, amfObject({ fmsVer: 'FMS/3,5,7,7009', capabilities: 31, mode: 1 }), [
      amfObject({
        level: 'status',
        code: 'NetConnection.Connect.Success',
        description: 'Connection succeeded.',
        objectEncoding: this.objectEncoding,
        data: new AmfEcmaArray([['version', '3,5,7,7009']]),
      }),
    ]);
    this.applications = this.options.createApplications(this);
    this.log.info({ app, objectEncoding: this.objectEncoding, handshakeForm: this.handshake.form }, 'RTMP client connected');
  }

  // ---- output ----

  /** Server → client invocation, no answer wanted (transaction id 0). */
  invoke(method: string, args: AmfValue[]): void {
    this.sendCommand(method, 0, null, args);
  }

  private result(txid: number, value: AmfValue): void {
    this.sendCommand('_result', txid, null, [value]);
  }

  private error(txid: number, code: string, description: string): void {
    this.sendCommand('_error', txid, null, [amfObject({ level: 'error', code, description })]);
  }

  /** Replies go as plain AMF0 (type 20), which every client, librtmp included, reads (rtmp.md). */
  private sendCommand(name: string, txid: number, commandObject: AmfValue, args: AmfValue[]): void {
    if (this.state === 'closed') return;
    const payload = encodeAmf0Values([name, txid, commandObject, ...args]);
    this.write({ csid: COMMAND_CSID, timestamp: this.now(), typeId: MessageType.CommandAmf0, streamId: 0, payload });
  }

  private sendControl(message: Parameters<typeof controlMessage>[0]): void {
    this.write(controlMessage(message, this.now()));
  }

  private write(message: RtmpMessage): void {
    if (this.state === 'closed') return;
    this.channel.write(this.encoder.encode(message));
  }

  private now(): number {
    return (Date.now() - this.started) >>> 0;
  }

  private ping(): void {
    if (this.state === 'connected') this.sendControl({ type: 'user-control', event: { kind: 'ping-request', timestamp: this.now() } });
  }

  // ---- endings ----

  /** The gateway is stopping: every dialect tells its app, then the connection closes. */
  async shutdown(): Promise<void> {
    if (this.state === 'closed') return;
    await Promise.all(this.applications.map((a) => a.shutdown('system-shutdown')));
    this.close('the gateway is shutting down');
  }

  private close(reason: string): void {
    if (this.state === 'closed') return;
    this.log.info({ reason }, 'RTMP connection closed by the gateway');
    // The app's NetConnection hears why before the socket closes (NetStatusEvent).
    if (this.state === 'connected') {
      this.invoke('onStatus', [amfObject({ level: 'status', code: 'NetConnection.Connect.Closed', description: reason })]);
    }
    const paused = this.rateQueue.length > 0;
    this.stop();
    this.channel.end();
    // Read (and drop) what the client still sends, so its FIN is seen and the socket closes.
    if (paused) this.channel.resume();
  }

  private closed(): void {
    if (this.state !== 'closed') this.log.debug('RTMP connection closed');
    this.stop();
  }

  /** Runs once the connection is over, however it ended. */
  onClosed(handler: () => void): void {
    if (this.state === 'closed') handler();
    else this.closedHandlers.push(handler);
  }

  private stop(): void {
    if (this.state !== 'closed') for (const handler of this.closedHandlers.splice(0)) handler();
    this.state = 'closed';
    clearTimeout(this.idleTimer);
    clearInterval(this.pingTimer);
    clearTimeout(this.connectTimer);
    clearTimeout(this.rateTimer);
    this.rateQueue = [];
    for (const application of this.applications) application.dispose();
  }
}

function callOf(values: AmfValue[]): Call {
  const [name, txid] = values;
  if (typeof name !== 'string' || typeof txid !== 'number') throw new RtmpError('bad-message', 'a command needs a name and a transaction id');
  return { name, txid, values };
}
