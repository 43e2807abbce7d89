import { basename } from 'node:path';
import type { Config } from '../config/index.js';
import { resolveModel } from '../models/store.js';
import { VoiceActivityDetector } from './vad/index.js';
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

export async function loadVoiceActivityDetector(settings: Config['vad'], modelsDir: string): Promise<VoiceActivityDetector> {
  return VoiceActivityDetector.load(await resolveModel('silero_vad', modelsDir), settings);
}
