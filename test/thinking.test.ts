import { describe, expect, it } from 'vitest';
import {
  applyThinking,
  budgetToEffort,
  EFFORT_BUDGET,
  reasoningField,
  reasoningRequired,
} from '../src/providers/openai-compatible/thinking.js';

const base = (model: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model,
  messages: [{ role: 'user', content: 'hi' }],
  stream: true,
  ...extra,
});

const OFF = { disabled: true } as const;

describe('applyThinking: general rules', () => {
  it('returns the body as sent when reasoning is absent, for every provider', () => {
    for (const p of ['qwen', 'glm', 'doubao', 'deepseek', 'kimi', 'minimax', 'siliconflow', 'openrouter', 'openai', 'ollama', 'vllm']) {
      const body = base('x', { reasoning_effort: 'high', thinking: { type: 'enabled' } });
      expect(applyThinking(p, 'x', body, undefined)).toBe(body);
    }
  });

  it('leaves unknown providers untouched', () => {
    const body = base('ernie-4.5', { reasoning_effort: 'low' });
    expect(applyThinking('qianfan', 'ernie-4.5', body, { effort: 'high' })).toBe(body);
    expect(applyThinking('constructor', 'm', body, { effort: 'high' })).toBe(body);
  });

  it('never mutates its input', () => {
    const body = base('qwen-plus', { reasoning_effort: 'high', chat_template_kwargs: { a: 1 }, thinking: { type: 'auto', keep: 'all' } });
    const copy = structuredClone(body);
    for (const p of ['qwen', 'glm', 'deepseek', 'kimi', 'openrouter', 'openai', 'ollama', 'vllm', 'siliconflow', 'minimax', 'doubao']) {
      applyThinking(p, 'qwen-plus', body, { effort: 'low' });
      applyThinking(p, 'qwen-plus', body, OFF);
    }
    expect(body).toEqual(copy);
  });

  it('maps effort to budget and back with the documented table', () => {
    expect(EFFORT_BUDGET).toEqual({ minimal: 512, low: 1024, medium: 8192, high: 24576 });
    expect(budgetToEffort(100)).toBe('minimal');
    expect(budgetToEffort(1024)).toBe('low');
    expect(budgetToEffort(4000)).toBe('medium');
    expect(budgetToEffort(30000)).toBe('high');
  });

  it("treats effort 'none' as disabled", () => {
    expect(applyThinking('glm', 'glm-4.6', base('glm-4.6'), { effort: 'none' })).toEqual(base('glm-4.6', { thinking: { type: 'disabled' } }));
  });
});

describe('qwen (DashScope)', () => {
  it('hybrid model: on sets enable_thinking and the effort budget, and drops reasoning_effort', () => {
    expect(applyThinking('qwen', 'qwen-plus', base('qwen-plus', { reasoning_effort: 'medium' }), { effort: 'medium' })).toEqual(
      base('qwen-plus', { enable_thinking: true, thinking_budget: 8192 }),
    );
  });

  it('an explicit budget wins over the effort', () => {
    expect(applyThinking('qwen', 'qwen3-32b', base('qwen3-32b'), { effort: 'high', budgetTokens: 2000 })).toEqual(
      base('qwen3-32b', { enable_thinking: true, thinking_budget: 2000 }),
    );
  });

  it('on without effort or budget only switches thinking on', () => {
    expect(applyThinking('qwen', 'qwen3.5-plus', base('qwen3.5-plus'), {})).toEqual(base('qwen3.5-plus', { enable_thinking: true }));
  });

  it('off sets enable_thinking false and drops a budget', () => {
    expect(applyThinking('qwen', 'qwen-flash', base('qwen-flash', { thinking_budget: 99, reasoning_effort: 'low' }), OFF)).toEqual(
      base('qwen-flash', { enable_thinking: false }),
    );
  });

  it('recognises the documented hybrid families', () => {
    for (const m of ['qwen-plus', 'qwen-plus-latest', 'qwen-plus-2025-04-28', 'qwen-turbo', 'qwen3-235b-a22b', 'qwen3-30b-a3b', 'qwen3-1.7b', 'qwen3.6-plus', 'qwen3-vl-plus', 'qwen3-omni-flash', 'qwen3-max-preview']) {
      expect(applyThinking('qwen', m, base(m), OFF).enable_thinking, m).toBe(false);
    }
  });

  it('thinking-only Qwen3 models get a budget but no switch, and cannot be turned off', () => {
    const m = 'qwen3-235b-a22b-thinking-2507';
    expect(applyThinking('qwen', m, base(m), { effort: 'low' })).toEqual(base(m, { thinking_budget: 1024 }));
    expect(applyThinking('qwen', m, base(m, { reasoning_effort: 'low' }), OFF)).toEqual(base(m));
  });

  it('leaves models whose switch is not confirmed untouched', () => {
    for (const m of ['qwen-max', 'qwen3-max', 'qwen3-coder-plus', 'qwen3-235b-a22b-instruct-2507', 'qwq-plus', 'deepseek-v3.2']) {
      const body = base(m, { reasoning_effort: 'high' });
      expect(applyThinking('qwen', m, body, { effort: 'high' }), m).toBe(body);
    }
  });

  it('does not touch stream', () => {
    const body = base('qwen3-8b', { stream: false });
    expect(applyThinking('qwen', 'qwen3-8b', body, {}).stream).toBe(false);
  });
});

