import type { ChatMessage } from './llm.js';

/** One finished exchange: what the user said, any tool calls, and the reply as it was heard. */
interface Turn {
  user: string;
  messages: ChatMessage[];
}

/**
 * The conversation the model sees, within a character budget: the newest turns whole, older
 * ones compacted to a one-line note of what was asked.
 */
export class ConversationHistory {
  private turns: Turn[] = [];
  private compacted: string[] = [];

  constructor(private readonly budgetChars: number) {}

  add(user: string, messages: ChatMessage[]): void {
    this.turns.push({ user, messages });
    while (this.turns.length > 1 && this.size() > this.budgetChars) {
      const oldest = this.turns.shift()!;
      this.compacted.push(oldest.user.length > 80 ? `${oldest.user.slice(0, 77)}…` : oldest.user);
    }
    if (this.compacted.length > 20) this.compacted = this.compacted.slice(-20);
  }

  messages(): ChatMessage[] {
    const note: ChatMessage[] = this.compacted.length
      ? [{ role: 'system', content: `Earlier in this conversation the user asked: ${this.compacted.map((q) => `"${q}"`).join('; ')}.` }]
      : [];
    return [...note, ...this.turns.flatMap((t) => t.messages)];
  }

  private size(): number {
    return this.turns.reduce((sum, t) => sum + t.messages.reduce((s, m) => s + JSON.stringify(m).length, 0), 0);
  }
}
