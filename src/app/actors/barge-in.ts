import { fromCallback } from 'xstate';
import { UserVerdicts } from '../../audio/user-verdicts.js';
import type { MachineEvent } from '../../states/events.js';
import { streamNow, type Runtime } from '../runtime.js';
import { reportFailure } from './report.js';

/** How far back the wake word's verdicts reach (the phrase itself). */
const WAKE_WINDOW_MS = 1000;

/**
 * speak: the user talking over the reply (speech lasting bargeInMinMs) or saying the wake word
 * interrupts it — but only when the microphone is clearly louder than the echo of the reply
 * itself, so the assistant does not interrupt itself.
 */
export function bargeInDetector(rt: Runtime) {
  return fromCallback<MachineEvent, { turn: number }>(({ input, sendBack }) => {
    const controller = new AbortController();
    const { signal } = controller;
    if (!rt.settings.bargeIn) return () => controller.abort();
    const metrics = rt.turns.get(input.turn);
    const verdicts = new UserVerdicts(WAKE_WINDOW_MS);

    /** Speech the VAD found while the microphone was not yet clearly the user's: decided as it goes on. */
    let undecidedOnsetMs: number | null = null;
    const bargeIn = (onsetMs: number) => {
      metrics.mark('bargeInOnset', onsetMs);
      metrics.mark('bargeInDecision', streamNow(rt));
      sendBack({ type: 'BARGE_IN', atMs: onsetMs });
    };

    (async () => {
      rt.bargeInVad.reset();
      rt.wake.reset();
      for await (const frame of rt.hub.frames(signal)) {
        const endMs = frame.timestampMs + (frame.samples.length * 1000) / frame.sampleRate;
        verdicts.push(frame.timestampMs, endMs, rt.echo.isUser(frame.samples, frame.timestampMs));

        for (const event of await rt.bargeInVad.process(frame)) {
          if (signal.aborted) return;
          if (event.type === 'speech_end') undecidedOnsetMs = null;
          else if (event.type === 'speech_start') undecidedOnsetMs = event.timestampMs;
        }
        // Speech that is mostly louder than the echo could be is the user; otherwise it is its own voice.
        const windowMs = endMs - rt.settings.bargeInMinMs;
        if (undecidedOnsetMs !== null && !signal.aborted && verdicts.mostlyUser(windowMs)) {
          bargeIn(verdicts.userOnset(undecidedOnsetMs) ?? undecidedOnsetMs);
          return;
        }
        const [hit] = await rt.wake.process(frame);
        if (hit && !signal.aborted && verdicts.mostlyUser(endMs - WAKE_WINDOW_MS)) {
          rt.cursor.lastWakeEndMs = hit.endMs;
          rt.cursor.lastWakeScore = hit.score;
          metrics.mark('bargeInOnset', hit.startMs);
          metrics.mark('bargeInDecision', streamNow(rt));
          sendBack({ type: 'WAKE_DETECTED', keyword: hit.keyword, score: hit.score, atMs: hit.endMs });
          return;
        }
      }
    })().catch(reportFailure(sendBack, signal, 'audio'));
    return () => controller.abort();
  });
}
