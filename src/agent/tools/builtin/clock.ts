import { z } from 'zod';
import type { AnyTool } from '../types.js';
import { defineTool, success } from './common.js';

export interface CurrentTimeOptions {
  /** Time source (tests); default `new Date()`. */
  now?: () => Date;
  /** IANA zone; default the system's. */
  timeZone?: string;
  /** BCP 47 locale for the long form; default en-US. */
  locale?: string;
}

/** "It's 3:42 PM on Saturday, November 21" for `date` in `timeZone`. */
export function spokenTime(date: Date, timeZone?: string, locale = 'en-US'): string {
  const zone = timeZone ? { timeZone } : {};
  const time = new Intl.DateTimeFormat(locale, { hour: 'numeric', minute: '2-digit', hour12: true, ...zone }).format(date);
  const day = new Intl.DateTimeFormat(locale, { weekday: 'long', month: 'long', day: 'numeric', ...zone }).format(date);
  return `It's ${time.replace(/\u202f|\u00a0/g, ' ')} on ${day}`;
}

export function currentTimeTool(options: CurrentTimeOptions = {}): AnyTool {
  return defineTool({
    name: 'current_time',
    description: 'The current local date, time, weekday and time zone.',
    input: z.object({}),
    risk: 'read',
    describe: () => 'tell the time',
    subject: () => '',
    execute: async () => {
      const now = options.now?.() ?? new Date();
      const zone = options.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
      const long = new Intl.DateTimeFormat(options.locale ?? 'en-US', {
        dateStyle: 'full',
        timeStyle: 'long',
        timeZone: zone,
      }).format(now);
      return success(`${long} (ISO ${now.toISOString()}, time zone ${zone})`, `${spokenTime(now, zone, options.locale)}.`, {
        iso: now.toISOString(),
        timeZone: zone,
      });
    },
  });
}
