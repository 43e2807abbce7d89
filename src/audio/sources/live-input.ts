import { ABORTED, untilAborted } from '../../abort.js';
import { realClock, type Clock } from '../../clock.js';
import { AudioDeviceError, AudioFormatError, describeError } from '../../errors.js';
import { Backoff, type BackoffOptions, type DeviceStatus } from '../backoff.js';
import { durationMs, PIPELINE_RATE, type AudioFrame, type AudioSource } from '../frame.js';

export type { DeviceStatus } from '../backoff.js';
export type InputStatus = DeviceStatus;

/** A satellite microphone: PCM pushed as it arrives from the network. */
export interface RemoteFeed {
  /** Queues 16 kHz mono samples (any length); false when older buffered audio had to be dropped, or the feed is closed. */
  push(samples: Int16Array): boolean;
  /** No more audio; what is buffered is still released. */
  close(): void;
  /** True while this feed is the input (see LiveInput). */
  readonly active: boolean;
}

/** Which input the assistant hears: the local microphone, a satellite, or nothing. */
export type ActiveInput = 'local' | RemoteFeed | null;

export interface LiveInputOptions {
  clock?: Clock;
  /** The microphone; absent = no local input. */
  local?: AudioSource;
  backoff?: BackoffOptions;
  /** A feed that pushed within this long is streaming (and is the input). Default 500 ms. */
  remoteHoldMs?: number;
  /** Samples per frame released from remote feeds. Default 1280 (80 ms). */
  frameSamples?: number;
  /** Audio a remote feed may have waiting; the oldest beyond it is dropped. Default 10000 ms. */
  maxRemoteBufferMs?: number;
  onStatus?: (status: InputStatus) => void;
}

/**
 * A just-captured local frame that starts more than this after the previous one ends is late: audio
 * is missing and the timeline jumps to the clock. It has to exceed the recorder's delivery bursts
 * (arecord hands over ~125 ms at a time) so ordinary jitter does not punch holes in the timeline.
 */
const GAP_MS = 200;

/** Where the current run of the local source has got to on the stream timeline. */
interface LocalTimeline {
  end: number | null;
  /** The last frame came late enough to mean a gap in the audio, unless a backlog follows it. */
  suspectGap: boolean;
}

class Feed implements RemoteFeed {
  chunks: Int16Array[] = [];
  buffered = 0;
  lastPushAt = Number.NEGATIVE_INFINITY;
  startedAt = 0;
  closed = false;
  /** Stream time the next released frame continues from; null before the first. */
  nextTs: number | null = null;
  /** The buffer ran dry: the next frame may start at the clock again (back-dated by what is buffered). */
  anchor = true;

  constructor(private readonly owner: { push(feed: Feed, samples: Int16Array): boolean; close(feed: Feed): void; isActive(feed: Feed): boolean }) {}

  get active(): boolean {
    return this.owner.isActive(this);
  }

  push(samples: Int16Array): boolean {
    return this.owner.push(this, samples);
  }

  close(): void {
    this.owner.close(this);
  }

  append(samples: Int16Array): void {
    this.chunks.push(samples);
    this.buffered += samples.length;
  }

  /** Removes and returns the oldest `n` samples (n ≤ buffered). */
  take(n: number): Int16Array {
    const out = new Int16Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0]!;
      const part = Math.min(head.length, n - filled);
      out.set(head.subarray(0, part), filled);
      if (part === head.length) this.chunks.shift();
      else this.chunks[0] = head.subarray(part);
      filled += part;
    }
    this.buffered -= n;
    return out;
  }

  drop(): void {
    this.chunks = [];
    this.buffered = 0;
  }
}

/**
 * The assistant's one microphone stream for a long unattended run: the local microphone, kept
 * alive through failures (restarted with backoff), and remote satellites that push audio over the
 * network and take over while they stream.
 *
 * Timestamps are on the clock's timeline since frames() started, so AudioHub can map clock time to
 * stream time: they increase without overlap, jump forward after a gap in the input, and a frame
 * is never released before the clock reaches its end (sources faster than real time are paced).
 */