describe('glm (Zhipu)', () => {
  it('on / off set thinking.type and drop reasoning_effort before GLM-5.2', () => {
    expect(applyThinking('glm', 'glm-4.6', base('glm-4.6', { reasoning_effort: 'high' }), { effort: 'high' })).toEqual(
      base('glm-4.6', { thinking: { type: 'enabled' } }),
    );
    expect(applyThinking('glm', 'glm-5', base('glm-5', { reasoning_effort: 'high' }), OFF)).toEqual(base('glm-5', { thinking: { type: 'disabled' } }));
  });

  it('GLM-5.2 keeps a reasoning_effort level', () => {
    expect(applyThinking('glm', 'glm-5.2', base('glm-5.2'), { effort: 'max' })).toEqual(
      base('glm-5.2', { thinking: { type: 'enabled' }, reasoning_effort: 'max' }),
    );
    expect(applyThinking('glm', 'glm-5.2', base('glm-5.2'), { budgetTokens: 2000 })).toEqual(
      base('glm-5.2', { thinking: { type: 'enabled' }, reasoning_effort: 'medium' }),
    );
  });

  it('keeps other keys the client put in thinking', () => {
    expect(applyThinking('glm', 'glm-4.7', base('glm-4.7', { thinking: { type: 'disabled', foo: 1 } }), {})).toEqual(
      base('glm-4.7', { thinking: { type: 'enabled', foo: 1 } }),
    );
  });

  it('leaves pre-4.5 models untouched', () => {
    const body = base('glm-4-plus', { reasoning_effort: 'low' });
    expect(applyThinking('glm', 'glm-4-plus', body, { effort: 'low' })).toBe(body);
  });
});

describe('doubao (Volcengine Ark)', () => {
  it('on / off set thinking.type on seed models', () => {
    const m = 'doubao-seed-1-6-251015';
    expect(applyThinking('doubao', m, base(m, { reasoning_effort: 'low' }), { effort: 'low' })).toEqual(base(m, { thinking: { type: 'enabled' } }));
    expect(applyThinking('doubao', m, base(m), OFF)).toEqual(base(m, { thinking: { type: 'disabled' } }));
    expect(applyThinking('doubao', 'doubao-seed-1-6-flash-250828', base('x'), OFF).thinking).toEqual({ type: 'disabled' });
    expect(applyThinking('doubao', 'doubao-seed-1-8-251228', base('x'), {}).thinking).toEqual({ type: 'enabled' });
  });

  it('leaves endpoint ids and non-thinking models untouched', () => {
    for (const m of ['ep-20250101-abcde', 'doubao-1-5-pro-32k-250115']) {
      const body = base(m, { reasoning_effort: 'low' });
      expect(applyThinking('doubao', m, body, { effort: 'low' })).toBe(body);
    }
  });
});

describe('deepseek', () => {
  it('on sets thinking enabled and a documented effort', () => {
    expect(applyThinking('deepseek', 'deepseek-v4-pro', base('deepseek-v4-pro'), { effort: 'high' })).toEqual(
      base('deepseek-v4-pro', { thinking: { type: 'enabled' }, reasoning_effort: 'high' }),
    );
    expect(applyThinking('deepseek', 'deepseek-v4-flash', base('x'), { effort: 'minimal' }).reasoning_effort).toBe('low');
    expect(applyThinking('deepseek', 'deepseek-v4-flash', base('x'), { effort: 'max' }).reasoning_effort).toBe('max');
    expect(applyThinking('deepseek', 'deepseek-chat', base('x', { reasoning_effort: 'high' }), {})).toEqual(base('x', { thinking: { type: 'enabled' } }));
  });

  it('off sets thinking disabled and drops reasoning_effort', () => {
    expect(applyThinking('deepseek', 'deepseek-chat', base('deepseek-chat', { reasoning_effort: 'high' }), OFF)).toEqual(
      base('deepseek-chat', { thinking: { type: 'disabled' } }),
    );
  });

  it('deepseek-reasoner gets no thinking field', () => {
    expect(applyThinking('deepseek', 'deepseek-reasoner', base('r'), { effort: 'high' })).toEqual(base('r', { reasoning_effort: 'high' }));
    expect(applyThinking('deepseek', 'deepseek-reasoner', base('r', { reasoning_effort: 'high' }), OFF)).toEqual(base('r'));
  });
});

