import WebSocket from 'ws';
import type { ClientMessageInput } from '../../src/server/protocol.js';

export type Message = Record<string, unknown> & { type: string };

export interface ControlClient {
  ws: WebSocket;
  /** Every JSON message received so far, in order. */
  messages: Message[];
  /** Bytes of binary audio received so far. */
  audioBytes(): number;
  send(message: ClientMessageInput): void;
  sendAudio(samples: Int16Array): void;
  /** The first message (received before or after this call, not yet taken) matching. */
  next(type: string, match?: (m: Message) => boolean, timeoutMs?: number): Promise<Message>;
  close(): Promise<void>;
}

/** A WebSocket client of the daemon's control plane, as a satellite or a remote control would be. */
export async function connectControl(url: string, token: string): Promise<ControlClient> {
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, ['kai.v1'], { headers: { authorization: `Bearer ${token}` } });
  const messages: Message[] = [];
  const taken = new Set<Message>();
  let audio = 0;
  const wakers = new Set<() => void>();
  ws.on('message', (data, isBinary) => {
    if (isBinary) audio += (data as Buffer).length;
    else messages.push(JSON.parse(String(data)) as Message);
    for (const wake of [...wakers]) wake();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const next = (type: string, match: (m: Message) => boolean = () => true, timeoutMs = 30_000) =>
    new Promise<Message>((resolve, reject) => {
      const look = () => {
        const found = messages.find((m) => !taken.has(m) && m.type === type && match(m));
        if (!found) return false;
        taken.add(found);
        wakers.delete(look);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        wakers.delete(look);
        reject(new Error(`no "${type}" message in ${timeoutMs} ms; got: ${JSON.stringify(messages.slice(-30))}`));
      }, timeoutMs);
      if (!look()) wakers.add(look);
    });
  return {
    ws,
    messages,
    audioBytes: () => audio,
    send: (message) => ws.send(JSON.stringify(message)),
    sendAudio: (samples) => ws.send(Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength)),
    next,
    close: () =>
      new Promise<void>((resolve) => {
        if (ws.readyState === ws.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close();
      }),
  };
}

/** Streams samples in real-time-sized pieces (the daemon paces them anyway). */
export async function streamAudio(client: ControlClient, samples: Int16Array, chunkSamples = 1600, realTime = false): Promise<void> {
  for (let i = 0; i < samples.length; i += chunkSamples) {
    client.sendAudio(samples.subarray(i, i + chunkSamples));
    if (realTime) await new Promise((r) => setTimeout(r, (chunkSamples / 16_000) * 1000));
  }
}
