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
      input: z.enum(['mic', 'none']).default('mic'),
      output: z.enum(['speaker', 'none']).default('speaker'),
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
  stt: z
    .strictObject({
      engine: z.enum(['embedded', 'http', 'realtime']).default('embedded'),
      baseUrl: z.string().default(''),
      apiKey: z.string().default(''),
      model: z.string().default('whisper-1'),
      language: z.string().default('en'),
      prompt: z.string().default(''),
      stream: z.boolean().default(true),
      dialect: z.enum(['openai', 'speaches', 'vllm']).default('openai'),
      timeoutMs: ms(120_000).default(10_000),
      fallback: z.boolean().default(true),
    })
    .prefault({}),
  tts: z
    .strictObject({
      engine: z.enum(['espeak', 'http']).default('espeak'),
      baseUrl: z.string().default(''),
      apiKey: z.string().default(''),
      model: z.string().default('tts-1'),
      voice: z.string().default('af_heart'),
      format: z.enum(['pcm', 'wav']).default('pcm'),
      speed: z.number().min(0.25).max(4).default(1),
      espeakVoice: z.string().default('en-us'),
      timeoutMs: ms(120_000).default(10_000),
      fallback: z.boolean().default(true),
    })
    .prefault({}),
  llm: z
    .strictObject({
      baseUrl: z.string().default(''),
      apiKey: z.string().default(''),
      model: z.string().default(''),
      temperature: z.number().min(0).max(2).default(0.3),
      maxTokens: z.number().int().min(16).max(32_768).default(400),
      timeoutMs: ms(300_000).default(15_000),
    })
    .prefault({}),
  conversation: z
    .strictObject({
      followUp: z.enum(['off', 'question', 'always']).default('question'),
      bargeIn: z.boolean().default(true),
      bargeInMinMs: ms(2000).default(160),
      echoCancellation: z.enum(['auto', 'on', 'off']).default('auto'),
      aec: z.enum(['auto', 'on', 'off']).default('auto'),
      echoGainDb: z.number().min(-100).max(20).default(-12),
      bargeInMarginDb: z.number().min(0).max(40).default(6),
      noSpeechMs: ms(120_000).default(8000),
      maxUtteranceMs: ms(600_000).default(30_000),
      transcriptTimeoutMs: ms(120_000).default(10_000),
      thinkTimeoutMs: ms(600_000).default(30_000),
      speakTimeoutMs: ms(3_600_000).default(180_000),
      confirmTimeoutMs: ms(120_000).default(8000),
      followUpMs: ms(120_000).default(5000),
      earcons: z.boolean().default(true),
    })
    .prefault({}),
  agent: z
    .strictObject({
      workspace: z.string().default('.'),
      mode: z.enum(['read-only', 'ask', 'auto-edit', 'full']).default('ask'),
      allow: z.array(z.string()).default(['run_tests']),
      ask: z.array(z.string()).default([]),
      deny: z.array(z.string()).default([]),
      testCommand: z.string().default('npm test'),
      toolTimeoutMs: ms(3_600_000).default(120_000),
      maxToolOutputChars: z.number().int().min(500).max(1_000_000).default(8000),
      contextChars: z.number().int().min(2000).max(2_000_000).default(24_000),
      auditLog: z.string().default(''),
    })
    .prefault({}),
  jobs: z
    .strictObject({
      dir: z.string().default(''),
      backend: z.enum(['builtin', 'claude', 'command']).default('builtin'),
      command: z.string().default(''),
      claudeArgs: z.array(z.string()).default([]),
      concurrency: z.number().int().min(1).max(8).default(1),
      watchdogMs: ms(86_400_000).default(300_000),
      maxAttempts: z.number().int().min(1).max(10).default(3),
    })
    .prefault({}),
  server: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65_535).default(8765),
      tokenFile: z.string().default(''),
      allowedOrigins: z.array(z.string().url()).default([]),
      maxConnections: z.number().int().min(1).max(1000).default(16),
      maxMessageBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(65_536),
      messagesPerSecond: z.number().min(1).max(10_000).default(40),
      socket: z.string().default(''),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
      file: z.string().default(''),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
