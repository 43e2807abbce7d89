import { fromCallback } from 'xstate';
import type { MachineEvent } from '../../states/events.js';
import type { Runtime } from '../runtime.js';
import { reportFailure } from './report.js';

/** Audio replayed into the detector on (re)start, so its windows hold real sound, not stale state. */
const WARM_UP_MS = 1500;

/** idle: runs the wake word on the microphone and reports the first detection. */
export function wakeListener(rt: Runtime) {
  return fromCallback<MachineEvent>(({ sendBack }) => {
    const controller = new AbortController();
    const { signal } = controller;
    (async () => {
      rt.wake.reset();
      // Never replay the previous wake phrase: it would wake the assistant again.
      const fromMs = Math.max(rt.hub.nowMs - WARM_UP_MS, rt.cursor.lastWakeEndMs);
      for await (const frame of rt.hub.frames(signal, { fromMs })) {
        const [hit] = await rt.wake.process(frame);
        if (hit && !signal.aborted) {
          rt.cursor.lastWakeEndMs = hit.endMs;
          rt.cursor.lastWakeScore = hit.score;
          rt.emit({ type: 'wake', keyword: hit.keyword, score: hit.score }, hit.endMs);
          sendBack({ type: 'WAKE_DETECTED', keyword: hit.keyword, score: hit.score, atMs: hit.endMs });
          return;
        }
      }
    })().catch(reportFailure(sendBack, signal, 'audio'));
    return () => controller.abort();
  });
}
