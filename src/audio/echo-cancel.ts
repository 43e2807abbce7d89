import { execFile } from 'node:child_process';

export interface EchoCancellation {
  active: boolean;
  /** What gave it away, or why it is believed off. */
  detail: string;
}

/** Runs a program and returns its stdout, or null when it is missing, fails or times out. */
export type ProgramRunner = (program: string, args: string[]) => Promise<string | null>;

const runProgram: ProgramRunner = (program, args) =>
  new Promise((resolve) => {
    execFile(program, args, { timeout: 2000, encoding: 'utf8' }, (err, stdout) => resolve(err ? null : stdout));
  });

/**
 * Finds out whether the operating system cancels the assistant's echo from the microphone:
 * PipeWire's or PulseAudio's echo-cancel module loaded, or a capture device that is its output.
 */
export async function detectEchoCancellation(captureDevice: string, run: ProgramRunner = runProgram): Promise<EchoCancellation> {
  if (/echo.?cancel/i.test(captureDevice)) return { active: true, detail: `the capture device ${captureDevice} is an echo-cancelled source` };
  const modules = await run('pactl', ['list', 'short', 'modules']);
  if (modules && /module-echo-cancel/.test(modules)) {
    const sources = (await run('pactl', ['list', 'short', 'sources'])) ?? '';
    const source = /^\S+\s+(\S*echo.?cancel\S*)/im.exec(sources)?.[1];
    return {
      active: true,
      detail: source
        ? `module-echo-cancel is loaded (source ${source}${captureDevice === 'default' ? '' : `; audio.captureDevice is ${captureDevice}`})`
        : 'module-echo-cancel is loaded',
    };
  }
  const nodes = await run('pw-cli', ['ls', 'Node']);
  if (nodes && /echo.?cancel/i.test(nodes)) return { active: true, detail: 'a PipeWire echo-cancel node is running' };
  if (modules === null && nodes === null) return { active: false, detail: 'no PulseAudio or PipeWire found (plain ALSA has no echo cancellation)' };
  return { active: false, detail: 'no echo-cancel module is loaded in PulseAudio/PipeWire' };
}
