import { concat, phrase, silence, soxCached, type Voice } from './fixtures.js';

/** Ordinary speech and near misses that must never wake the assistant. */
export const otherSpeech = [
  'hey travis, can you pass me the jar of pickles',
  'I think the build is broken again on the main branch',
  'run the tests in the api package and tell me what failed',
  'hey marvin, the service is down',
  'harvey went to the garden to water the carrots',
  'the server returned a five hundred error at noon',
  'please commit the changes and push them to the remote',
  'how many days until the release, she asked',
  'hey there, are you coming to the meeting',
  'a jarring noise came from the car park',
  'open the pull request and add a reviewer',
  'the weather is nice today, lets go for a walk',
  'what is the status of the deployment in production',
  'the garbage truck comes every tuesday morning',
];

export const negativeVoices: Voice[] = [
  { engine: 'espeak', voice: 'en-us' },
  { engine: 'espeak', voice: 'en-gb+f3' },
  { engine: 'flite', voice: 'slt' },
  { engine: 'flite', voice: 'awb' },
];

/** About 75 s of other speech in several voices, then 25 s of noise, all at 16 kHz mono. */
export function negativeCorpus(): string {
  const speech = otherSpeech.map((text, i) => phrase(text, negativeVoices[i % negativeVoices.length]!));
  const gap = silence(0.4);
  const parts = speech.flatMap((p) => [p, gap]);
  const noise = (kind: string, seconds: number, volume: number) =>
    soxCached(`noise-${kind}`, ['-n', '-r', '16000', '-c', '1', '-b', '16', '$OUT', 'synth', String(seconds), kind, 'vol', String(volume)]);
  const again = otherSpeech.map((text, i) => phrase(text, negativeVoices[(i + 1) % negativeVoices.length]!));
  return concat('negative-corpus', [
    ...parts,
    ...again.flatMap((p) => [p, gap]),
    noise('pinknoise', 8, 0.3),
    noise('whitenoise', 6, 0.1),
    noise('brownnoise', 6, 0.5),
    soxCached('sweep', ['-n', '-r', '16000', '-c', '1', '-b', '16', '$OUT', 'synth', '5', 'sine', '100-7000', 'vol', '0.3']),
  ]);
}

/** Voices the pretrained head hears at every position (measured; see bench/RESULTS.md). */
export const wakeVoices: Voice[] = [
  { engine: 'espeak', voice: 'en-us' },
  { engine: 'espeak', voice: 'en-gb' },
  { engine: 'espeak', voice: 'en-us+f3' },
  { engine: 'espeak', voice: 'en-us+m3' },
  { engine: 'espeak', voice: 'en-gb-scotland' },
  { engine: 'espeak', voice: 'en-us', speed: 140 },
  { engine: 'flite', voice: 'slt' },
  { engine: 'flite', voice: 'rms' },
  { engine: 'flite', voice: 'kal16' },
];
/** Voices it misses at some positions: reported, not hidden by a lower threshold. */
export const weakWakeVoices: Voice[] = [
  { engine: 'espeak', voice: 'en-us', speed: 220 },
  { engine: 'flite', voice: 'awb' },
];
