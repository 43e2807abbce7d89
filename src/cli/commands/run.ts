import { resolve } from 'node:path';
import { Daemon } from '../../app/daemon.js';
import { createLogger } from '../../app/log.js';
import { parseCommandArgs, type Command, type CommandIo } from '../command.js';
import { commandContext, configOption } from '../context.js';
import { Screen } from '../tui/panel.js';
import { TerminalKeys, type PttMode } from '../tui/push-to-talk.js';

export const command: Command = {
  name: 'run',
  summary: 'run the assistant: microphone, speaker, web page and control socket',
  usage: `Usage: kai run [--config FILE] [--no-tty]

Listens for the wake word (or push-to-talk), answers out loud, and serves the web page, the
WebSocket control plane, /health and /metrics (server.* in the config). In a terminal it shows a
live panel: space talks (held where the terminal reports key releases, else press to start and
again to stop), Esc cancels, y/n answers a question, q quits. SIGUSR1 toggles push-to-talk;
\`kai ptt\` works from anywhere. SIGINT/SIGTERM stop it within 2 s.
  --no-tty   no panel: structured JSON logs on stderr (what a service wants)`,

  async run(argv, io) {
    const { values } = parseCommandArgs('run', argv, { 'no-tty': { type: 'boolean' }, ...configOption });
    const { config, modelsDir } = commandContext(io, values.config);
    const terminal = !values['no-tty'] && isTerminal(io);
    const log = createLogger({
      level: config.log.level,
      ...(terminal ? {} : { stream: io.stderr }),
      ...(config.log.file ? { file: resolve(io.cwd, config.log.file) } : {}),
    });
    const daemon = await Daemon.create({ config, modelsDir, cwd: io.cwd, env: io.env, log });
    log.log('info', 'ready', { url: daemon.url, socket: daemon.socketPath });

    const stop = new AbortController();
    const onAbort = () => stop.abort();
    io.signal.addEventListener('abort', onAbort, { once: true });
    const onToggle = () => daemon.ptt('toggle');
    process.on('SIGUSR1', onToggle);
    const closeTerminal = terminal ? openPanel(daemon, io, () => stop.abort()) : () => undefined;
    try {
      await daemon.run(stop.signal);
    } finally {
      closeTerminal();
      process.removeListener('SIGUSR1', onToggle);
      io.signal.removeEventListener('abort', onAbort);
    }
    return 0;
  },
};

function isTerminal(io: CommandIo): boolean {
  return Boolean((io.stdin as NodeJS.ReadStream).isTTY && (io.stdout as NodeJS.WriteStream).isTTY);
}

/** The live panel and the push-to-talk keys; returns what restores the terminal. */
function openPanel(daemon: Daemon, io: CommandIo, quit: () => void): () => void {
  const screen = new Screen(io.stdout as NodeJS.WriteStream);
  let pttMode: PttMode = 'toggle';
  const draw = () => screen.update({ ...daemon.view, pttMode, url: daemon.pageUrl });
  const keys = new TerminalKeys({
    input: io.stdin as NodeJS.ReadStream,
    output: io.stdout,
    restoreOnExit: true,
    onModeChange: (mode) => {
      pttMode = mode;
      draw();
    },
    onAction: (action) => {
      if (action === 'quit') quit();
      else if (action === 'cancel') daemon.cancel();
      else daemon.ptt(action);
    },
    onKey: (event) => {
      const request = daemon.view.pending[0];
      if (request && event.kind === 'press' && (event.key === 'y' || event.key === 'n')) daemon.answer(request.id, event.key === 'y');
    },
  });
  const stopDrawing = daemon.onViewChange(draw);
  draw();
  return () => {
    stopDrawing();
    keys.close();
    screen.close();
  };
}
