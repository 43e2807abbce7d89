import { fromCallback } from 'xstate';
import { heardPart, type AgentOutput } from '../../agent/agent.js';
import { durationMs } from '../../audio/frame.js';
import { sentences } from '../../speech/chunker.js';
import type { ReplyCommand } from '../../states/events.js';
import type { ReplyInput } from '../../states/machine.js';
import { prefetch } from '../async-queue.js';
import type { TurnMetrics } from '../metrics.js';
import { streamNow, type Runtime } from '../runtime.js';
import { reportFailure } from './report.js';

interface SpokenSentence {
  text: string;
  audioMs: number;
}

/**
 * think + speak: the agent's reply, sentence by sentence through TTS to the speaker while the
 * agent is still writing. Stopping it (barge-in, cancel) cuts playback at once, aborts the agent
 * and TTS requests, and records only what the user heard.
 */
export function reply(rt: Runtime) {
  return fromCallback<ReplyCommand, ReplyInput>(({ input, sendBack, receive }) => {
    const controller = new AbortController();
    const { signal } = controller;
    const metrics = rt.turns.get(input.turn);
    if (!metrics.transcript) metrics.transcript = input.transcript; // typed input has no recognizer to set it
    const now = () => streamNow(rt);
    let generation = rt.speaker.open();
    const spoken: SpokenSentence[] = [];
    let answerConfirmation: ((answer: { approved: boolean; timedOut: boolean }) => void) | null = null;
    let finished = false;
    let failed = false;

    receive((command) => {
      if (command.type !== 'CONFIRMED') return;
      // The question was spoken in a speaker generation of its own; the rest of the reply gets a new one
      // (the old one is no longer current, so its writes would be dropped and the reply never finish).
      if (answerConfirmation && !signal.aborted) generation = rt.speaker.open();
      answerConfirmation?.(command);
      answerConfirmation = null;
    });

    // No answer in time rejects, so the audit log says "timeout" rather than that the user said no.
    const confirm = (prompt: string) =>
      new Promise<boolean>((resolve, reject) => {
        answerConfirmation = ({ approved, timedOut }) => (timedOut ? reject(new Error('no answer in time')) : resolve(approved));
        sendBack({ type: 'CONFIRM_REQUEST', prompt });
      });

    const finish = (heardText: string, interrupted: boolean) => {
      finished = true;
      const fullText = spoken.map((s) => s.text).join(' ');
      metrics.heardText = heardText;
      metrics.interrupted = interrupted;
      rt.agent.commitReply(input.turn, { fullText, heardText, interrupted });
      if (fullText) rt.emit({ type: 'assistant', text: fullText }, now());
      return fullText;
    };

    (async () => {
      metrics.mark('llmRequest', now());
      const outputs = input.announcement ? announce(input.announcement) : rt.agent.respond(input.transcript, { turn: input.turn, signal, confirm });
      const { items, failure } = prefetch(sentences(textOf(outputs, rt, metrics)), signal);
      for await (const sentence of items) {
        const entry: SpokenSentence = { text: sentence, audioMs: 0 };
        spoken.push(entry);
        metrics.mark('ttsFirstText', now());
        for await (const frame of rt.tts.synthesize(once(sentence), signal)) {
          metrics.mark('ttsFirstAudio', now());
          if (signal.aborted || !rt.speaker.isCurrent(generation)) return;
          if (!metrics.has('firstAudioWritten')) {
            metrics.mark('firstAudioWritten', now());
            sendBack({ type: 'AUDIO_STARTED' });
          }
          entry.audioMs += durationMs(frame.samples.length, frame.sampleRate);
          if (!(await rt.speaker.write(frame, generation))) return;
        }
      }
      await failure;
      await rt.speaker.drain(signal);
      if (signal.aborted) return;
      const text = finish(spoken.map((s) => s.text).join(' '), false);
      sendBack({ type: 'REPLY_DONE', askedQuestion: /\?["')\]]*$/.test(text.trim()) });
    })().catch((err: unknown) => {
      failed = !signal.aborted;
      reportFailure(sendBack, signal, 'agent')(err);
    });

    return () => {
      if (finished) return;
      controller.abort();
      const { playedMs } = rt.speaker.cut();
      metrics.mark('playbackStopped', now());
      // Stopped from outside: the user cut in (barge-in, cancel) — unless the reply itself failed.
      finish(heardText(spoken, playedMs), !failed);
    };
  });
}

/** The agent's spoken text, with its tool activity reported on the way. */
async function* textOf(outputs: AsyncIterable<AgentOutput>, rt: Runtime, metrics: TurnMetrics): AsyncIterable<string> {
  for await (const output of outputs) {
    if (output.type === 'text') {
      metrics.mark('llmFirstToken', streamNow(rt));
      yield output.delta;
    } else if (output.type === 'tool_call') {
      rt.emit({ type: 'tool_call', name: output.name, arguments: output.arguments }, streamNow(rt));
    } else {
      rt.emit({ type: 'tool_result', name: output.name, ok: output.ok, summary: output.summary }, streamNow(rt));
    }
  }
}

async function* announce(text: string): AsyncIterable<AgentOutput> {
  yield { type: 'text', delta: text };
}

async function* once(text: string): AsyncIterable<string> {
  yield text;
}

/** The sentences played in full, then the played part of the one cut off. */
export function heardText(spoken: SpokenSentence[], playedMs: number): string {
  const heard: string[] = [];
  let left = playedMs;
  for (const { text, audioMs } of spoken) {
    if (left <= 0) break;
    heard.push(left >= audioMs ? text : heardPart(text, left, audioMs));
    left -= audioMs;
  }
  return heard.filter(Boolean).join(' ');
}
