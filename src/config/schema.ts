import { z } from 'zod';

const ms = (max: number) => z.number().int().min(0).max(max);
const probability = z.number().min(0).max(1);

/** The single source of truth for configuration; config/default.yaml documents every key. */
export const configSchema = z.strictObject({
  audio: z
    .strictObject({
      recorder: z.enum(['arecord', 'sox', 'rec']).default('arecord'),
      captureDevice: z.string().min(1).default('default'),
      playbackDevice: z.string().min(1).default('default'),
      preRollMs: ms(10_000).default(500),
    })
    .prefault({}),
  models: z
    .strictObject({
      dir: z.string().default(''),
      mirror: z.string().default(''),
    })
    .prefault({}),
  wakeword: z
    .strictObject({
      models: z.array(z.string().min(1)).min(1).default(['hey_jarvis']),
      threshold: probability.default(0.5),
      thresholds: z.record(z.string(), probability).default({}),
      refractoryMs: ms(60_000).default(2000),
      smoothing: z.number().int().min(1).max(50).default(1),
    })
    .prefault({}),
  vad: z
    .strictObject({
      startThreshold: probability.default(0.5),
      endThreshold: probability.default(0.35),
      minSpeechMs: ms(10_000).default(250),
      minSilenceMs: ms(10_000).default(500),
      paddingMs: ms(2000).default(100),
    })
    .prefault({})
    .refine((v) => v.endThreshold <= v.startThreshold, {
      message: 'endThreshold must not be above startThreshold',
      path: ['endThreshold'],
    }),
  log: z.strictObject({ level: z.enum(['debug', 'info', 'warn', 'error']).default('info') }).prefault({}),
});

export type Config = z.infer<typeof configSchema>;