describe('kimi (Moonshot)', () => {
  it('k2.5 / k2.6 switch thinking.type and keep other thinking keys', () => {
    expect(applyThinking('kimi', 'kimi-k2.5', base('kimi-k2.5'), OFF)).toEqual(base('kimi-k2.5', { thinking: { type: 'disabled' } }));
    expect(applyThinking('kimi', 'kimi-k2.6', base('kimi-k2.6', { thinking: { keep: 'all' } }), { effort: 'high' })).toEqual(
      base('kimi-k2.6', { thinking: { keep: 'all', type: 'enabled' } }),
    );
  });

  it('leaves forced-thinking, non-thinking and unconfirmed models untouched', () => {
    for (const m of ['kimi-k2-thinking', 'kimi-k2-thinking-turbo', 'kimi-k2.7-code', 'kimi-k2-turbo-preview', 'moonshot-v1-32k', 'kimi-k3']) {
      const body = base(m);
      expect(applyThinking('kimi', m, body, OFF), m).toBe(body);
      expect(applyThinking('kimi', m, body, { effort: 'high' }), m).toBe(body);
    }
  });
});

describe('minimax', () => {
  it('on asks for reasoning_split and drops reasoning_effort', () => {
    expect(applyThinking('minimax', 'MiniMax-M2.7', base('MiniMax-M2.7', { reasoning_effort: 'high' }), { effort: 'high' })).toEqual(
      base('MiniMax-M2.7', { reasoning_split: true }),
    );
  });

  it('off cannot switch thinking off; only drops reasoning_effort', () => {
    expect(applyThinking('minimax', 'MiniMax-M2', base('MiniMax-M2', { reasoning_effort: 'low' }), OFF)).toEqual(base('MiniMax-M2'));
  });

  it('leaves non-M models untouched', () => {
    const body = base('abab6.5s-chat');
    expect(applyThinking('minimax', 'abab6.5s-chat', body, {})).toBe(body);
  });
});

describe('siliconflow', () => {
  it('on sets enable_thinking and a budget clamped to 128..32768', () => {
    const m = 'Qwen/Qwen3-32B';
    expect(applyThinking('siliconflow', m, base(m, { reasoning_effort: 'high' }), { effort: 'high' })).toEqual(
      base(m, { enable_thinking: true, thinking_budget: 24576 }),
    );
    expect(applyThinking('siliconflow', m, base(m), { budgetTokens: 64 }).thinking_budget).toBe(128);
    expect(applyThinking('siliconflow', m, base(m), { budgetTokens: 100000 }).thinking_budget).toBe(32768);
    expect(applyThinking('siliconflow', 'Pro/zai-org/GLM-4.7', base('x'), {})).toEqual(base('x', { enable_thinking: true }));
  });

  it('off sets enable_thinking false', () => {
    const m = 'deepseek-ai/DeepSeek-V3.2';
    expect(applyThinking('siliconflow', m, base(m, { thinking_budget: 4096 }), OFF)).toEqual(base(m, { enable_thinking: false }));
  });

  it('leaves models outside the documented list untouched', () => {
    for (const m of ['deepseek-ai/DeepSeek-R1', 'deepseek-ai/DeepSeek-V4-Flash', 'Qwen/Qwen3-235B-A22B-Thinking-2507', 'moonshotai/Kimi-K2-Thinking']) {
      const body = base(m, { reasoning_effort: 'high' });
      expect(applyThinking('siliconflow', m, body, { effort: 'high' }), m).toBe(body);
    }
  });
});

