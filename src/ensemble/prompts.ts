/**
 * Every prompt the virtual models write, and the parsers for the formats those prompts ask for,
 * kept together so a format and its parser change at the same time.
 */
import type { Message } from '../core/types.js';

// ---------------------------------------------------------------------------------------------
// Shared helpers

/** The conversation as plain text, for prompts that show it to a verifier, judge or planner. */
export function renderTranscript(messages: readonly Message[]): string {
  const lines: string[] = [];
  for (const m of messages) {
    switch (m.role) {
      case 'system':
        lines.push(`[system]\n${m.content}`);
        break;
      case 'user':
        lines.push(`[user]\n${m.content.map((p) => (p.type === 'text' ? p.text : '[image]')).join('\n')}`);
        break;
      case 'assistant': {
        const calls = (m.toolCalls ?? []).map((c) => `[calls tool ${c.name}(${c.arguments})]`);
        lines.push(`[assistant]\n${[m.content, ...calls].filter((s) => s !== '').join('\n')}`);
        break;
      }
      case 'tool':
        lines.push(`[tool result${m.isError ? ' (error)' : ''}]\n${m.content}`);
        break;
    }
  }
  return lines.join('\n\n');
}

/**
 * Adds instructions as the system message: after the client's own first system message when
 * there is one (so one system message reaches providers that allow only one), else in front.
 */
export function withSystem(messages: readonly Message[], instructions: string): Message[] {
  const [first, ...rest] = messages;
  if (first?.role === 'system') return [{ role: 'system', content: `${first.content}\n\n${instructions}` }, ...rest];
  return [{ role: 'system', content: instructions }, ...messages];
}

export function userText(text: string): Message {
  return { role: 'user', content: [{ type: 'text', text }] };
}

function numbered(answers: readonly string[]): string {
  return answers.map((a, i) => `${i + 1}. ${a}`).join('\n\n');
}

/** A line's content with markdown decoration (`**`, `_`, backticks, `#`, `>`) removed. */
function bare(line: string): string {
  return line.replace(/[*_`#>]/g, '').trim();
}

// ---------------------------------------------------------------------------------------------
// cascade: verifier

export const VERIFIER_DEFAULT_CRITERIA =
  'You check whether an AI assistant answered the conversation below correctly and completely. ' +
  'Check facts, reasoning, arithmetic and whether every part of the request was addressed. ' +
  'Be strict: if you are not confident the answer is correct, it fails.';

export const VERIFIER_FORMAT =
  'Reply with your verdict on the FIRST line, exactly one word: PASS if the answer is acceptable, FAIL otherwise. ' +
  'You may explain briefly on the following lines.';

export function verifierMessages(conversation: readonly Message[], answer: string, criteria?: string): Message[] {
  return [
    { role: 'system', content: `${criteria ?? VERIFIER_DEFAULT_CRITERIA}\n\n${VERIFIER_FORMAT}` },
    userText(`<conversation>\n${renderTranscript(conversation)}\n</conversation>\n\n<answer>\n${answer}\n</answer>\n\nVerdict (PASS or FAIL on the first line):`),
  ];
}

/**
 * Accepts only a clear verdict: the first non-empty line, markdown and a trailing period aside,
 * is exactly PASS or YES (case-insensitive), optionally followed by `:`/`-`/`—` and an explanation.
 * Anything else (FAIL, NO, hedging, empty) is a failure.
 */
export function parseVerdict(text: string): boolean {
  const first = text.split('\n').map(bare).find((l) => l !== '');
  if (first === undefined) return false;
  return /^(pass|yes)(\.|\s*[:\-—–]\s.*|\s*[:\-—–])?$/i.test(first);
}

// ---------------------------------------------------------------------------------------------
// moa: the aggregate-and-synthesize prompt of the Mixture-of-Agents paper (Wang et al., 2024,
// arXiv:2406.04692, table 1), given to the aggregator and to proposers of layers after the first.

export const MOA_AGGREGATE =
  'You have been provided with a set of responses from various models to the latest user query. ' +
  'Your task is to synthesize these responses into a single, high-quality response. ' +
  'It is crucial to critically evaluate the information provided in these responses, recognizing that some of it may be biased or incorrect. ' +
  'Your response should not simply replicate the given answers but should offer a refined, accurate, and comprehensive reply to the instruction. ' +
  'Ensure your response is well-structured, coherent, and adheres to the highest standards of accuracy and reliability.\n\n' +
  'Responses from models:';

export function moaMessages(conversation: readonly Message[], answers: readonly string[]): Message[] {
  return withSystem(conversation, `${MOA_AGGREGATE}\n\n${numbered(answers)}`);
}

// ---------------------------------------------------------------------------------------------
// judge

export const JUDGE_DEFAULT_RUBRIC =
  'Judge how well the response serves the user: correctness first, then completeness, relevance, clarity and concision. ' +
  'Do not favour length for its own sake.';

export function pointwiseMessages(conversation: readonly Message[], answer: string, rubric?: string): Message[] {
  return [
    {
      role: 'system',
      content:
        'You are an impartial judge of AI assistant responses.\n\n' +
        `Rubric: ${rubric ?? JUDGE_DEFAULT_RUBRIC}\n\n` +
        'Think briefly, then end your reply with a line of exactly this form, where N is an integer from 1 (worst) to 10 (best):\n' +
        'SCORE: N',
    },
    userText(`<conversation>\n${renderTranscript(conversation)}\n</conversation>\n\n<response>\n${answer}\n</response>\n\nScore the response. End with \`SCORE: N\`.`),
  ];
}

