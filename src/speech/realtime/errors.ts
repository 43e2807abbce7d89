import { ProviderError } from '../types.js';

const SERVER = 'the realtime transcription server';

/** Where the server is, for messages: no query string (it may carry settings, never secrets we add). */
export function place(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** Keeps a server-supplied message to one short line without a closing full stop. */
export function oneLine(text: string): string {
  const line = (text.split('\n')[0] ?? '').trim().replace(/[.\s]+$/, '');
  return line.length > 200 ? `${line.slice(0, 197)}...` : line || 'no details';
}

/** Maps a failed WebSocket handshake (socket error or HTTP refusal) to a ProviderError. */
export function connectError(err: Error, url: URL): ProviderError {
  const where = place(url);
  const code = (err as NodeJS.ErrnoException).code;
  const status = /Unexpected server response: (\d+)/.exec(err.message)?.[1];
  if (status !== undefined) {
    const n = Number(status);
    if (n === 401 || n === 403) {
      return new ProviderError('stt', `${SERVER} at ${where} rejected the API key (HTTP ${n})`, { cause: err, retryable: false });
    }
    if (n === 404) {
      return new ProviderError('stt', `${SERVER} has no realtime endpoint at ${where} (HTTP 404): check the URL`, {
        cause: err,
        retryable: false,
      });
    }
    return new ProviderError('stt', `${SERVER} at ${where} refused the WebSocket upgrade (HTTP ${n})`, {
      cause: err,
      retryable: n >= 500 || n === 429,
    });
  }
  if (code === 'ECONNREFUSED') {
    return new ProviderError('stt', `cannot connect to ${SERVER} at ${where} (connection refused)`, { cause: err, retryable: true });
  }
  if (code === 'ENOTFOUND') {
    return new ProviderError('stt', `cannot find the host of ${SERVER} at ${where}`, { cause: err, retryable: false });
  }
  return new ProviderError('stt', `cannot connect to ${SERVER} at ${where}: ${oneLine(err.message)}`, { cause: err, retryable: true });
}

export function connectTimeoutError(url: URL, ms: number): ProviderError {
  return new ProviderError('stt', `${SERVER} at ${place(url)} did not accept the connection within ${ms} ms`, { retryable: true });
}

export function droppedError(code: number): ProviderError {
  return new ProviderError('stt', `${SERVER} closed the connection before the transcript arrived (code ${code})`, { retryable: true });
}

export function socketError(err: Error): ProviderError {
  return new ProviderError('stt', `the connection to ${SERVER} failed: ${oneLine(err.message)}`, { cause: err, retryable: true });
}

export function stallError(ms: number): ProviderError {
  return new ProviderError('stt', `${SERVER} sent no transcript within ${ms} ms after the end of speech`, { retryable: true });
}

export function malformedError(): ProviderError {
  return new ProviderError('stt', `${SERVER} sent a message that is not JSON: check the URL and the dialect setting`, {
    retryable: false,
  });
}

export function serverError(message: string, retryable: boolean): ProviderError {
  return new ProviderError('stt', `${SERVER} reported an error: ${oneLine(message)}`, { retryable });
}

export function rateChangedError(from: number, to: number): ProviderError {
  return new ProviderError('stt', `the audio changed sample rate mid-utterance (${from} Hz to ${to} Hz)`, { retryable: false });
}
