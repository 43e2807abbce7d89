import type { RawData, WebSocket } from 'ws';
import type { ControlTarget, RemoteMicrophone, ServerEvent } from './control.js';
import { parseClientMessage, PROTOCOL_VERSION, type ClientMessage, type ErrorCode } from './protocol.js';
import { TokenBucket } from './rate-limit.js';

export interface SessionLimits {
  maxMessageBytes: number;
  messagesPerSecond: number;
}

/** Remote audio may arrive up to this many times faster than real time (catching up after a hiccup). */
const AUDIO_RATE_FACTOR = 4;
const AUDIO_BYTES_PER_SECOND = 16_000 * 2;
/** A client rejected this many times in a row for flooding is disconnected. */
const FLOOD_STRIKES = 20;
/** A client that does not read its messages is disconnected before it costs memory. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** One WebSocket client: parses and dispatches its messages, streams events and satellite audio. */
export class ControlSession {
  private readonly messages: TokenBucket;
  /** Bursts of up to 10 s (what the assistant buffers), then at most 4× real time. */
  private readonly audioBytes = new TokenBucket(AUDIO_BYTES_PER_SECOND * AUDIO_RATE_FACTOR, AUDIO_BYTES_PER_SECOND * 10);
  private strikes = 0;
  private microphone: RemoteMicrophone | null = null;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly socket: WebSocket,
    private readonly target: ControlTarget,
    private readonly limits: SessionLimits,
  ) {
    this.messages = new TokenBucket(limits.messagesPerSecond, limits.messagesPerSecond * 2);
    this.send({ type: 'welcome', protocol: PROTOCOL_VERSION, ...target.snapshot() });
    this.unsubscribe = target.subscribe((event) => this.send(event));
    socket.on('message', (data, isBinary) => this.receive(data, isBinary));
    socket.on('close', () => this.close());
    socket.on('error', () => this.close());
  }

  private receive(data: RawData, isBinary: boolean): void {
    const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (isBinary) return this.receiveAudio(bytes);
    if (!this.messages.take()) return this.flooded('rate_limited', `more than ${this.limits.messagesPerSecond} messages a second; slow down`);
    this.strikes = 0;
    if (bytes.length > this.limits.maxMessageBytes) {
      return this.error('too_large', `messages are limited to ${this.limits.maxMessageBytes} bytes`);
    }
    const parsed = parseClientMessage(bytes.toString('utf8'));
    if (!parsed.ok) return this.error(parsed.code, parsed.message, parsed.id);
    this.dispatch(parsed.message).catch((err: unknown) => this.error('bad_message', (err as Error).message, parsed.message.id));
  }

  private async dispatch(message: ClientMessage): Promise<void> {
    const ack = () => this.send({ type: 'ack', ...(message.id !== undefined ? { id: message.id } : {}) });
    switch (message.type) {
      case 'ptt':
        this.target.ptt(message.action);
        return ack();
      case 'cancel':
        this.target.cancel();
        return ack();
      case 'say':
        this.target.say(message.text);
        return ack();
      case 'approve':
      case 'deny':
        if (!this.target.answer(message.requestId, message.type === 'approve')) {
          return this.error('not_found', `no permission request ${message.requestId} is waiting for an answer`, message.id);
        }
        return ack();
      case 'job_cancel':
        if (!(await this.target.cancelJob(message.jobId))) {
          return this.error('not_found', `no job ${message.jobId} is queued or running`, message.id);
        }
        return ack();
      case 'audio_start':
        this.microphone?.close();
        this.microphone = this.target.attachMicrophone(
          message.playback
            ? {
                send: (samples) => this.sendBinary(samples),
                clear: () => this.send({ type: 'audio_clear' }),
              }
            : null,
        );
        return ack();
      case 'audio_stop':
        this.microphone?.close();
        this.microphone = null;
        return ack();
      case 'ping':
        return this.send({ type: 'pong', ...(message.id !== undefined ? { id: message.id } : {}) });
    }
  }

  private receiveAudio(bytes: Buffer): void {
    if (!this.microphone) return this.error('bad_audio', 'send audio_start before streaming audio');
    if (bytes.length % 2 !== 0) return this.error('bad_audio', 'audio frames must be whole 16-bit samples (an even number of bytes)');
    if (!this.audioBytes.take(bytes.length)) return this.flooded('rate_limited', 'audio arrives much faster than real time; send 16 kHz s16le in real time');
    this.strikes = 0;
    // Copy: the buffer may be a view into a pooled allocation with any alignment.
    const samples = new Int16Array(bytes.length / 2);
    Buffer.from(samples.buffer).set(bytes);
    if (!this.microphone.push(samples)) this.error('bad_audio', 'audio is arriving faster than it is played; some was dropped');
  }

  private flooded(code: ErrorCode, message: string): void {
    this.strikes += 1;
    if (this.strikes === 1) this.error(code, message);
    if (this.strikes >= FLOOD_STRIKES) this.socket.close(1008, 'rate limit exceeded');
  }

  private error(code: ErrorCode, message: string, id?: string): void {
    this.send({ type: 'error', code, message, ...(id !== undefined ? { id } : {}) });
  }

  private send(event: ServerEvent): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    if (this.socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.socket.terminate();
      return;
    }
    this.socket.send(JSON.stringify({ t: Math.round(this.target.now()), ...event }));
  }

  private sendBinary(samples: Int16Array): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength), { binary: true });
  }

  private close(): void {
    this.unsubscribe();
    this.microphone?.close();
    this.microphone = null;
  }
}