/** The last `SCORE: N` line (N an integer 1–10, optionally written `N/10`); undefined when there is none. */
export function parseScore(text: string): number | undefined {
  let score: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^score\s*:\s*(\d{1,2})\s*(?:\/\s*10)?\.?$/i.exec(bare(line));
    if (!m) continue;
    const n = Number(m[1]);
    if (n >= 1 && n <= 10) score = n;
  }
  return score;
}

export function pairwiseMessages(conversation: readonly Message[], a: string, b: string, rubric?: string): Message[] {
  return [
    {
      role: 'system',
      content:
        'You are an impartial judge comparing two AI assistant responses to the same conversation. ' +
        'Ignore the order in which they are shown and their length.\n\n' +
        `Rubric: ${rubric ?? JUDGE_DEFAULT_RUBRIC}\n\n` +
        'Think briefly, then end your reply with a line of exactly one of these forms:\n' +
        'WINNER: A\nWINNER: B\nWINNER: TIE',
    },
    userText(
      `<conversation>\n${renderTranscript(conversation)}\n</conversation>\n\n<response_a>\n${a}\n</response_a>\n\n<response_b>\n${b}\n</response_b>\n\n` +
        'Which response is better? End with `WINNER: A`, `WINNER: B` or `WINNER: TIE`.',
    ),
  ];
}

/** The last `WINNER: A|B|TIE` line; undefined when there is none. */
export function parseWinner(text: string): 'A' | 'B' | 'TIE' | undefined {
  let winner: 'A' | 'B' | 'TIE' | undefined;
  for (const line of text.split('\n')) {
    const m = /^winner\s*:\s*(a|b|tie)\.?$/i.exec(bare(line));
    if (m) winner = m[1]!.toUpperCase() as 'A' | 'B' | 'TIE';
  }
  return winner;
}

// ---------------------------------------------------------------------------------------------
// decompose

export interface WorkerSkills {
  readonly model: string;
  readonly skills: readonly string[];
}

export function plannerMessages(conversation: readonly Message[], workers: readonly WorkerSkills[], maxTasks: number): Message[] {
  const skills = [...new Set(workers.flatMap((w) => w.skills))];
  return [
    {
      role: 'system',
      content:
        'You are a planner. Break the request in the conversation below into a small number of self-contained sub-tasks ' +
        'that other assistants will carry out; a final writer will then combine their results into the answer.\n\n' +
        'Reply with ONE JSON object and nothing else, of this form:\n' +
        '{"tasks":[{"id":"t1","task":"what to do, with every detail the worker needs","skill":"one of the skills","depends_on":[]},' +
        '{"id":"t2","task":"…","skill":"…","depends_on":["t1"]}]}\n\n' +
        'Rules:\n' +
        '- ids are short unique strings; depends_on lists ids of tasks whose results this task needs (use [] when none).\n' +
        '- No cycles. Tasks that do not depend on each other run in parallel, so only add dependencies that are real.\n' +
        `- At most ${maxTasks} tasks; use a single task when the request is simple.\n` +
        '- Workers see the conversation, their task and the results of the tasks it depends on, nothing else.\n' +
        (skills.length > 0 ? `- skill is one of: ${skills.join(', ')} (omit it when none fits).\n` : '- Omit skill.\n'),
    },
    userText(`<conversation>\n${renderTranscript(conversation)}\n</conversation>\n\nReply with the JSON plan only.`),
  ];
}

export interface DoneTask {
  readonly id: string;
  readonly task: string;
  /** The result, or undefined when the task failed. */
  readonly result: string | undefined;
  readonly error?: string;
}

function renderResults(tasks: readonly DoneTask[]): string {
  return tasks
    .map((t) => `### ${t.id}: ${t.task}\n${t.result ?? `(this sub-task failed: ${t.error ?? 'unknown error'})`}`)
    .join('\n\n');
}

export function workerMessages(conversation: readonly Message[], task: { id: string; task: string }, deps: readonly DoneTask[]): Message[] {
  const context = deps.length > 0 ? `\n\nResults of the sub-tasks this one builds on:\n\n${renderResults(deps)}` : '';
  return [
    {
      role: 'system',
      content:
        'You are one of several assistants working on parts of a larger request. Do only your sub-task, thoroughly, ' +
        'and reply with its result alone; another assistant will combine the results.',
    },
    userText(`<conversation>\n${renderTranscript(conversation)}\n</conversation>\n\nYour sub-task (${task.id}): ${task.task}${context}`),
  ];
}

export const SYNTHESIZE =
  'The request has been broken into sub-tasks, and other assistants have carried them out. ' +
  'Their results are below. Write the final answer to the user from them: complete, coherent and in your own words; ' +
  'fix mistakes you notice and do not mention the sub-tasks or the other assistants.\n\nSub-task results:';

export function synthesizerMessages(conversation: readonly Message[], tasks: readonly DoneTask[]): Message[] {
  return withSystem(conversation, `${SYNTHESIZE}\n\n${renderResults(tasks)}`);
}
