import type { AudioFrame } from '../frame.js';
import { Rechunker } from '../rechunk.js';
import { BLOCK_SAMPLES, WakeFeatures } from './features.js';
import type { WakeHead } from './head.js';
import { OnsetTracker } from './onset.js';
import { WakeTrigger, type TriggerOptions } from './trigger.js';

export interface WakeHit {
  keyword: string;
  score: number;
  /** Estimated start of the wake phrase on the stream's timeline. */
  startMs: number;
  /** End of the 80 ms block whose score crossed the threshold. */
  endMs: number;
}

export interface WakeScores {
  /** End of the block these scores belong to. */
  endMs: number;
  scores: Record<string, number>;
}

export interface HeadOptions extends TriggerOptions {
  head: WakeHead;
}

/**
 * openWakeWord on a stream: any number of heads on one shared feature pipeline. Frames of
 * any size go in; audio is scored in fixed 80 ms blocks.
 */
export class WakeWordDetector {
  private readonly blocks = new Rechunker(BLOCK_SAMPLES);
  private originMs: number | undefined;
  private readonly onset = new OnsetTracker();
  private readonly heads: { head: WakeHead; trigger: WakeTrigger }[];

  constructor(
    private readonly features: WakeFeatures,
    heads: HeadOptions[],
    /** Called with every block's raw scores (for meters, logs and tests). */
    private readonly onScores?: (scores: WakeScores) => void,
  ) {
    this.heads = heads.map(({ head, ...trigger }) => ({ head, trigger: new WakeTrigger(trigger) }));
    this.reset();
  }

  get keywords(): string[] {
    return this.heads.map((h) => h.head.keyword);
  }

  reset(): void {
    this.features.reset();
    for (const { head, trigger } of this.heads) {
      head.reset(this.features.primedEmbeddings);
      trigger.reset();
    }
    this.onset.reset();
    this.blocks.reset();
    this.originMs = undefined;
  }

  async process(frame: AudioFrame): Promise<WakeHit[]> {
    this.originMs ??= frame.timestampMs;
    const hits: WakeHit[] = [];
    const blocks = this.blocks.push(frame.samples);
    let blockEnd = this.blocks.position - blocks.length * BLOCK_SAMPLES;
    for (const block of blocks) {
      blockEnd += BLOCK_SAMPLES;
      hits.push(...(await this.scoreBlock(block, blockEnd)));
    }
    return hits;
  }

  private async scoreBlock(block: Int16Array, blockEndSample: number): Promise<WakeHit[]> {
    this.onset.push(block);
    const embedding = await this.features.push(block);
    const streamMs = (blockEndSample * 1000) / 16_000;
    const endMs = (this.originMs ?? 0) + streamMs;
    const hits: WakeHit[] = [];
    const scores: Record<string, number> = {};
    for (const { head, trigger } of this.heads) {
      const score = await head.score(embedding);
      scores[head.keyword] = score;
      const fired = trigger.push(score, streamMs);
      if (fired !== null) {
        const startMs = (this.originMs ?? 0) + this.onset.estimateStartMs(streamMs);
        hits.push({ keyword: head.keyword, score: fired, startMs, endMs });
      }
    }
    this.onScores?.({ endMs, scores });
    return hits;
  }
}
