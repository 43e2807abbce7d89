import type { Agent, AgentContext, AgentOutput, ReplyOutcome } from './agent.js';
import type { ChatClient, ChatMessage } from './llm.js';

export const SPOKEN_SYSTEM_PROMPT = `You are KAI, a voice assistant for a software developer. Your replies are spoken aloud:
answer in one to three short sentences, plain words, no markdown, no lists, no code unless asked.
If you did something, say what you did. If you are unsure what was meant, ask one short question.`;

/** A text-only agent over an OpenAI-compatible chat model, keeping the conversation as heard. */
export class ChatAgent implements Agent {
  readonly name = 'chat';
  private readonly history: ChatMessage[] = [];
  private readonly pendingUser = new Map<number, string>();

  constructor(
    private readonly client: ChatClient,
    private readonly options: { systemPrompt?: string; maxHistoryMessages?: number } = {},
  ) {}

  phrases(): string[] {
    return [];
  }

  async *respond(userText: string, context: AgentContext): AsyncIterable<AgentOutput> {
    this.pendingUser.set(context.turn, userText);
    const messages: ChatMessage[] = [
      { role: 'system', content: this.options.systemPrompt ?? SPOKEN_SYSTEM_PROMPT },
      ...this.history.slice(-(this.options.maxHistoryMessages ?? 20)),
      { role: 'user', content: userText },
    ];
    for await (const event of this.client.stream(messages, { signal: context.signal })) {
      if (event.type === 'text') yield { type: 'text', delta: event.delta };
    }
  }

  commitReply(turn: number, outcome: ReplyOutcome): void {
    const user = this.pendingUser.get(turn);
    this.pendingUser.delete(turn);
    if (user === undefined) return;
    this.history.push({ role: 'user', content: user });
    const heard = outcome.interrupted ? `${outcome.heardText} [interrupted by the user]` : outcome.heardText;
    this.history.push({ role: 'assistant', content: heard });
  }

  /** The conversation as the model will see it next turn (for tests and logs). */
  get messages(): readonly ChatMessage[] {
    return this.history;
  }
}
