import { openSession } from '../onnx.js';
import { WakeWordDetector, type WakeHit, type WakeScores } from './detector.js';
import { BLOCK_SAMPLES, WakeFeatures } from './features.js';
import { WakeHead } from './head.js';

export { WakeWordDetector, type WakeHit, type WakeScores } from './detector.js';
export { BLOCK_SAMPLES } from './features.js';

export interface WakeModelPaths {
  melspectrogram: string;
  embedding: string;
  heads: { keyword: string; path: string; threshold: number }[];
}

export interface WakeWordOptions {
  refractoryMs: number;
  smoothing: number;
  onScores?: (scores: WakeScores) => void;
}

/** Loads the shared feature models once and every head beside them. */
export async function createWakeWordDetector(paths: WakeModelPaths, options: WakeWordOptions): Promise<WakeWordDetector> {
  const [mel, embedding, ...heads] = await Promise.all([
    openSession(paths.melspectrogram, 'wake-word feature model melspectrogram'),
    openSession(paths.embedding, 'wake-word feature model embedding'),
    ...paths.heads.map((h) => openSession(h.path, `wake-word model ${h.keyword}`)),
  ]);
  const features = await WakeFeatures.create(mel!, embedding!, paths.embedding);
  const loaded = await Promise.all(paths.heads.map((h, i) => WakeHead.create(h.keyword, heads[i]!)));
  return new WakeWordDetector(
    features,
    loaded.map((head, i) => ({
      head,
      threshold: paths.heads[i]!.threshold,
      refractoryMs: options.refractoryMs,
      smoothing: options.smoothing,
    })),
    options.onScores,
  );
}

/**
 * Every detection in a whole recording, from a fresh start. One second of silence follows the
 * audio, as a live microphone would, so a phrase at the very end is still scored.
 */
export async function detectInRecording(detector: WakeWordDetector, samples: Int16Array, tailMs = 1000): Promise<WakeHit[]> {
  detector.reset();
  const hits: WakeHit[] = [];
  const chunk = BLOCK_SAMPLES * 50;
  const padded = new Int16Array(samples.length + (tailMs * 16_000) / 1000);
  padded.set(samples);
  for (let offset = 0; offset < padded.length; offset += chunk) {
    hits.push(...(await detector.process({ samples: padded.subarray(offset, offset + chunk), sampleRate: 16_000, timestampMs: 0 })));
  }
  return hits;
}
