import { describeError } from '../../errors.js';
import type { MachineEvent } from '../../states/events.js';

/** An actor's failure as the machine's SERVICE_ERROR, unless the actor was being stopped anyway. */
export function reportFailure(sendBack: (event: MachineEvent) => void, signal: AbortSignal, fallbackSource: string) {
  return (err: unknown): void => {
    if (signal.aborted) return;
    const source = typeof err === 'object' && err !== null && 'source' in err && typeof err.source === 'string' ? err.source : fallbackSource;
    sendBack({ type: 'SERVICE_ERROR', source, message: describeError(err) });
  };
}
