import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compile, nestedQuantifier, testWithin } from '../../src/eval/assertions/regex.js';
import { loadSuite, parseSuite } from '../../src/eval/suite.js';
import { render } from '../../src/eval/template.js';
import { SuiteError } from '../../src/eval/types.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/eval');
const dir = mkdtempSync(join(tmpdir(), 'baimo-eval-suite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const problem = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(SuiteError);
    return (err as Error).message;
  }
  throw new Error('expected a SuiteError');
};

describe('suite loading', () => {
  it('reads a promptfoo-shaped suite: prompts, providers, defaultTest merged into tests, a JSONL data set beside it', () => {
    const s = loadSuite(join(FIXTURES, 'pass.yaml'));
    expect(s.description).toBe('A suite that passes');
    expect(s.prompts).toEqual([{ label: 'Say {{ q }}', messages: [{ role: 'user', content: 'Say {{ q }}' }] }]);
    expect(s.providers).toEqual([{ id: 'loop/gpt-test', label: 'loop/gpt-test', config: {} }]);
    expect(s.tests).toHaveLength(3);
    expect(s.tests[0]!.assert.map((a) => a.type)).toEqual(['starts-with', 'contains']);
    expect(s.tests[1]).toMatchObject({ vars: { q: 'one' } });
    expect(s.tests[2]!.assert.map((a) => a.type)).toEqual(['starts-with']);
    expect(s.threshold).toBe(1);
  });

  it('reads CSV columns as vars and __expected cells as promptfoo does', () => {
    const s = parseSuite({ prompts: ['{{q}}'], providers: ['m'], tests: 'file://data/cases.csv' }, join(FIXTURES, 'x.yaml'));
    expect(s.tests.map((t) => t.vars)).toEqual([{ q: 'alpha' }, { q: 'beta, with a comma' }, { q: 'gamma' }]);
    expect(s.tests[0]!.assert).toEqual([
      { type: 'contains', value: 'alpha', weight: 1 },
      { type: 'not-icontains', value: 'GOODBYE', weight: 1 },
    ]);
    expect(s.tests[1]!.assert.map((a) => a.type)).toEqual(['regex', 'is-json']);
    expect(s.tests[2]!.assert).toEqual([{ type: 'equals', value: 'Hello from gpt-test! You said: gamma', weight: 1 }]);
    expect(s.tests[0]!.description).toBe('first row');
    const lists = parseSuite({ prompts: ['{{q}}'], providers: ['m'], tests: 'file://data/lists.csv' }, join(FIXTURES, 'x.yaml'));
    expect(lists.tests[0]!.assert).toEqual([{ type: 'contains-any', value: ['zeta', 'alpha'], weight: 1 }]);
  });

  it('takes chat prompts as YAML message lists and as JSON strings, and provider objects with labels and options', () => {
    const s = parseSuite(
      {
        prompts: [[{ role: 'system', content: 'Be brief.' }, { role: 'user', content: '{{q}}' }], '[{"role":"user","content":"json {{q}}"}]', { raw: 'plain', label: 'P' }],
        providers: [{ id: 'loop/gpt-test', label: 'cheap', config: { temperature: 0, max_tokens: 20 } }],
        tests: [{ vars: { q: 'x' } }],
      },
      join(dir, 's.yaml'),
    );
    expect(s.prompts.map((p) => p.messages.length)).toEqual([2, 1, 1]);
    expect(s.prompts[1]!.messages[0]).toEqual({ role: 'user', content: 'json {{q}}' });
    expect(s.prompts[2]!.label).toBe('P');
    expect(s.providers[0]).toEqual({ id: 'loop/gpt-test', label: 'cheap', config: { temperature: 0, max_tokens: 20 } });
  });

  it('reads prompt files (text, or JSON chat messages) from inside the suite folder', () => {
    const s = parseSuite({ prompts: ['file://data/prompt.txt', 'file://data/chat.json'], providers: ['m'] }, join(FIXTURES, 'x.yaml'));
    expect(s.prompts[0]!.messages).toEqual([{ role: 'user', content: 'Answer briefly: {{ q }}\n' }]);
    expect(s.prompts[1]!.messages).toEqual([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: '{{q}}' }]);
    write('outside.txt', 'secret {{q}}');
    mkdirSync(join(dir, 'prompts-inner'), { recursive: true });
    expect(problem(() => parseSuite({ prompts: ['file://../outside.txt'], providers: ['m'] }, join(dir, 'prompts-inner', 'x.yaml')))).toContain("outside the suite's folder");
    expect(problem(() => parseSuite({ prompts: ['file://prompt.py'], providers: ['m'] }, join(FIXTURES, 'x.yaml')))).toContain('run code');
    expect(problem(() => parseSuite({ prompts: ['file://data/cases.jsonl.json'], providers: ['m'] }, join(FIXTURES, 'x.yaml')))).toContain('file not found');
  });

  it("a test's providers filter (label, id or prefix*) picks the providers it runs on", () => {
    const s = parseSuite(
      { prompts: ['p'], providers: [{ id: 'loop/a', label: 'fast' }, 'loop/b', 'other/c'], tests: [{}, { providers: ['fast'] }, { providers: ['loop/*'] }, { providers: ['other/c', 'loop/b'] }] },
      join(dir, 's.yaml'),
    );
    expect(s.tests.map((t) => t.providers)).toEqual([[0, 1, 2], [0], [0, 1], [1, 2]]);
    expect(problem(() => parseSuite({ prompts: ['p'], providers: ['m'], tests: [{ providers: ['nope'] }] }, join(dir, 's.yaml')))).toContain('tests[0].providers: ["nope"] matches none');
  });

  it('substitutes {{ var }} without running anything, and refuses template code', () => {
    expect(render('a {{ x }} b {{y.z}} {{ list[1] }} {{ o | dump }} {{ missing }}.', { x: 1, y: { z: 'deep' }, list: ['p', 'q'], o: { k: [1] } })).toBe('a 1 b deep q {"k":[1]} .');
    expect(render('{{ constructor }}{{ __proto__ }}', {})).toBe('');
    expect(problem(() => parseSuite({ prompts: ['{% for x in y %}{% endfor %}'], providers: ['m'] }, join(dir, 's.yaml')))).toContain('prompts[0]');
    expect(problem(() => parseSuite({ prompts: ['{{ x | safe }}'], providers: ['m'] }, join(dir, 's.yaml')))).toContain("unknown filter 'safe'");
    expect(problem(() => parseSuite({ prompts: ["{{ range(10) }}"], providers: ['m'] }, join(dir, 's.yaml')))).toContain('not a variable reference');
  });

  it('names the YAML path of a problem', () => {
    const msg = problem(() => parseSuite({ prompts: ['p'], providers: ['m'], tests: [{ vars: {} }, { assert: [{ type: 'contains', value: 3 }] }] }, join(dir, 's.yaml')));
    expect(msg).toContain('tests[1].assert[0].value');
    expect(problem(() => parseSuite({ prompts: ['p'], providers: ['m'], tests: [{ asert: [] }] }, join(dir, 's.yaml')))).toContain("tests[0]: unknown key 'asert'");
    expect(problem(() => parseSuite({ prompts: ['p'], providers: [], tests: [] }, join(dir, 's.yaml')))).toContain('providers');
    expect(problem(() => parseSuite({ prompts: ['p'], providers: ['m'], tests: [{ assert: [{ type: 'cost' }] }] }, join(dir, 's.yaml')))).toContain('tests[0].assert[0].threshold');
    expect(problem(() => parseSuite({ prompts: ['p'], providers: ['m'], tests: [{ assert: [{ type: 'json-schema', value: { type: 'nonsense' } }] }] }, join(dir, 's.yaml')))).toContain('not a valid JSON schema');
  });
});

