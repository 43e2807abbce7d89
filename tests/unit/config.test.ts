import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';

const home = mkdtempSync(join(tmpdir(), 'kai-config-'));
const env = { XDG_CONFIG_HOME: home };

function file(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'kai-config-file-')), 'config.yaml');
  writeFileSync(path, text);
  return path;
}

describe('loadConfig', () => {
  it('reads the documented defaults from config/default.yaml', () => {
    const config = loadConfig({ env });
    expect(config.wakeword).toEqual({ models: ['hey_jarvis'], threshold: 0.5, thresholds: {}, refractoryMs: 2000, smoothing: 1 });
    expect(config.audio.preRollMs).toBe(500);
    expect(config.vad.minSilenceMs).toBe(500);
  });

  it('layers the user file, then KAI_* variables, then flags', () => {
    const user = file('wakeword:\n  threshold: 0.6\n  models: [alexa]\nvad:\n  paddingMs: 50\n');
    const config = loadConfig({
      file: user,
      env: { ...env, KAI_WAKEWORD__THRESHOLD: '0.7', KAI_VAD__MIN_SILENCE_MS: '800' },
      overrides: { 'wakeword.threshold': 0.9 },
    });
    expect(config.wakeword.threshold).toBe(0.9);
    expect(config.wakeword.models).toEqual(['alexa']);
    expect(config.vad.minSilenceMs).toBe(800);
    expect(config.vad.paddingMs).toBe(50);
    expect(config.wakeword.refractoryMs).toBe(2000);
  });

  it('uses ~/.config/kai/config.yaml when no file is given', () => {
    const xdg = mkdtempSync(join(tmpdir(), 'kai-xdg-'));
    const dir = join(xdg, 'kai');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.yaml'), 'audio:\n  recorder: sox\n');
    expect(loadConfig({ env: { XDG_CONFIG_HOME: xdg } }).audio.recorder).toBe('sox');
  });

  it('names the path and the expected value when a value is wrong', () => {
    expect(() => loadConfig({ file: file('wakeword:\n  threshold: 3\n'), env })).toThrow(/invalid configuration at wakeword\.threshold: .*(<=|1)/);
    expect(() => loadConfig({ file: file('audio:\n  recorder: ffmpeg\n'), env })).toThrow(/audio\.recorder/);
    expect(() => loadConfig({ file: file('wakeword:\n  treshold: 0.5\n'), env })).toThrow(/wakeword.*treshold|treshold/);
    expect(() => loadConfig({ file: file('vad:\n  startThreshold: 0.3\n  endThreshold: 0.6\n'), env })).toThrow(/vad\.endThreshold/);
    expect(() => loadConfig({ env: { ...env, KAI_WAKEWORD__THRESHOLD: 'high' } })).toThrow(ConfigError);
  });

  it('says so in one sentence when the file is missing, not YAML or not a mapping', () => {
    expect(() => loadConfig({ file: join(home, 'nope.yaml'), env })).toThrow(/config file .*nope\.yaml does not exist/);
    expect(() => loadConfig({ file: file('a: [1, 2\n'), env })).toThrow(/is not valid YAML/);
    expect(() => loadConfig({ file: file('- just\n- a list\n'), env })).toThrow(/must be a YAML mapping/);
    expect(loadConfig({ file: file(''), env }).wakeword.threshold).toBe(0.5);
  });
});
