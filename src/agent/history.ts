import type { ChatMessage } from './llm.js';

/** One finished exchange: what the user said, any tool calls, and the reply as it was heard. */
export interface HistoryTurn {
  user: string;
  messages: ChatMessage[];
}

/** Everything a history holds, as plain JSON (see history-store.ts). */
export interface HistoryState {
  version: 1;
  turns: HistoryTurn[];
  /** One-line notes of older questions, oldest first. */
  compacted: string[];
}

/**
 * The conversation the model sees, within a character budget: the newest turns whole, older
 * ones compacted to a one-line note of what was asked.
 */
export class ConversationHistory {
  private turns: HistoryTurn[] = [];
  private compacted: string[] = [];

  constructor(private readonly budgetChars: number) {}

  /** Rebuilds a saved history; the budget is applied again (it may be smaller than when saved). */
  static fromJSON(budgetChars: number, state: HistoryState): ConversationHistory {
    const history = new ConversationHistory(budgetChars);
    history.compacted = [...state.compacted];
    for (const turn of state.turns) history.add(turn.user, turn.messages);
    if (history.compacted.length > 20) history.compacted = history.compacted.slice(-20);
    return history;
  }

  toJSON(): HistoryState {
    return { version: 1, turns: structuredClone(this.turns), compacted: [...this.compacted] };
  }

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
