import WebSocket from 'ws';
import type { AudioFrame } from '../../audio/frame.js';
import type { SttEvent } from '../types.js';
import type { ClientMessage, RealtimeDialect } from './dialect.js';
import { PcmEncoder } from './encoder.js';
import { connectError, connectTimeoutError, droppedError, malformedError, serverError, socketError, stallError } from './errors.js';

export interface SessionOptions {
  url: URL;
  headers: Record<string, string>;
  dialect: RealtimeDialect;
  /** How long to wait for the final transcript after the end of speech. */
  timeoutMs: number;
  connectTimeoutMs: number;
}

/**
 * One utterance over one WebSocket. The socket opens and the audio starts flowing as soon as the
 * session is constructed; events queue until the consumer pulls them. Failures are stored, never
 * thrown from callbacks, so an unconsumed session cannot cause an unhandled rejection.
 */
export class RealtimeSession implements AsyncIterator<SttEvent>, AsyncIterable<SttEvent> {
  private readonly ws: WebSocket;
  private readonly encoder: PcmEncoder;
  private readonly events: SttEvent[] = [];
  /** Serialised messages waiting for the socket to open. */
  private readonly outbox: string[] = [];
  private failure: { error: unknown } | null = null;
  /** No more events will be queued: final received, failed, aborted or returned. */
  private settled = false;
  private opened = false;
  private audioEnded = false;
  private transcript = '';
  private wake: (() => void) | null = null;
  private connectTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private audioIterator: AsyncIterator<AudioFrame> | undefined;
  private readonly onAbort = () => this.finish('terminate');

  constructor(
    private readonly options: SessionOptions,
    audio: AsyncIterable<AudioFrame>,
    private readonly signal: AbortSignal,
  ) {
    this.encoder = new PcmEncoder(options.dialect.sampleRate);
    this.ws = new WebSocket(options.url, { headers: options.headers });
    // ws emits 'error' after we terminate a socket that is still connecting: always listen.
    this.ws.on('error', (err) => this.onSocketError(err));
    if (signal.aborted) {
      this.finish('terminate');
      return;
    }
    signal.addEventListener('abort', this.onAbort, { once: true });
    this.ws.on('open', () => this.onOpen());
    this.ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    this.ws.on('close', (code) => this.onClose(code));
    this.connectTimer = setTimeout(() => this.fail(connectTimeoutError(options.url, options.connectTimeoutMs)), options.connectTimeoutMs);
    void this.pump(audio);
  }

  [Symbol.asyncIterator](): AsyncIterator<SttEvent> {
    return this;
  }

  async next(): Promise<IteratorResult<SttEvent>> {
    for (;;) {
      const event = this.events.shift();
      if (event) return { value: event, done: false };
      if (this.failure) {
        const { error } = this.failure;
        this.failure = null;
        throw error;
      }
      if (this.settled) return { value: undefined, done: true };
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  async return(): Promise<IteratorResult<SttEvent>> {
    this.finish('terminate');
    this.events.length = 0;
    this.failure = null;
    return { value: undefined, done: true };
  }

  private async pump(audio: AsyncIterable<AudioFrame>): Promise<void> {
    try {
      const it = audio[Symbol.asyncIterator]();
      this.audioIterator = it;
      for (;;) {
        const step = await it.next();
        if (this.settled) return;
        if (step.done) break;
        if (step.value.samples.length > 0) this.sendAudio(this.encoder.encode(step.value));
      }
      this.sendAudio(this.encoder.flush());
      for (const message of this.options.dialect.closingMessages()) this.send(message);
      this.audioEnded = true;
      if (this.opened) this.startStallTimer();
    } catch (err) {
      // The audio source's own error (or a rate change) ends the utterance as it is.
      this.fail(err);
    }
  }

  private sendAudio(base64: string): void {
    if (base64 !== '') this.send(this.options.dialect.append(base64));
  }

  private send(message: ClientMessage): void {
    if (this.settled) return;
    const text = JSON.stringify(message);
    if (this.opened) this.ws.send(text);
    else this.outbox.push(text);
  }

  private onOpen(): void {
    if (this.settled) return;
    clearTimeout(this.connectTimer);
    this.opened = true;
    for (const message of this.options.dialect.openingMessages()) this.ws.send(JSON.stringify(message));
    for (const text of this.outbox.splice(0)) this.ws.send(text);
    if (this.audioEnded) this.startStallTimer();
  }

  private startStallTimer(): void {
    if (this.settled) return;
    const ms = this.options.timeoutMs;
    this.stallTimer = setTimeout(() => this.fail(stallError(ms)), ms);
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.settled) return;
    let message: unknown;
    try {
      if (isBinary) throw new Error('binary message');
      message = JSON.parse(rawText(data));
    } catch {
      this.fail(malformedError());
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) return;
    const event = this.options.dialect.read(message as Record<string, unknown>);
    switch (event.type) {
      case 'delta':
        this.transcript += event.text;
        this.push({ type: 'interim', text: this.transcript });
        return;
      case 'final':
        // Some servers leave the final text empty and expect it built from the deltas.
        this.push({ type: 'final', text: (event.text || this.transcript).trim() });
        this.finish('close');
        return;
      case 'speech_started':
      case 'speech_stopped':
        this.push({ type: event.type });
        return;
      case 'error':
        this.fail(serverError(event.message, event.retryable));
        return;
      case 'ignore':
        return;
    }
  }

  private onSocketError(err: Error): void {
    if (this.settled) return;
    this.fail(this.opened ? socketError(err) : connectError(err, this.options.url));
  }

  private onClose(code: number): void {
    if (this.settled) return;
    this.fail(this.opened ? droppedError(code) : connectError(new Error(`closed with code ${code}`), this.options.url));
  }

  private push(event: SttEvent): void {
    this.events.push(event);
    this.wakeUp();
  }

  private fail(error: unknown): void {
    if (this.settled) return;
    this.failure = { error };
    this.finish('terminate');
  }

  /** Stops everything: timers, the abort listener, the audio source and the socket. */
  private finish(how: 'close' | 'terminate'): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.connectTimer);
    clearTimeout(this.stallTimer);
    this.signal.removeEventListener('abort', this.onAbort);
    this.outbox.length = 0;
    if (how === 'close' && this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
    else this.ws.terminate();
    const it = this.audioIterator;
    if (it?.return) void Promise.resolve(it.return()).catch(() => undefined);
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

function rawText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return (Buffer.isBuffer(data) ? data : Buffer.from(data)).toString('utf8');
}
