import { describeError } from '../errors.js';
import type { Command, CommandIo } from './command.js';

/** Loaded lazily so `kai --help` and light commands never pay for onnxruntime or native audio modules. */
const commands: Record<string, { summary: string; load: () => Promise<{ command: Command }> }> = {
  wakeword: { summary: 'detect wake words in WAV files', load: () => import('./commands/wakeword.js') },
  vad: { summary: 'list the speech segments of a WAV file', load: () => import('./commands/vad.js') },
  listen: { summary: 'live microphone: wake words, speech segments and a level meter', load: () => import('./commands/listen.js') },
  play: { summary: 'play a WAV file through the speaker', load: () => import('./commands/play.js') },
  transcribe: { summary: 'print the transcript of a WAV file', load: () => import('./commands/transcribe.js') },
  say: { summary: 'speak a text through the speaker, or write it to a WAV file', load: () => import('./commands/say.js') },
  devices: { summary: 'list audio capture and playback devices', load: () => import('./commands/devices.js') },
  models: { summary: 'pull or list the model files (kai models pull|list)', load: () => import('./commands/models.js') },
  doctor: { summary: 'check programs, audio devices, models and config, with fixes', load: () => import('./commands/doctor.js') },
  tools: { summary: 'list the agent tools, or call one with the same permission checks', load: () => import('./commands/tools.js') },
  run: { summary: 'run the assistant: microphone, speaker, web page and control socket', load: () => import('./commands/run.js') },
  ptt: { summary: 'push-to-talk on the running assistant (kai ptt start|stop|toggle|cancel)', load: () => import('./commands/ptt.js') },
  simulate: { summary: 'run the whole assistant with a WAV file as the microphone', load: () => import('./commands/simulate.js') },
  service: { summary: 'install or remove the systemd user service (kai service install|uninstall)', load: () => import('./commands/service.js') },
};

function helpText(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'kai — voice-first ambient assistant',
    '',
    'Usage: kai <command> [options]   (kai <command> --help for details)',
    '',
    'Commands:',
    ...lines,
    '',
  ].join('\n');
}

export async function main(argv: string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(helpText());
    return 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write('0.1.0\n');
    return 0;
  }
  const entry = commands[name];
  if (!entry) {
    io.stderr.write(`kai: unknown command "${name}"; run: kai --help\n`);
    return 2;
  }
  try {
    const { command } = await entry.load();
    if (rest.includes('--help') || rest.includes('-h')) {
      io.stdout.write(command.usage.endsWith('\n') ? command.usage : `${command.usage}\n`);
      return 0;
    }
    return await command.run(rest, io);
  } catch (err) {
    io.stderr.write(`kai ${name}: ${describeError(err)}\n`);
    if (io.env.KAI_DEBUG && err instanceof Error) io.stderr.write(`${err.stack}\n`);
    return 2;
  }
}