describe('openrouter', () => {
  it('effort goes into the reasoning object, and the top-level reasoning_effort is removed', () => {
    expect(applyThinking('openrouter', 'openai/gpt-5', base('openai/gpt-5', { reasoning_effort: 'low' }), { effort: 'low' })).toEqual(
      base('openai/gpt-5', { reasoning: { effort: 'low' } }),
    );
    expect(applyThinking('openrouter', 'x/y', base('x/y'), { effort: 'xhigh' }).reasoning).toEqual({ effort: 'xhigh' });
  });

  it('an explicit budget becomes max_tokens; with neither, enabled: true', () => {
    expect(applyThinking('openrouter', 'anthropic/claude-sonnet-4.5', base('a'), { budgetTokens: 2000, effort: 'high' }).reasoning).toEqual({ max_tokens: 2000 });
    expect(applyThinking('openrouter', 'a/b', base('a'), {}).reasoning).toEqual({ enabled: true });
  });

  it("off is effort 'none'; the client's exclude survives, conflicting keys do not", () => {
    expect(applyThinking('openrouter', 'a/b', base('a', { reasoning: { exclude: true, max_tokens: 10, enabled: true } }), OFF)).toEqual(
      base('a', { reasoning: { exclude: true, effort: 'none' } }),
    );
  });
});

describe('openai', () => {
  it('gpt-5: minimal..high, off → minimal', () => {
    expect(applyThinking('openai', 'gpt-5', base('gpt-5'), { effort: 'minimal' })).toEqual(base('gpt-5', { reasoning_effort: 'minimal' }));
    expect(applyThinking('openai', 'gpt-5-mini', base('gpt-5-mini'), OFF)).toEqual(base('gpt-5-mini', { reasoning_effort: 'minimal' }));
    expect(applyThinking('openai', 'gpt-5-nano', base('x'), { budgetTokens: 30000 }).reasoning_effort).toBe('high');
  });

  it("gpt-5.1+: off → none, minimal → low, on with no level → medium", () => {
    expect(applyThinking('openai', 'gpt-5.1', base('gpt-5.1'), OFF)).toEqual(base('gpt-5.1', { reasoning_effort: 'none' }));
    expect(applyThinking('openai', 'gpt-5.2', base('x'), { effort: 'minimal' }).reasoning_effort).toBe('low');
    expect(applyThinking('openai', 'gpt-5.1', base('x', { reasoning_effort: 'none' }), {}).reasoning_effort).toBe('medium');
  });

  it('o-series and codex: low..high, off → low', () => {
    expect(applyThinking('openai', 'o3', base('o3'), { effort: 'high' })).toEqual(base('o3', { reasoning_effort: 'high' }));
    expect(applyThinking('openai', 'o4-mini', base('x'), { effort: 'minimal' }).reasoning_effort).toBe('low');
    expect(applyThinking('openai', 'o3-mini', base('x'), OFF).reasoning_effort).toBe('low');
    expect(applyThinking('openai', 'gpt-5-codex', base('x'), OFF).reasoning_effort).toBe('low');
    expect(applyThinking('openai', 'o3', base('x', { reasoning_effort: 'low' }), {}).reasoning_effort).toBe('low');
    expect(applyThinking('openai', 'o3', base('x'), {})).toEqual(base('x'));
  });

  it('removes reasoning_effort for models that reject it', () => {
    for (const m of ['gpt-4o', 'gpt-4.1', 'gpt-4o-mini', 'gpt-5-chat-latest', 'gpt-5.1-chat-latest', 'o1-mini']) {
      expect(applyThinking('openai', m, base(m, { reasoning_effort: 'high' }), { effort: 'high' }), m).toEqual(base(m));
      expect(applyThinking('openai', m, base(m, { reasoning_effort: 'high' }), OFF), m).toEqual(base(m));
    }
  });

  it('leaves -pro models untouched', () => {
    const body = base('gpt-5-pro', { reasoning_effort: 'high' });
    expect(applyThinking('openai', 'gpt-5-pro', body, OFF)).toBe(body);
  });
});

describe('ollama', () => {
  it('writes an allowed reasoning_effort and removes the reasoning object', () => {
    expect(applyThinking('ollama', 'qwen3:8b', base('qwen3:8b', { reasoning: { effort: 'high' } }), { effort: 'low' })).toEqual(
      base('qwen3:8b', { reasoning_effort: 'low' }),
    );
    expect(applyThinking('ollama', 'qwen3:8b', base('x'), { effort: 'minimal' }).reasoning_effort).toBe('low');
    expect(applyThinking('ollama', 'qwen3:8b', base('x'), {}).reasoning_effort).toBe('medium');
    expect(applyThinking('ollama', 'qwen3:8b', base('x'), { budgetTokens: 20000 }).reasoning_effort).toBe('high');
  });

  it("off is reasoning_effort 'none'", () => {
    expect(applyThinking('ollama', 'deepseek-r1', base('d', { reasoning_effort: 'high' }), OFF)).toEqual(base('d', { reasoning_effort: 'none' }));
  });
});

