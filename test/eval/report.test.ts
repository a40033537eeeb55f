/** The pieces of reports and progress that do not need a model: escaping and the progress line. */
import { describe, expect, it } from 'vitest';
import { progressLine, progressWriter } from '../../src/eval/progress.js';
import { htmlEscape } from '../../src/eval/report/html.js';
import { xmlEscape } from '../../src/eval/report/junit.js';

describe('escaping', () => {
  it('XML: markup escaped, characters XML 1.0 cannot hold dropped (a model can emit them)', () => {
    expect(xmlEscape(`a<b>&"c'\x00\x07\x1b[31m\uFFFE\tok\n😀`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;[31m\tok\n😀');
  });
  it('HTML: every markup character escaped', () => {
    expect(htmlEscape(`<img src=x onerror="alert('1')">&`)).toBe('&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;');
  });
});

describe('progress', () => {
  it('one line with done/total, ETA, spend and failures', () => {
    expect(progressLine({ done: 5, total: 20, failures: 2, spentUsd: 0.01234, elapsedMs: 10_000 }, 10)).toBe('[###.......] 5/20 · ETA 0:30 · $0.0123 · 2 failed');
    expect(progressLine({ done: 0, total: 3, failures: 0, spentUsd: 0, elapsedMs: 0 }, 4)).toBe('[....] 0/3 · ETA – · $0.0000 · 0 failed');
  });

  it('on a terminal one line is redrawn; elsewhere a line per 10%', () => {
    const tty = { text: '', isTTY: true, write(s: string) { this.text += s; } };
    const w = progressWriter(tty);
    for (let done = 1; done <= 3; done++) w.update({ done, total: 3, failures: 0, spentUsd: 0, elapsedMs: done * 1000 });
    w.end();
    expect(tty.text.split('\r\x1b[2K')).toHaveLength(4);
    expect(tty.text.endsWith('3/3 · ETA 0:00 · $0.0000 · 0 failed\n')).toBe(true);

    const log = { text: '', isTTY: false, write(s: string) { this.text += s; } };
    const l = progressWriter(log);
    for (let done = 1; done <= 100; done++) l.update({ done, total: 100, failures: 0, spentUsd: 0, elapsedMs: done });
    l.end();
    const lines = log.text.trim().split('\n');
    expect(lines).toHaveLength(11);
    expect(lines.map((x) => /\] (\d+)\/100/.exec(x)![1])).toEqual(['1', '10', '20', '30', '40', '50', '60', '70', '80', '90', '100']);
  });
});
