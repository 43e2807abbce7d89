/**
 * npm run bench:frontend — cost and latency of the always-on front end (wake word + VAD).
 * Each configuration runs in a fresh child process so CPU time and peak RSS are its own.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadVoiceActivityDetector, loadWakeWordDetector } from '../src/audio/detectors.js';
import { readWav } from '../src/audio/wav.js';
import { configSchema } from '../src/config/schema.js';
import { negativeCorpus, wakeVoices, weakWakeVoices } from '../tests/helpers/corpus.js';
import { concat, phrase, sharedModelsDir, silence, type Voice } from '../tests/helpers/fixtures.js';
import { median, percentile, writeSection } from './results.js';

const FRAME = 320; // 20 ms, the size a microphone driver typically delivers
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const modelsDir = process.env.KAI_MODELS_DIR ?? sharedModelsDir;

type Setup = 'wake1' | 'wake4' | 'vad' | 'both';

interface CostResult {
  audioSeconds: number;
  cpuSeconds: number;
  maxRssMb: number;
}

/** Child: streams the corpus through one configuration, in real-time-sized frames, and reports costs. */
async function measureCost(setup: Setup): Promise<CostResult> {
  const config = configSchema.parse({ wakeword: { models: setup === 'wake4' ? ['hey_jarvis', 'alexa', 'hey_mycroft', 'hey_rhasspy'] : ['hey_jarvis'] } });
  const wake = setup === 'vad' ? undefined : await loadWakeWordDetector(config.wakeword, modelsDir);
  const vad = setup === 'wake1' || setup === 'wake4' ? undefined : await loadVoiceActivityDetector(config.vad, modelsDir);
  const { samples } = await readWav(negativeCorpus());
  const start = process.cpuUsage();
  for (let offset = 0; offset < samples.length; offset += FRAME) {
    const frame = { samples: samples.subarray(offset, offset + FRAME), sampleRate: 16_000, timestampMs: (offset * 1000) / 16_000 };
    if (wake) await wake.process(frame);
    if (vad) await vad.process(frame);
  }
  const used = process.cpuUsage(start);
  return {
    audioSeconds: samples.length / 16_000,
    cpuSeconds: (used.user + used.system) / 1e6,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

const latencyVoices: Voice[] = [...wakeVoices, ...weakWakeVoices.filter((v) => v.engine === 'flite')];

interface LatencyResult {
  positives: number;
  detected: number;
  latenciesMs: number[];
  misses: string[];
}

/**
 * Child: "hey jarvis" in several voices and positions, fed in 20 ms frames as a live microphone
 * would. Latency = when the frame that produced the detection was complete (audio time) minus
 * the end of the spoken phrase, plus the time spent processing that frame.
 */
async function measureLatency(): Promise<LatencyResult> {
  const config = configSchema.parse({});
  const wake = await loadWakeWordDetector(config.wakeword, modelsDir);
  const result: LatencyResult = { positives: 0, detected: 0, latenciesMs: [], misses: [] };
  for (const voice of latencyVoices) {
    for (const lead of [0.5, 1.37, 2.21]) {
      const wakeFile = phrase('hey jarvis', voice);
      const phraseEndMs = lead * 1000 + ((await readWav(wakeFile)).samples.length * 1000) / 16_000;
      const { samples } = await readWav(concat('bench-positive', [silence(lead), wakeFile, silence(0.6), phrase('what time is it', voice), silence(1)]));
      result.positives += 1;
      wake.reset();
      let latency: number | undefined;
      for (let offset = 0; offset < samples.length && latency === undefined; offset += FRAME) {
        const frame = samples.subarray(offset, offset + FRAME);
        const t0 = performance.now();
        const hits = await wake.process({ samples: frame, sampleRate: 16_000, timestampMs: 0 });
        const processingMs = performance.now() - t0;
        if (hits.length > 0) latency = ((offset + frame.length) * 1000) / 16_000 - phraseEndMs + processingMs;
      }
      if (latency === undefined) result.misses.push(`${voice.engine} ${voice.voice}${voice.speed ? `@${voice.speed}` : ''} at ${lead}s`);
      else {
        result.detected += 1;
        result.latenciesMs.push(latency);
      }
    }
  }
  return result;
}

function child<T>(mode: string): T {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', mode], {
    encoding: 'utf8',
    env: { ...process.env, KAI_MODELS_DIR: modelsDir },
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

async function main(): Promise<void> {
  const [flag, mode] = process.argv.slice(2);
  if (flag === '--child') {
    const result = mode === 'latency' ? await measureLatency() : await measureCost(mode as Setup);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  if (spawnSync('espeak-ng', ['--version']).status !== 0) throw new Error('espeak-ng is needed: apt-get install espeak-ng flite sox');
  negativeCorpus(); // synthesize fixtures once, outside the measured children
  const setups: { setup: Setup; label: string; target?: number }[] = [
    { setup: 'wake1', label: 'wake word, 1 head (hey_jarvis)', target: 0.02 },
    { setup: 'wake4', label: 'wake word, 4 heads' },
    { setup: 'vad', label: 'VAD (Silero v5)', target: 0.006 },
    { setup: 'both', label: 'wake word (1 head) + VAD', target: 0.03 },
  ];
  const rows: string[] = [];
  let bothRss: number[] = [];
  for (const { setup, label, target } of setups) {
    const runs: CostResult[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(child<CostResult>(setup));
    const perSecond = runs.map((r) => r.cpuSeconds / r.audioSeconds);
    if (setup === 'both') bothRss = runs.map((r) => r.maxRssMb);
    const m = median(perSecond);
    rows.push(
      `| ${label} | ${m.toFixed(4)} | ${Math.min(...perSecond).toFixed(4)}–${Math.max(...perSecond).toFixed(4)} | ${target === undefined ? '—' : `≤ ${target}${m <= target ? ' ✅' : ' ❌'}`} | ${median(runs.map((r) => r.maxRssMb)).toFixed(0)} |`,
    );
    process.stderr.write(`${label}: ${m.toFixed(4)} CPU s per audio s\n`);
  }
  const latency = child<LatencyResult>('latency');
  const lat = latency.latenciesMs;
  const audioSeconds = child<CostResult>('vad').audioSeconds;
  const rss = median(bothRss);
  const section = `## Front end (\`npm run bench:frontend\`)

Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}, onnxruntime-node with one intra-op thread.
Audio: ${audioSeconds.toFixed(0)} s of synthesized speech (espeak-ng, flite) and noise, fed in 20 ms frames. Each figure is the median of ${RUNS} runs, each in a fresh process.

| pipeline | CPU s per audio s (median) | range | target | peak RSS MB |
|---|---|---|---|---|
${rows.join('\n')}

Peak RSS of the wake word + VAD process: **${rss.toFixed(0)} MB** (target ≤ 150 MB ${rss <= 150 ? '✅' : '❌'}).

Detection latency (end of the spoken "hey jarvis" → detection event, 20 ms frames, including processing time) over ${latency.positives} synthesized positives (${latencyVoices.length} voices × 3 positions): detected ${latency.detected}/${latency.positives}; median **${median(lat).toFixed(0)} ms** (target ≤ 250 ms ${median(lat) <= 250 ? '✅' : '❌'}), p90 ${percentile(lat, 90).toFixed(0)} ms, min ${Math.min(...lat).toFixed(0)} ms, max ${Math.max(...lat).toFixed(0)} ms.
Missed: ${latency.misses.length ? latency.misses.join(', ') : 'none'}.
`;
  writeSection('frontend', section);
  process.stdout.write(section);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:frontend failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