export class LiveInput implements AudioSource {
  private readonly clock: Clock;
  private readonly local: AudioSource | undefined;
  private readonly backoffOptions: BackoffOptions;
  private readonly holdMs: number;
  private readonly frameSamples: number;
  private readonly maxRemoteSamples: number;
  private readonly onStatus: ((status: InputStatus) => void) | undefined;
  private readonly feeds = new Set<Feed>();
  private readonly activeListeners = new Set<(active: ActiveInput) => void>();
  private activeFeed: Feed | null = null;
  private statusValue: InputStatus;
  private reported = false;
  private started = false;
  private running = false;
  /** Clock time of stream time 0. */
  private origin = 0;
  /** End (stream ms) of the last frame released; null before the first. */
  private lastEnd: number | null = null;
  private queue: AudioFrame[] = [];
  private wake: (() => void) | null = null;
  private remoteTimer: { handle: unknown } | null = null;

  constructor(options: LiveInputOptions = {}) {
    this.clock = options.clock ?? realClock;
    this.local = options.local;
    this.backoffOptions = options.backoff ?? {};
    new Backoff(this.backoffOptions); // validates
    this.holdMs = options.remoteHoldMs ?? 500;
    this.frameSamples = options.frameSamples ?? 1280;
    const maxBufferMs = options.maxRemoteBufferMs ?? 10_000;
    if (!(this.holdMs > 0)) throw new RangeError(`remoteHoldMs must be positive, got ${this.holdMs}`);
    if (!Number.isInteger(this.frameSamples) || this.frameSamples <= 0) throw new RangeError(`frameSamples must be a positive integer, got ${this.frameSamples}`);
    this.maxRemoteSamples = Math.round((maxBufferMs * PIPELINE_RATE) / 1000);
    if (!(this.maxRemoteSamples >= this.frameSamples)) throw new RangeError(`maxRemoteBufferMs must hold at least one frame, got ${maxBufferMs}`);
    this.onStatus = options.onStatus;
    this.statusValue = this.local ? { local: 'starting' } : { local: 'absent' };
  }

  get status(): InputStatus {
    return this.statusValue;
  }

  /** The input being heard now. */
  get active(): ActiveInput {
    return this.activeFeed ?? (this.local ? 'local' : null);
  }

  /** Tells `listener` whenever the active input changes. Returns the unsubscribe function. */
  onActiveChange(listener: (active: ActiveInput) => void): () => void {
    this.activeListeners.add(listener);
    return () => {
      this.activeListeners.delete(listener);
    };
  }

  /**
   * A new satellite microphone. While a feed has pushed audio within remoteHoldMs (or still has
   * some buffered) it is the input and local frames are dropped; when several stream, the one that
   * started last wins and the others' audio is dropped.
   */
  attachRemote(): RemoteFeed {
    const feed = new Feed({
      push: (f, samples) => this.pushed(f, samples),
      close: (f) => this.closeFeed(f),
      isActive: (f) => this.activeFeed === f,
    });
    this.feeds.add(feed);
    return feed;
  }

  /** The one live stream; ends only when the signal aborts (or the consumer stops). Call it once. */
  async *frames(signal: AbortSignal): AsyncGenerator<AudioFrame, void, undefined> {
    if (this.started) throw new Error('LiveInput.frames() can only be iterated once');
    this.started = true;
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) stop.abort();
    const wakeUp = (): void => this.notify();
    stop.signal.addEventListener('abort', wakeUp, { once: true });
    this.origin = this.clock.now();
    this.running = true;
    this.setStatus(this.statusValue);
    if (this.local) void this.pumpLocal(this.local, stop.signal);
    this.pumpRemote();
    try {
      while (!stop.signal.aborted) {
        const frame = this.queue.shift();
        if (frame) {
          yield frame;
          continue;
        }
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } finally {
      stop.abort();
      signal.removeEventListener('abort', onAbort);
      this.running = false;
      this.queue = [];
      this.clearRemoteTimer();
    }
  }

  // Local microphone

  /** Runs the local source until `signal` aborts, restarting it after every failure. Never rejects. */
  private async pumpLocal(local: AudioSource, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(this.backoffOptions);
    while (!signal.aborted) {
      let error: unknown = new AudioDeviceError('the microphone stopped delivering audio');
      try {
        await this.runLocal(local, signal, backoff);
      } catch (err) {
        error = err;
      }
      if (signal.aborted) return;
      const retryInMs = backoff.failed(this.clock.now());
      this.setStatus({ local: 'retrying', error: describeError(error), retryInMs });
      try {
        await this.clock.sleep(retryInMs, signal);
      } catch {
        return;
      }
    }
  }

