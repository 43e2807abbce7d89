import { controlSocketPath, sendControl } from '../../server/control-socket.js';
import { KaiError, UsageError } from '../../errors.js';
import { parseCommandArgs, type Command } from '../command.js';
import { commandContext, configOption } from '../context.js';

const ACTIONS = ['start', 'stop', 'toggle', 'cancel'] as const;
type Action = (typeof ACTIONS)[number];

export const command: Command = {
  name: 'ptt',
  summary: 'push-to-talk on the running assistant (kai ptt start|stop|toggle|cancel)',
  usage: `Usage: kai ptt start|stop|toggle|cancel [--socket PATH] [--config FILE]

Talks to the running \`kai run\` through its local control socket, so any hotkey tool can be
bound to it: start listening (hold), stop (release), toggle, or cancel what it is doing.
  --socket PATH   the control socket (default: server.socket, else $XDG_RUNTIME_DIR/kai/control.sock)`,

  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('ptt', argv, { socket: { type: 'string' }, ...configOption });
    const [action, ...extra] = positionals;
    if (!ACTIONS.includes(action as Action) || extra.length > 0) throw new UsageError('say what to do: kai ptt start|stop|toggle|cancel');
    const path = values.socket ?? controlSocketPath(commandContext(io, values.config).config.server.socket, io.env);
    const message = action === 'cancel' ? { type: 'cancel' as const } : { type: 'ptt' as const, action: action as Exclude<Action, 'cancel'> };
    const reply = await sendControl(path, message);
    if (reply.type !== 'ack') throw new KaiError(`kai refused: ${String(reply.message ?? 'no reason given')}`);
    io.stdout.write(`${action}: ok (${String(reply.state)})\n`);
    return 0;
  },
};
