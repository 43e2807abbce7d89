import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRuntime, openSession } from '../../src/audio/onnx.js';
import { readWav } from '../../src/audio/wav.js';
import { StreamingEmbedder, WindowEmbedder } from '../../src/audio/wakeword/embedders.js';
import { BLOCK_SAMPLES, WakeFeatures } from '../../src/audio/wakeword/features.js';
import { concat, phrase, sharedModelsDir, silence } from '../helpers/fixtures.js';

const melPath = join(sharedModelsDir, 'melspectrogram.onnx');
const embeddingPath = join(sharedModelsDir, 'embedding_model.onnx');

describe('the streaming rewiring of the embedding model', () => {
  it('is what the wake-word features use', async () => {
    const features = await WakeFeatures.create(await openSession(melPath, 'mel'), await openSession(embeddingPath, 'embedding'), embeddingPath);
    expect(features.streaming).toBe(true);
  });

  it('gives bit-identical embeddings to the published model on real speech, block by block', async () => {
    const ort = await loadRuntime();
    const window = new WindowEmbedder(ort, await openSession(embeddingPath, 'embedding'));
    const streaming = await StreamingEmbedder.open(ort, embeddingPath);
    const mel = await openSession(melPath, 'mel');
    const { samples } = await readWav(concat('streaming-emb', [silence(0.3), phrase('hey jarvis, run the tests', { engine: 'flite', voice: 'slt' }), silence(0.5)]));
    // both start from a window of ones, as upstream does
    const ones = new Float32Array(8 * 32).fill(1);
    for (let i = 0; i < 76; i += 8) await window.push(ones);
    const input = new Float32Array(480 + BLOCK_SAMPLES);
    let compared = 0;
    for (let offset = 0; offset + BLOCK_SAMPLES <= samples.length; offset += BLOCK_SAMPLES) {
      input.copyWithin(0, BLOCK_SAMPLES);
      for (let i = 0; i < BLOCK_SAMPLES; i++) input[480 + i] = samples[offset + i]!;
      const out = await mel.run({ [mel.inputNames[0]!]: new ort.Tensor('float32', input, [1, input.length]) });
      const rows = Float32Array.from(out[mel.outputNames[0]!]!.data as Float32Array, (v) => v / 10 + 2);
      const expected = await window.push(rows);
      const actual = await streaming.push(rows);
      expect(Array.from(actual)).toEqual(Array.from(expected));
      compared += 1;
    }
    expect(compared).toBeGreaterThan(20);
  });
});