  /** One run of the local source: resolves when it ends or the signal aborts, throws what it throws. */
  private async runLocal(local: AudioSource, signal: AbortSignal, backoff: Backoff): Promise<void> {
    const iterator = local.frames(signal)[Symbol.asyncIterator]();
    const timeline: LocalTimeline = { end: null, suspectGap: false };
    try {
      for (;;) {
        const askedAt = this.clock.now();
        // A source that does not notice the abort must not keep the run alive.
        const step = await untilAborted(iterator.next(), signal);
        if (step === ABORTED || step.done) return;
        const frame = step.value;
        if (frame.sampleRate !== PIPELINE_RATE) {
          throw new AudioFormatError(`the microphone delivered ${frame.sampleRate} Hz audio; ${PIPELINE_RATE} Hz is needed`);
        }
        if (frame.samples.length === 0) continue;
        backoff.healthy(this.clock.now());
        this.setStatus({ local: 'running' });
        // A frame we had to wait most of its duration for was just captured; one that was ready at
        // once comes from a backlog or from a source faster than real time.
        const fresh = this.clock.now() - askedAt >= 0.75 * durationMs(frame.samples.length);
        await this.acceptLocal(frame.samples, fresh, timeline, signal);
        if (signal.aborted) return;
      }
    } finally {
      iterator.return?.()?.catch(() => undefined);
    }
  }

  /**
   * Places a local frame on the run's own timeline (continuous, jumping to the clock after a
   * gap), waits until the clock reaches its end, then releases it unless a satellite is the input.
   */
  private async acceptLocal(input: Int16Array, fresh: boolean, timeline: LocalTimeline, signal: AbortSignal): Promise<void> {
    let samples = input;
    const now = this.streamNow();
    const late = fresh && timeline.end !== null && now - durationMs(samples.length) - timeline.end > GAP_MS;
    let ts: number;
    // One late frame may be the head of a backlog (the recorder or this process was held up): the
    // frames right behind it would then be stamped ahead of the clock and held back for good. Only
    // a second late frame in a row proves that audio is missing, and the timeline jumps then.
    if (timeline.end === null || (late && timeline.suspectGap)) {
      ts = Math.max(now - durationMs(samples.length), this.lastEnd ?? 0);
    } else {
      ts = timeline.end;
    }
    timeline.suspectGap = late;
    // A device clock a little faster than ours would pile up delay for ever (pacing holds frames back);
    // a just-captured frame that is slightly ahead loses its first sample instead (at most one per frame).
    const lead = ts + durationMs(samples.length) - now;
    if (fresh && lead > 0 && lead <= durationMs(samples.length) / 2 && samples.length > 1) samples = samples.subarray(1);
    timeline.end = ts + durationMs(samples.length);
    const wait = timeline.end - this.streamNow();
    if (wait > 0) {
      try {
        await this.clock.sleep(wait, signal);
      } catch {
        return;
      }
    }
    if (this.activeFeed) return; // the satellite is the microphone
    // Audio a satellite delivered for the same moment wins: cut the overlap.
    const overlap = (this.lastEnd ?? 0) - ts;
    if (overlap > 0) {
      const skip = Math.ceil((overlap * PIPELINE_RATE) / 1000);
      if (skip >= samples.length) return;
      samples = samples.subarray(skip);
      ts += durationMs(skip);
    }
    this.emit(samples, ts);
  }

  // Remote feeds

  private pushed(feed: Feed, samples: Int16Array): boolean {
    if (feed.closed) return false;
    if (samples.length === 0) return true;
    const now = this.clock.now();
    if (now - feed.lastPushAt >= this.holdMs) {
      feed.startedAt = now;
      if (this.activeFeed !== feed) this.setActiveFeed(feed);
    }
    feed.lastPushAt = now;
    if (this.activeFeed !== feed) return true; // another satellite is talking
    if (feed.buffered < this.frameSamples) feed.anchor = true;
    feed.append(samples.slice());
    let kept = true;
    const excess = feed.buffered - this.maxRemoteSamples;
    if (excess > 0) {
      feed.take(excess);
      kept = false;
    }
    this.pumpRemote();
    return kept;
  }

