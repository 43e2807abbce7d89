import type { Agent, AgentOutput } from './agent.js';

/**
 * The agent with no LLM: a few commands it can answer itself. The agent issue replaces the
 * matching with sentence templates and tools; the shape stays.
 */
export class OfflineAgent implements Agent {
  readonly name = 'offline';

  constructor(private readonly now: () => Date = () => new Date()) {}

  phrases(): string[] {
    return ['what time is it', "what's the time", 'what day is it', 'hello', 'thank you'];
  }

  async *respond(userText: string): AsyncIterable<AgentOutput> {
    yield { type: 'text', delta: this.answer(userText.toLowerCase()) };
  }

  commitReply(): void {}

  private answer(text: string): string {
    const now = this.now();
    if (/\btime\b/.test(text)) return `It's ${now.toLocaleTimeString('en-US', { hour: 'numeric', minute: '2-digit' })}.`;
    if (/\b(day|date)\b/.test(text)) return `Today is ${now.toLocaleDateString('en-US', { weekday: 'long', month: 'long', day: 'numeric' })}.`;
    if (/\b(hello|hi)\b/.test(text)) return 'Hello! What can I do for you?';
    if (/\bthank/.test(text)) return "You're welcome.";
    return "I can only do simple commands offline. Try asking what time it is.";
  }
}