describe('hostile suites', () => {
  it('bad YAML is a clear error, not a crash', () => {
    const p = write('bad.yaml', 'prompts: [unclosed\nproviders: ]]]\n');
    expect(problem(() => loadSuite(p))).toMatch(/bad\.yaml: not valid YAML/);
    expect(problem(() => loadSuite(join(dir, 'missing.yaml')))).toContain('file not found');
  });

  it('an unknown assertion type lists the known ones', () => {
    const msg = problem(() => parseSuite({ prompts: ['p'], providers: ['m'], tests: [{ assert: [{ type: 'javascript', value: 'process.exit(1)' }] }] }, join(dir, 's.yaml')));
    expect(msg).toContain("tests[0].assert[0].type: unknown assertion type 'javascript'");
    expect(msg).toContain('llm-rubric');
  });

  it('a regex that backtracks exponentially is refused at load; one that slips through is stopped', () => {
    expect(problem(() => parseSuite({ prompts: ['p'], providers: ['m'], tests: [{ assert: [{ type: 'regex', value: '^(a+)+$' }] }] }, join(dir, 's.yaml')))).toContain('exponential');
    expect(problem(() => parseSuite({ prompts: ['p'], providers: ['m'], tests: [{ assert: [{ type: 'regex', value: '(' }] }] }, join(dir, 's.yaml')))).toContain('not a valid regular expression');
    expect(problem(() => parseSuite({ prompts: ['p'], providers: ['m'], tests: [{ assert: [{ type: 'regex', value: 'a'.repeat(1001) }] }] }, join(dir, 's.yaml')))).toContain('at most 1000');
    expect(nestedQuantifier('(\\w+\\s?)*$')).toBe(true);
    expect(nestedQuantifier('(?:ab)+c{2,5}[a+]*\\(x+\\)+')).toBe(false);
    // (a|a)* passes the check but would take minutes: the time limit stops it.
    expect(testWithin(compile('^(a|a)*b$', 'x'), 'a'.repeat(40), 200)).toBeUndefined();
    expect(testWithin(compile('^a+b$', 'x'), 'aaab')).toBe(true);
  });

  it('file:// may not leave the suite folder, by path or by symbolic link', () => {
    mkdirSync(join(dir, 'inner'), { recursive: true });
    write('secret.csv', 'q\nsecret\n');
    symlinkSync(join(dir, 'secret.csv'), join(dir, 'inner', 'link.csv'));
    const suite = (ref: string) => () => parseSuite({ prompts: ['{{q}}'], providers: ['m'], tests: ref }, join(dir, 'inner', 's.yaml'));
    expect(problem(suite('file://../secret.csv'))).toContain("outside the suite's folder");
    expect(problem(suite('file:///etc/passwd'))).toContain("outside the suite's folder");
    expect(problem(suite('file://link.csv'))).toContain("outside the suite's folder");
    expect(problem(suite('file://nope.csv'))).toContain('file not found');
  });

  it('a million tests is refused with the limit, quickly and without a crash', () => {
    write('million.jsonl', '{}\n'.repeat(1_000_000));
    expect(problem(() => parseSuite({ prompts: ['{{q}}'], providers: ['m'], tests: 'file://million.jsonl' }, join(dir, 's.yaml')))).toContain('more than 100000 tests');
    write('million.csv', `q\n${'x\n'.repeat(1_000_000)}`);
    expect(problem(() => parseSuite({ prompts: ['{{q}}'], providers: ['m'], tests: 'file://million.csv' }, join(dir, 's.yaml')))).toContain('more than 100000 rows');
    // Bigger than the file limit: refused before it is read.
    write('huge.jsonl', '{"vars":{"q":"x"}}\n'.repeat(1_000_000));
    expect(problem(() => parseSuite({ prompts: ['{{q}}'], providers: ['m'], tests: 'file://huge.jsonl' }, join(dir, 's.yaml')))).toContain('at most 16777216');
    // Inline: within the test limit, but too many calls planned.
    const tests = Array.from({ length: 30_000 }, () => ({}));
    expect(problem(() => parseSuite({ prompts: ['a', 'b'], providers: ['m'], tests }, join(dir, 's.yaml')))).toContain('60000 model calls');
  });

  it('a YAML alias bomb is refused', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`), 'prompts: [p]', 'providers: [m]'].join('\n');
    expect(problem(() => loadSuite(write('bomb.yaml', bomb)))).toMatch(/not valid YAML|alias/i);
  });

  it('code-running CSV expectations are refused', () => {
    write('code.csv', 'q,__expected\nx,javascript:process.exit(1)\n');
    expect(problem(() => parseSuite({ prompts: ['{{q}}'], providers: ['m'], tests: 'file://code.csv' }, join(dir, 's.yaml')))).toContain('run code');
    write('cols.csv', 'q,__weird\nx,y\n');
    expect(problem(() => parseSuite({ prompts: ['{{q}}'], providers: ['m'], tests: 'file://cols.csv' }, join(dir, 's.yaml')))).toContain("unknown special column '__weird'");
  });
});

describe('hostile JSON schemas', () => {
  it('a schema pattern that backtracks exponentially is refused, with its path', () => {
    const schema = { type: 'object', properties: { name: { type: 'string', pattern: '^(\\w+\\s?)+$' } } };
    const msg = problem(() => parseSuite({ prompts: ['p'], providers: ['m'], tests: [{ assert: [{ type: 'json-schema', value: schema }] }] }, join(dir, 's.yaml')));
    expect(msg).toContain('tests[0].assert[0].value.properties.name.pattern');
    expect(msg).toContain('exponential');
    const props = { type: 'object', patternProperties: { '^(a*)*$': { type: 'string' } } };
    expect(problem(() => parseSuite({ prompts: ['p'], providers: ['m'], tests: [{ assert: [{ type: 'is-json', value: props }] }] }, join(dir, 's.yaml')))).toContain('patternProperties');
  });
});
