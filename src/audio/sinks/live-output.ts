import { realClock, type Clock } from '../../clock.js';
import { describeError } from '../../errors.js';
import type { AudioFrame, AudioSink } from '../frame.js';
import { Backoff, type BackoffOptions, type DeviceStatus } from '../backoff.js';
import { PacedSink, type PlayedListener } from './paced.js';

/** Where a satellite's share of the reply goes (e.g. its WebSocket). */
export interface RemoteTarget {
  send(samples: Int16Array): void;
  /** Drop whatever the client still has queued. */
  clear(): void;
}

/** A target made routable with LiveOutput.attachRemote(); detach() takes the route back if it is current. */
export interface RemoteRoute extends RemoteTarget {
  detach(): void;
}

export type OutputStatus = DeviceStatus;

export interface LiveOutputOptions {
  clock?: Clock;
  /** Opens the speaker (e.g. openSpeakerSink); omitted = no local speaker. */
  openLocal?: () => Promise<AudioSink>;
  backoff?: BackoffOptions;
  onStatus?: (status: OutputStatus) => void;
  /** How long a write waits for the speaker's first opening before it plays silently. Default 1000 ms. */
  openWaitMs?: number;
}

/**
 * The assistant's one loudspeaker for a long unattended run. Audio goes to the routed satellite
 * (paced on the clock and forwarded as it plays), else to the local speaker; when there is none or
 * it fails, to a silent paced sink, so replies still take their real time, while the speaker is
 * reopened with backoff in the background.
 *
 * Switching sinks cuts what the old one still had queued. playedMs adds up across switches, so it
 * only grows.
 */
export class LiveOutput implements AudioSink {
  private readonly clock: Clock;
  private readonly openLocal: (() => Promise<AudioSink>) | undefined;
  private readonly onStatus: ((status: OutputStatus) => void) | undefined;
  private readonly openWaitMs: number;
  private readonly backoff: Backoff;
  private readonly listeners = new Set<PlayedListener>();
  private readonly silent: PacedSink;
  private localSink: AudioSink | null = null;
  private opening: Promise<void> | null = null;
  private retryTimer: { handle: unknown } | null = null;
  private target: RemoteTarget | null = null;
  private remoteSink: PacedSink | null = null;
  private current: AudioSink;
  /** playedMs = base + current.playedMs - origin: what earlier sinks played, plus the current one's share. */
  private base = 0;
  private origin = 0;
  private statusValue: OutputStatus;
  private closed = false;

  constructor(options: LiveOutputOptions = {}) {
    this.clock = options.clock ?? realClock;
    this.openLocal = options.openLocal;
    this.onStatus = options.onStatus;
    this.openWaitMs = options.openWaitMs ?? 1000;
    this.backoff = new Backoff(options.backoff);
    this.silent = this.pacedSink(null);
    this.current = this.silent;
    this.statusValue = this.openLocal ? { local: 'starting' } : { local: 'absent' };
    if (!this.openLocal) this.onStatus?.(this.statusValue);
    // Opened in the background right away, so the first reply does not wait for the device probe.
    this.open();
  }

  get status(): OutputStatus {
    return this.statusValue;
  }

  get playedMs(): number {
    return this.base + this.current.playedMs - this.origin;
  }

  /** The remote target audio goes to, or null for the local speaker. */
  get routed(): RemoteTarget | null {
    return this.target;
  }

  /** Tells `listener` about audio played on the paced sinks (remote and silent; the real speaker does not report). */
  onPlayed(listener: PlayedListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Wraps a satellite's playback so it can be routed to and detached. */
  attachRemote(target: RemoteTarget): RemoteRoute {
    const route: RemoteRoute = {
      send: (samples) => target.send(samples),
      clear: () => target.clear(),
      detach: () => {
        if (this.target === route) this.route(null);
      },
    };
    return route;
  }

  /** Sends audio to `target` from now on (null: the local speaker); what the previous route had queued is cut. */
  route(target: RemoteTarget | null): void {
    if (this.closed || target === this.target) return;
    const previous = this.target;
    this.target = target;
    this.remoteSink = target ? this.pacedSink(target) : null;
    if (previous) safely(() => previous.clear());
    this.select();
  }

  async write(frame: AudioFrame): Promise<void> {
    if (this.closed) throw new Error('the live output is closed');
    if (this.statusValue.local === 'starting' && this.opening) await this.waitForOpening();
    const sink = this.select();
    try {
      await sink.write(frame);
    } catch (error) {
      if (sink !== this.localSink || this.closed) throw error;
      this.localFailed(error);
      await this.select().write(frame);
    }
  }

  async drain(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const sink = this.select();
      try {
        await sink.drain(signal);
      } catch (error) {
        if (sink !== this.localSink || this.closed) throw error;
        this.localFailed(error);
        return;
      }
      // A route switch while draining cut that sink: what is queued now is on the new one.
      if (signal?.aborted || this.closed || sink === this.current) return;
    }
  }