  private closeFeed(feed: Feed): void {
    if (feed.closed) return;
    feed.closed = true;
    if (this.activeFeed === feed) this.pumpRemote();
    else this.feeds.delete(feed);
  }

  /** Releases the active feed's due frames and arms the timer for the next one (or for its hold to expire). */
  private pumpRemote(): void {
    this.clearRemoteTimer();
    if (!this.running) return;
    const now = this.clock.now();
    this.refreshActive(now);
    const feed = this.activeFeed;
    if (!feed) return;
    const streaming = !feed.closed && now - feed.lastPushAt < this.holdMs;
    let wakeAt = streaming ? feed.lastPushAt + this.holdMs : Number.POSITIVE_INFINITY;
    for (;;) {
      // While the feed streams, frames are whole; once it stops, the tail goes out as it is.
      const n = feed.buffered >= this.frameSamples ? this.frameSamples : streaming ? 0 : feed.buffered;
      if (n === 0) break;
      const streamNow = now - this.origin;
      let ts = Math.max(feed.nextTs ?? Number.NEGATIVE_INFINITY, this.lastEnd ?? 0);
      // After running dry the feed starts again at the clock: what it pushed was captured up to now.
      if (feed.anchor) ts = Math.max(ts, streamNow - Math.min(durationMs(feed.buffered), this.holdMs));
      feed.anchor = false;
      feed.nextTs = ts;
      const end = ts + durationMs(n);
      if (end > streamNow) {
        wakeAt = Math.min(wakeAt, this.origin + end);
        break;
      }
      this.emit(feed.take(n), ts);
      feed.nextTs = end;
    }
    if (feed.buffered === 0 && !streaming) {
      this.refreshActive(now);
      if (this.activeFeed !== feed) return this.pumpRemote();
    }
    if (Number.isFinite(wakeAt)) {
      this.remoteTimer = { handle: this.clock.setTimeout(() => this.pumpRemote(), Math.max(0, wakeAt - now)) };
    }
  }

  /** Keeps the active feed while it streams or has audio left; else the latest-started streaming feed, or none. */
  private refreshActive(now: number): void {
    const current = this.activeFeed;
    if (current && (current.buffered > 0 || (!current.closed && now - current.lastPushAt < this.holdMs))) return;
    if (current?.closed) this.feeds.delete(current);
    let next: Feed | null = null;
    for (const feed of this.feeds) {
      if (feed.closed || now - feed.lastPushAt >= this.holdMs) continue;
      if (!next || feed.startedAt > next.startedAt) next = feed;
    }
    this.setActiveFeed(next);
  }

  private setActiveFeed(feed: Feed | null): void {
    const previous = this.activeFeed;
    if (previous === feed) return;
    if (previous) {
      previous.drop();
      previous.nextTs = null;
      previous.anchor = true;
      if (previous.closed) this.feeds.delete(previous);
    }
    this.activeFeed = feed;
    const active = this.active;
    for (const listener of [...this.activeListeners]) listener(active);
  }

  private clearRemoteTimer(): void {
    if (!this.remoteTimer) return;
    this.clock.clearTimeout(this.remoteTimer.handle);
    this.remoteTimer = null;
  }

  // Output

  private streamNow(): number {
    return this.clock.now() - this.origin;
  }

  private emit(samples: Int16Array, ts: number): void {
    const timestampMs = Math.max(ts, this.lastEnd ?? 0);
    this.lastEnd = timestampMs + durationMs(samples.length);
    this.queue.push({ samples, sampleRate: PIPELINE_RATE, timestampMs });
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private setStatus(status: InputStatus): void {
    const changed = status.local === 'retrying' || status.local !== this.statusValue.local;
    this.statusValue = status;
    // The first report (from frames()) goes out even when unchanged, so listeners learn the starting state.
    if (changed || !this.reported) {
      this.reported = true;
      try {
        this.onStatus?.(status);
      } catch {
        // A broken status listener must not stop the microphone.
      }
    }
  }
}
