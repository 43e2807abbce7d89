import { fromCallback } from 'xstate';
import { recognizerFrame, type AudioFrame } from '../../audio/frame.js';
import { trimFrom } from '../../audio/hub.js';
import type { ListenerCommand } from '../../states/events.js';
import type { ListenerInput } from '../../states/machine.js';
import { AsyncQueue } from '../async-queue.js';
import { streamNow, type Runtime } from '../runtime.js';
import { reportFailure } from './report.js';

/** Pre-roll for turns that start with no known onset (push-to-talk). */
const PTT_PRE_ROLL_MS = 300;
/**
 * Pre-roll before the onset of a turn the voice started (barge-in, an answer in the follow-up window), on top
 * of the VAD's own padding: over the assistant's echo a VAD hears the first syllable late, and a command that
 * lost it is not recognised. Measured (bench:aec, commands recognised after a barge-in): from the cleaned audio,
 * 150 ms was best (more let in the echo the user spoke over, none lost first syllables); from the canceller's
 * copy for the recognizer, 0 to 250 ms all recognise 120 of 120.
 */
export const VOICE_PRE_ROLL_MS = 150;

/**
 * listen / followUp: the VAD marks speech start and end; in listen the utterance's audio streams to
 * the recognizer from the speech onset (so the tail of the wake phrase is not transcribed) until
 * the machine says FINISH.
 */
export function listener(rt: Runtime) {
  return fromCallback<ListenerCommand, ListenerInput>(({ input, sendBack, receive }) => {
    const controller = new AbortController();
    const { signal } = controller;
    const fail = reportFailure(sendBack, signal, 'stt');
    const metrics = rt.turns.get(input.turn);
    const utterance = new AsyncQueue<AudioFrame>();
    if (input.mode === 'wake') metrics.wakeScore = rt.cursor.lastWakeScore;

    /** Audio heard before the first speech onset; the utterance starts at the onset, not before. */
    let beforeSpeech: AudioFrame[] | null = [];
    const startUtterance = (onsetMs: number) => {
      for (const frame of beforeSpeech ?? []) {
        const kept = trimFrom(frame, onsetMs);
        if (kept) utterance.push(recognizerFrame(kept));
      }
      beforeSpeech = null;
    };

    receive((command) => {
      if (command.type !== 'FINISH' || utterance.closed) return;
      metrics.mark('endOfTurn', streamNow(rt));
      // Released while still talking (push-to-talk): the turn ends where the speech was cut.
      if (!metrics.has('speechEnd')) metrics.set('speechEnd', streamNow(rt));
      if (beforeSpeech) startUtterance(Number.NEGATIVE_INFINITY); // push-to-talk with no speech detected: send it all
      utterance.close();
    });

    if (!input.watchOnly) {
      (async () => {
        for await (const event of rt.stt.transcribe(utterance, signal)) {
          if (signal.aborted) return;
          if (event.type === 'interim') {
            rt.emit({ type: 'transcript', final: false, text: event.text }, streamNow(rt));
            sendBack({ type: 'TRANSCRIPT_INTERIM', text: event.text });
          } else if (event.type === 'final') {
            metrics.mark('transcriptFinal', streamNow(rt));
            metrics.transcript = event.text.trim();
            rt.emit({ type: 'transcript', final: true, text: event.text.trim() }, streamNow(rt));
            sendBack({ type: 'TRANSCRIPT_FINAL', text: event.text });
          }
        }
      })().catch(fail);
    }

    const voiceFromMs = input.mode === 'voice' && input.fromMs !== undefined ? input.fromMs - VOICE_PRE_ROLL_MS : undefined;
    (async () => {
      rt.vad.reset();
      const fromMs = voiceFromMs ?? input.fromMs ?? rt.hub.nowMs - PTT_PRE_ROLL_MS;
      for await (const frame of rt.hub.frames(signal, { fromMs })) {
        if (input.watchOnly) {
          // only the VAD listens here: the next turn's listener takes the audio from the onset
        } else if (beforeSpeech) beforeSpeech.push(frame);
        else utterance.push(recognizerFrame(frame));
        for (const event of await rt.vad.process(frame)) {
          if (signal.aborted) return;
          if (event.type === 'speech_start') {
            if (beforeSpeech) startUtterance(Math.min(event.timestampMs, voiceFromMs ?? Number.POSITIVE_INFINITY));
            sendBack({ type: 'SPEECH_START', atMs: event.timestampMs });
          } else {
            metrics.set('speechEnd', event.timestampMs - rt.settings.vadPaddingMs);
            sendBack({ type: 'SPEECH_END' });
          }
        }
      }
    })().catch(fail);

    return () => {
      controller.abort();
      utterance.close();
    };
  });
}
