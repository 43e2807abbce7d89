import type { Agent, AgentContext, AgentOutput, ReplyOutcome } from './agent.js';
import { ConversationHistory } from './history.js';
import type { IntentMatch, IntentMatcher } from './intents/matcher.js';
import { assistantMessage, type ChatClient, type ChatMessage, type ToolCall } from './llm.js';
import type { ToolRegistry } from './tools/registry.js';

export const SPOKEN_SYSTEM_PROMPT = `You are KAI, a voice assistant for a software developer, working in their project folder.
Your replies are spoken aloud: one to three short sentences, plain words, no markdown, no lists, no code.
Use the tools to look at the project, run tests and commands, and use git. For any change to code that
takes more than a quick edit, hand it to the coding agent with delegate_coding_task and say you did.
After using tools, say in a few words what you did and what came out. If you are unsure what was meant,
ask one short question.`;

/** Tool rounds per reply before the agent stops and says so. */
const MAX_TOOL_ROUNDS = 8;

export interface ToolAgentParts {
  intents: IntentMatcher;
  tools: ToolRegistry;
  /** The LLM; without it only local commands work. */
  chat?: ChatClient;
  historyChars: number;
  /** Finished-job summaries to say when the assistant is idle. */
  announcements?: () => string[];
  /** The conversation so far (restored after a restart); a new one when omitted. */
  history?: ConversationHistory;
  /** Told after every finished exchange, so the history can be saved. */
  onHistoryChange?: (history: ConversationHistory) => void;
}

/**
 * The assistant's agent: local intents first (offline, instant), then the LLM with the shared
 * tool registry, every call through the same permission gate.
 */
export class ToolAgent implements Agent {
  readonly name = 'tools';
  private readonly history: ConversationHistory;
  /** Per turn: the user's words and the messages of the exchange so far (tool calls included). */
  private readonly pending = new Map<number, { user: string; messages: ChatMessage[] }>();

  constructor(private readonly parts: ToolAgentParts) {
    this.history = parts.history ?? new ConversationHistory(parts.historyChars);
  }

  phrases(): string[] {
    return this.parts.intents.phrases();
  }

  announcements(): string[] {
    return this.parts.announcements?.() ?? [];
  }

  async *respond(userText: string, context: AgentContext): AsyncIterable<AgentOutput> {
    const exchange = { user: userText, messages: [] as ChatMessage[] };
    this.pending.set(context.turn, exchange);
    const match = this.parts.intents.match(userText);
    if (match) yield* this.runIntent(match, context);
    else if (this.parts.chat) yield* this.runModel(this.parts.chat, exchange, context);
    else yield { type: 'text', delta: this.parts.intents.fallbackText() };
  }

  commitReply(turn: number, outcome: ReplyOutcome): void {
    const exchange = this.pending.get(turn);
    this.pending.delete(turn);
    if (!exchange) return;
    const heard = outcome.interrupted ? `${outcome.heardText} [interrupted by the user]` : outcome.heardText;
    this.history.add(exchange.user, [{ role: 'user', content: exchange.user }, ...exchange.messages, { role: 'assistant', content: heard }]);
    this.parts.onHistoryChange?.(this.history);
  }

  /** The shared registry (also what `kai tools` calls). */
  get tools(): ToolRegistry {
    return this.parts.tools;
  }

  /** The conversation as the model will see it next turn. */
  get messages(): ChatMessage[] {
    return this.history.messages();
  }

  private async *runIntent(match: IntentMatch, context: AgentContext): AsyncIterable<AgentOutput> {
    const { intents, tools } = this.parts;
    const call = intents.toolCall(match);
    if (!call) {
      yield { type: 'text', delta: intents.answer(match) };
      return;
    }
    yield { type: 'tool_call', name: call.tool, arguments: call.args };
    const outcome = await tools.call(call.tool, call.args, { signal: context.signal, confirm: context.confirm });
    const ok = outcome.status === 'ok' && outcome.result.ok;
    yield { type: 'tool_result', name: call.tool, ok, summary: outcome.result.spoken };
    if (context.signal.aborted) return;
    yield { type: 'text', delta: outcome.status === 'ok' ? intents.answer(match, outcome.result) : outcome.result.spoken };
  }

  private async *runModel(chat: ChatClient, exchange: { user: string; messages: ChatMessage[] }, context: AgentContext): AsyncIterable<AgentOutput> {
    const { tools } = this.parts;
    for (let round = 0; round < MAX_TOOL_ROUNDS; round++) {
      const messages: ChatMessage[] = [
        { role: 'system', content: SPOKEN_SYSTEM_PROMPT },
        ...this.history.messages(),
        { role: 'user', content: exchange.user },
        ...exchange.messages,
      ];
      const calls: ToolCall[] = [];
      let text = '';
      for await (const event of chat.stream(messages, { tools: tools.toolSpecs(), signal: context.signal })) {
        if (event.type === 'text') {
          text += event.delta;
          yield { type: 'text', delta: event.delta };
        } else if (event.type === 'tool_call') calls.push(event.call);
      }
      if (calls.length === 0 || context.signal.aborted) return;
      exchange.messages.push(assistantMessage(text, calls));
      for (const call of calls) {
        yield { type: 'tool_call', name: call.name, arguments: call.arguments };
        const outcome = call.parseError
          ? { status: 'invalid', result: { ok: false, output: call.parseError, spoken: '' } }
          : await tools.call(call.name, call.arguments, { signal: context.signal, confirm: context.confirm });
        yield { type: 'tool_result', name: call.name, ok: outcome.status === 'ok' && outcome.result.ok, summary: outcome.result.spoken };
        exchange.messages.push({ role: 'tool', tool_call_id: call.id, content: `[${outcome.status}] ${outcome.result.output}` });
        if (context.signal.aborted) return;
      }
    }
    yield { type: 'text', delta: 'I stopped after several rounds of tool calls; tell me how to go on.' };
  }
}
