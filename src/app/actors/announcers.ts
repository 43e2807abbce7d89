import { fromPromise } from 'xstate';
import { earcon, type EarconKind } from '../../audio/earcons.js';
import { PIPELINE_RATE, recognizerFrame, type AudioFrame } from '../../audio/frame.js';
import type { ConfirmationAnswer, ConfirmationInput } from '../../states/machine.js';
import type { Runtime } from '../runtime.js';
import { streamNow } from '../runtime.js';

/** wake: the wake earcon, done once it has played. */
export function wakeEarcon(rt: Runtime) {
  return fromPromise<void, { turn: number }>(async ({ signal }) => {
    if (rt.settings.earcons) await play(rt, 'wake', signal);
  });
}

/**
 * error: says what went wrong in one short sentence, or beeps when even speech fails. The same
 * failure again (a server still down) only beeps, until a reply gets through.
 */
export function errorAnnouncer(rt: Runtime) {
  return fromPromise<void, { source: string; message: string }>(async ({ input, signal }) => {
    rt.emit({ type: 'error', source: input.source, message: input.message }, streamNow(rt));
    const key = `${input.source}: ${input.message}`;
    const repeated = rt.outages.has(key);
    rt.outages.add(key);
    if (repeated) {
      if (rt.settings.earcons) await play(rt, 'error', signal).catch(() => {});
      return;
    }
    try {
      await say(rt, spokenError(input.message), signal);
    } catch {
      if (!signal.aborted && rt.settings.earcons) await play(rt, 'error', signal).catch(() => {});
    }
  });
}

/**
 * think.confirm: asks the question, then hears one answer within `listenMs`; anything but a
 * clear yes is no, and no answer at all is a timeout.
 */
export function confirmation(rt: Runtime) {
  return fromPromise<ConfirmationAnswer, ConfirmationInput>(async ({ input, signal }) => {
    await say(rt, input.prompt, signal);
    rt.vad.reset();
    const window = new AbortController();
    const timer = rt.clock.setTimeout(() => window.abort(), input.listenMs); // the runtime's clock: simulations run faster
    const listening = AbortSignal.any([signal, window.signal]);
    const answer: AudioFrame[] = [];
    let heardSpeech = false;
    try {
      for await (const frame of rt.hub.frames(listening)) {
        answer.push(recognizerFrame(frame));
        const events = await rt.vad.process(frame);
        if (!heardSpeech && events.some((e) => e.type === 'speech_start')) {
          heardSpeech = true;
          rt.clock.clearTimeout(timer); // they are answering: let them finish
        }
        if (heardSpeech && events.some((e) => e.type === 'speech_end')) break;
      }
    } catch (err) {
      if (signal.aborted) throw err;
    } finally {
      rt.clock.clearTimeout(timer);
    }
    if (signal.aborted) return 'no';
    if (!heardSpeech) return 'timeout';
    let text = '';
    for await (const event of rt.confirmStt.transcribe(iterate(answer), signal)) if (event.type === 'final') text = event.text;
    rt.emit({ type: 'transcript', final: true, text }, streamNow(rt));
    return isYes(text) ? 'yes' : 'no';
  });
}

export function isYes(text: string): boolean {
  return /^(yes|yeah|yep|sure|ok|okay|do it|go ahead)\b/i.test(text.trim());
}

/** "could not reach the LLM server at http://…" → something short to say out loud. */
export function spokenError(message: string): string {
  const first = message
    .split(/[;(]/)[0]!
    .replace(/\s*\b(at|from|to)?\s*(wss?|https?):\/\/\S+/g, '')
    .replace(/\s+/g, ' ')
    .trim();
  return `Sorry, ${first.replace(/^[A-Z]/, (c) => c.toLowerCase())}.`;
}

async function say(rt: Runtime, text: string, signal: AbortSignal): Promise<void> {
  const generation = rt.speaker.open();
  for await (const frame of rt.tts.synthesize(iterate([text]), signal)) {
    if (!(await rt.speaker.write(frame, generation))) return;
  }
  await rt.speaker.drain(signal);
}

async function play(rt: Runtime, kind: EarconKind, signal: AbortSignal): Promise<void> {
  const generation = rt.speaker.open();
  await rt.speaker.write({ samples: earcon(kind), sampleRate: PIPELINE_RATE, timestampMs: 0 }, generation);
  await rt.speaker.drain(signal);
}

async function* iterate<T>(items: T[]): AsyncIterable<T> {
  yield* items;
}