describe('vllm', () => {
  it('sets the chat-template switches and keeps the client kwargs', () => {
    expect(applyThinking('vllm', 'Qwen/Qwen3-8B', base('q', { chat_template_kwargs: { add_vision_id: true } }), { effort: 'medium' })).toEqual(
      base('q', { chat_template_kwargs: { add_vision_id: true, enable_thinking: true, thinking: true }, reasoning_effort: 'medium' }),
    );
    expect(applyThinking('vllm', 'q', base('q'), { effort: 'minimal' }).reasoning_effort).toBe('low');
  });

  it('off turns both switches off and drops reasoning_effort', () => {
    expect(applyThinking('vllm', 'q', base('q', { reasoning_effort: 'high' }), OFF)).toEqual(
      base('q', { chat_template_kwargs: { enable_thinking: false, thinking: false } }),
    );
  });

  it('drops a reasoning_effort vLLM would reject, keeps a valid one', () => {
    expect(applyThinking('vllm', 'q', base('q', { reasoning_effort: 'minimal' }), {}).reasoning_effort).toBeUndefined();
    expect(applyThinking('vllm', 'q', base('q', { reasoning_effort: 'high' }), {}).reasoning_effort).toBe('high');
  });
});

describe('reasoningRequired', () => {
  it('deepseek: every model', () => {
    for (const m of ['deepseek-chat', 'deepseek-reasoner', 'deepseek-v4-pro', 'deepseek-v4-flash']) expect(reasoningRequired('deepseek', m), m).toBe(true);
  });

  it('kimi: thinking models only', () => {
    for (const m of ['kimi-k2-thinking', 'kimi-k2-thinking-turbo', 'kimi-k2.5', 'kimi-k2.6', 'kimi-k2.7-code', 'kimi-k3']) expect(reasoningRequired('kimi', m), m).toBe(true);
    for (const m of ['moonshot-v1-32k', 'kimi-k2-turbo-preview', 'kimi-k2-0905-preview']) expect(reasoningRequired('kimi', m), m).toBe(false);
  });

  it('glm: 4.5 and later', () => {
    for (const m of ['glm-4.5', 'glm-4.5-air', 'glm-4.6', 'glm-4.7', 'glm-5', 'glm-5.1']) expect(reasoningRequired('glm', m), m).toBe(true);
    for (const m of ['glm-4-plus', 'glm-4-flash']) expect(reasoningRequired('glm', m), m).toBe(false);
  });

  it('minimax: the M family', () => {
    expect(reasoningRequired('minimax', 'MiniMax-M2.7')).toBe(true);
    expect(reasoningRequired('minimax', 'MiniMax-M2')).toBe(true);
    expect(reasoningRequired('minimax', 'abab6.5s-chat')).toBe(false);
  });

  it('openrouter: follows the vendor behind the slug', () => {
    expect(reasoningRequired('openrouter', 'deepseek/deepseek-v4-pro')).toBe(true);
    expect(reasoningRequired('openrouter', 'moonshotai/kimi-k2-thinking')).toBe(true);
    expect(reasoningRequired('openrouter', 'moonshotai/kimi-k2-0905')).toBe(false);
    expect(reasoningRequired('openrouter', 'z-ai/glm-4.6')).toBe(true);
    expect(reasoningRequired('openrouter', 'z-ai/glm-4.6:exacto')).toBe(true);
    expect(reasoningRequired('openrouter', 'minimax/minimax-m2')).toBe(true);
    expect(reasoningRequired('openrouter', 'openai/gpt-5')).toBe(false);
    expect(reasoningRequired('openrouter', 'auto')).toBe(false);
  });

  it('everyone else: false', () => {
    for (const p of ['openai', 'qwen', 'doubao', 'siliconflow', 'ollama', 'vllm', 'qianfan']) expect(reasoningRequired(p, 'any-model'), p).toBe(false);
  });
});

describe('reasoningField', () => {
  it('names the field each provider reads', () => {
    expect(reasoningField('openai')).toBeUndefined();
    expect(reasoningField('openrouter')).toBe('reasoning');
    expect(reasoningField('ollama')).toBe('reasoning');
    expect(reasoningField('minimax')).toBe('reasoning_details');
    for (const p of ['deepseek', 'kimi', 'glm', 'qwen', 'doubao', 'siliconflow', 'vllm', 'qianfan']) expect(reasoningField(p), p).toBe('reasoning_content');
  });
});
