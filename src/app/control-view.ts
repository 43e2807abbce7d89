import type { Job } from '../agent/jobs/store.js';
import type { ServerEvent } from '../server/control.js';
import type { JobView } from '../server/protocol.js';
import type { AssistantEvent } from './events.js';

/** A job as the web page and the terminal show it. */
export function jobView(job: Job): JobView {
  const lastProgress = [...job.events].reverse().find((e) => e.type === 'progress')?.text ?? '';
  const finished = job.status !== 'queued' && job.status !== 'running';
  return {
    id: job.id,
    task: job.task,
    status: job.status,
    detail: finished ? (job.summary ?? job.result?.reason ?? '') : lastProgress,
    createdAt: job.createdAt,
  };
}

/** The assistant's events as control-plane messages (the shapes are the same but for errors). */
export function serverEventOf(event: AssistantEvent): ServerEvent {
  if (event.type === 'error') return { type: 'service_error', source: event.source, message: event.message };
  return event;
}