  clear(): { playedMs: number } {
    this.current.clear();
    const target = this.target;
    if (target) safely(() => target.clear());
    return { playedMs: this.playedMs };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer.handle);
    this.retryTimer = null;
    const sinks = new Set<AudioSink>([this.current, this.silent]);
    if (this.localSink) sinks.add(this.localSink);
    if (this.remoteSink) sinks.add(this.remoteSink);
    this.localSink = null;
    this.remoteSink = null;
    await Promise.allSettled([...sinks].map((sink) => sink.close()));
  }

  /** Switches to the sink audio should go to now and returns it. */
  private select(): AudioSink {
    let next = this.remoteSink ?? this.localSink ?? this.silent;
    const previous = this.current;
    // A recovered speaker takes over once the silent stand-in has played out, not mid-sentence.
    if (previous === this.silent && next === this.localSink && this.silent.queuedMs > 0) next = previous;
    if (next === previous) return next;
    previous.clear();
    this.base = this.playedMs;
    this.current = next;
    this.origin = next.playedMs;
    // Remote sinks live as long as their route.
    if (previous instanceof PacedSink && previous !== this.silent && previous !== this.remoteSink) void previous.close();
    return next;
  }

  private pacedSink(target: RemoteTarget | null): PacedSink {
    const sink = new PacedSink({
      clock: this.clock,
      // A client that went away must not fail playback: its session notices and detaches it.
      ...(target ? { output: (frame: AudioFrame) => safely(() => target.send(frame.samples)) } : {}),
    });
    sink.onPlayed((samples, atMs) => {
      for (const listener of [...this.listeners]) listener(samples, atMs);
    });
    return sink;
  }

  private open(): void {
    const openLocal = this.openLocal;
    if (!openLocal || this.closed || this.opening || this.localSink) return;
    this.opening = (async () => {
      let sink: AudioSink;
      try {
        sink = await openLocal();
      } catch (error) {
        this.opening = null;
        if (!this.closed) this.retryLater(error);
        return;
      }
      this.opening = null;
      if (this.closed) {
        await sink.close().catch(() => undefined);
        return;
      }
      this.localSink = sink;
      // A speaker that reports what it played feeds the echo gate and the echo canceller like the paced sinks do.
      (sink as Partial<Pick<PacedSink, 'onPlayed'>>).onPlayed?.((samples, atMs) => {
        if (this.localSink !== sink) return;
        for (const listener of [...this.listeners]) listener(samples, atMs);
      });
      this.backoff.healthy(this.clock.now());
      this.setStatus({ local: 'running' });
    })();
  }

  private async waitForOpening(): Promise<void> {
    const timeout = new AbortController();
    await Promise.race([this.opening, this.clock.sleep(this.openWaitMs, timeout.signal).catch(() => undefined)]);
    timeout.abort();
  }

  private localFailed(error: unknown): void {
    const sink = this.localSink;
    this.localSink = null;
    this.select();
    if (sink) void sink.close().catch(() => undefined);
    this.retryLater(error);
  }

  private retryLater(error: unknown): void {
    const retryInMs = this.backoff.failed(this.clock.now());
    this.setStatus({ local: 'retrying', error: describeError(error), retryInMs });
    this.retryTimer = {
      handle: this.clock.setTimeout(() => {
        this.retryTimer = null;
        this.open();
      }, retryInMs),
    };
  }

  private setStatus(status: OutputStatus): void {
    this.statusValue = status;
    const onStatus = this.onStatus;
    if (onStatus) safely(() => onStatus(status));
  }
}

/** Runs a callback whose failure must not stop playback (a client that went away, a broken listener). */
function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // ignored on purpose
  }
}
