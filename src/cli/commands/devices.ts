import {
  checkCapture,
  checkPlayback,
  listDevices,
  type DeviceCheck,
  type DeviceList,
  type Direction,
} from '../../audio/alsa.js';
import { loadConfig } from '../../config/index.js';
import { parseCommandArgs, type Command } from '../command.js';

const usage = `Usage: kai devices [--json]

Lists the ALSA playback and capture devices (aplay/arecord -L and -l) and checks
whether the configured ones (audio.playbackDevice, audio.captureDevice with
audio.recorder) really open.

Options:
  --json      print one JSON object instead of text
  -h, --help  show this help
`;

interface DirectionReport {
  configured: string;
  usable: boolean;
  reason?: string;
  devices: DeviceList['pcms'];
  cards: DeviceList['cards'];
}

export const command: Command = {
  name: 'devices',
  summary: 'list audio capture and playback devices',
  usage,
  async run(argv, io) {
    const { values } = parseCommandArgs('devices', argv, { json: { type: 'boolean' } });
    const { audio } = loadConfig({ env: io.env });
    const [playList, capList, playCheck, capCheck] = await Promise.all([
      listDevices('playback'),
      listDevices('capture'),
      checkPlayback(audio.playbackDevice),
      checkCapture(audio.captureDevice, audio.recorder),
    ]);
    const playback = report(playList, audio.playbackDevice, playCheck);
    const capture = report(capList, audio.captureDevice, capCheck);
    if (values.json) {
      io.stdout.write(`${JSON.stringify({ playback, capture: { ...capture, recorder: audio.recorder } }, null, 2)}\n`);
      return 0;
    }
    io.stdout.write(`${describe('playback', playback)}\n${describe('capture', capture, audio.recorder)}`);
    return 0;
  },
};

function report(list: DeviceList, configured: string, check: DeviceCheck): DirectionReport {
  return {
    configured,
    usable: check.ok,
    ...(check.ok ? {} : { reason: check.reason }),
    devices: list.pcms,
    cards: list.cards,
  };
}

const words: Record<Direction, { title: string; program: string; key: string; gadget: string }> = {
  playback: { title: 'Playback', program: 'aplay', key: 'audio.playbackDevice', gadget: 'a speaker' },
  capture: { title: 'Capture', program: 'arecord', key: 'audio.captureDevice', gadget: 'a microphone' },
};

function describe(direction: Direction, r: DirectionReport, recorder?: string): string {
  const w = words[direction];
  const lines = [`${w.title} devices (${w.program} -L):`, ...table(r.devices.map((d) => [d.name, d.description]))];
  if (r.cards.length === 0) {
    lines.push(`Sound cards (${w.program} -l): none — connect ${w.gadget} (or a USB audio device), or define a device in ~/.asoundrc`);
  } else {
    lines.push(`Sound cards (${w.program} -l):`);
    lines.push(...table(r.cards.map((c) => [c.pcm, `${c.cardName}: ${c.deviceName}`])));
  }
  const what = `${w.key} "${r.configured}"${recorder ? ` (recorded with ${recorder})` : ''}`;
  lines.push(r.usable ? `${what}: works` : `${what}: does not work — ${r.reason}`);
  return `${lines.join('\n')}\n`;
}

function table(rows: string[][]): string[] {
  if (rows.length === 0) return ['  (none)'];
  const width = Math.max(...rows.map((r) => (r[0] ?? '').length));
  return rows.map(([name = '', description = '']) => `  ${description ? name.padEnd(width) : name}  ${description}`.trimEnd());
}
