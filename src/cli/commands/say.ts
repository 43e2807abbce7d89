import { resolve } from 'node:path';
import { createTts } from '../../app/engines.js';
import { PIPELINE_RATE, type AudioFrame } from '../../audio/frame.js';
import { openSpeakerSink } from '../../audio/sinks/speaker.js';
import { writeWav } from '../../audio/wav.js';
import { UsageError } from '../../errors.js';
import { sentences } from '../../speech/chunker.js';
import { parseCommandArgs, type Command } from '../command.js';
import { commandContext, configOption } from '../context.js';

const ENGINES = ['espeak', 'http'] as const;

const usage = `Usage: kai say TEXT [--engine NAME] [--out FILE.wav] [--config FILE]

Speaks TEXT with the text-to-speech engine through the speaker (audio.playbackDevice),
or writes it to a 16 kHz mono WAV file with --out. Longer text is split into sentences,
which are synthesized one after another, so the first one plays while the rest are made.
Several words without quotes are joined; "-" as TEXT reads the text from stdin.

Options:
  --engine NAME   espeak | http (default: tts.engine); the server URL, model, voice,
                  format and timeout come from config (tts.*)
  --out FILE.wav  write the speech to this file (replaced atomically) instead of playing it
  --config FILE   read this config file
  -h, --help      show this help

Prints how much speech was played or written. Errors (no speaker, a server that is down
or fails, an engine that is not configured) are one line on stderr, exit code 2.`;

/** The text as it arrives: the arguments at once, or stdin as it is read. */
async function* textSource(positionals: string[], stdin: NodeJS.ReadableStream): AsyncGenerator<string> {
  if (positionals.length === 1 && positionals[0] === '-') {
    const decoder = new TextDecoder();
    for await (const chunk of stdin as AsyncIterable<Buffer | string>) {
      yield typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    }
    yield decoder.decode();
    return;
  }
  yield positionals.join(' ');
}

export const command: Command = {
  name: 'say',
  summary: 'speak a text through the speaker, or write it to a WAV file',
  usage,

  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('say', argv, {
      engine: { type: 'string' },
      out: { type: 'string' },
      ...configOption,
    });
    if (positionals.length === 0) throw new UsageError('give the text to say (or - to read it from stdin); run: kai say --help');
    const fromStdin = positionals.length === 1 && positionals[0] === '-';
    if (!fromStdin && positionals.join(' ').trim() === '') throw new UsageError('the text to say is empty');
    const engine = values.engine;
    if (engine !== undefined && !(ENGINES as readonly string[]).includes(engine)) {
      throw new UsageError(`--engine must be one of ${ENGINES.join(', ')}, got "${engine}"`);
    }
    const { config } = commandContext(io, values.config, engine !== undefined ? { 'tts.engine': engine } : {});
    const tts = createTts(config);

    let spoken = 0;
    async function* spokenSentences(): AsyncGenerator<string> {
      for await (const sentence of sentences(textSource(positionals, io.stdin))) {
        if (sentence.trim() === '') continue;
        spoken += 1;
        yield sentence;
      }
    }
    const speech = tts.synthesize(spokenSentences(), io.signal);
    const noText = () => new UsageError(fromStdin ? 'no text to say on stdin' : 'the text to say has nothing speakable in it');

    if (values.out !== undefined) {
      const out = resolve(io.cwd, values.out);
      const parts: Int16Array[] = [];
      let length = 0;
      for await (const frame of speech) {
        const samples = at16k(frame);
        parts.push(samples);
        length += samples.length;
      }
      if (io.signal.aborted) return 130;
      if (spoken === 0) throw noText();
      const all = new Int16Array(length);
      let off = 0;
      for (const p of parts) {
        all.set(p, off);
        off += p.length;
      }
      await writeWav(out, all, PIPELINE_RATE);
      io.stdout.write(`wrote ${seconds(length)} s of speech to ${values.out}\n`);
      return 0;
    }

    const sink = await openSpeakerSink({ device: config.audio.playbackDevice });
    try {
      for await (const frame of speech) {
        if (io.signal.aborted) break;
        await sink.write(frame);
      }
      if (!io.signal.aborted) await sink.drain(io.signal);
    } finally {
      await sink.close();
    }
    const played = (sink.playedMs / 1000).toFixed(1);
    if (io.signal.aborted) {
      io.stderr.write(`stopped after ${played} s\n`);
      return 130;
    }
    if (spoken === 0) throw noText();
    io.stdout.write(`said ${played} s of speech\n`);
    return 0;
  },
};

const seconds = (samples: number) => (samples / PIPELINE_RATE).toFixed(1);

/** Engines promise 16 kHz frames; anything else would be a bug, not a user error. */
function at16k(frame: AudioFrame): Int16Array {
  if (frame.sampleRate !== PIPELINE_RATE) throw new Error(`the TTS engine produced ${frame.sampleRate} Hz audio, expected ${PIPELINE_RATE} Hz`);
  return frame.samples;
}
