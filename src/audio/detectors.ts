import { basename } from 'node:path';
import type { Config } from '../config/index.js';
import { resolveModel } from '../models/store.js';
import { VoiceActivityDetector, type VadOptions } from './vad/index.js';
import { createWakeWordDetector, type WakeScores, type WakeWordDetector } from './wakeword/index.js';

/** hey_jarvis, or my_word for a custom head at ./heads/my_word_v0.2.onnx */
export function keywordOf(model: string): string {
  return basename(model).replace(/\.onnx$/i, '').replace(/_v\d+(\.\d+)*$/, '');
}

/** Resolves the configured heads (names or .onnx paths) and loads them on one feature pipeline. */
export async function loadWakeWordDetector(
  settings: Config['wakeword'],
  modelsDir: string,
  options: { cwd?: string; onScores?: (scores: WakeScores) => void } = {},
): Promise<WakeWordDetector> {
  const resolve = (name: string) => resolveModel(name, modelsDir, { cwd: options.cwd });
  const [melspectrogram, embedding, ...headPaths] = await Promise.all([
    resolve('melspectrogram'),
    resolve('embedding'),
    ...settings.models.map(resolve),
  ]);
  const heads = settings.models.map((model, i) => {
    const keyword = keywordOf(model);
    return { keyword, path: headPaths[i]!, threshold: settings.thresholds[keyword] ?? settings.threshold };
  });
  return createWakeWordDetector(
    { melspectrogram: melspectrogram!, embedding: embedding!, heads },
    { refractoryMs: settings.refractoryMs, smoothing: settings.smoothing, onScores: options.onScores },
  );
}

export async function loadVoiceActivityDetector(settings: VadOptions, modelsDir: string): Promise<VoiceActivityDetector> {
  return VoiceActivityDetector.load(await resolveModel('silero_vad', modelsDir), settings);
}

/**
 * The VAD that listens for the user talking over a reply, on the echo-cancelled microphone: speech must last
 * bargeInMinMs; after a second of silence it forgets the canceller's residue it has heard, so a short "stop" is
 * scored as at the start of a stream; and windows under −70 dBFS are silence (Silero took a −80 dBFS residue of
 * the echo's onset for speech; people talking over a reply are 30 dB and more above that). Measured by
 * npm run bench:aec: 119 of 120 interruptions taken instead of 109, false barge-ins unchanged (0.7 per 10 min).
 */
export async function loadBargeInVoiceActivityDetector(config: Pick<Config, 'vad' | 'conversation'>, modelsDir: string): Promise<VoiceActivityDetector> {
  const settings = { ...config.vad, minSpeechMs: config.conversation.bargeInMinMs, forgetAfterSilenceMs: 1000, silentBelowDbfs: -70 };
  return loadVoiceActivityDetector(settings, modelsDir);
}
