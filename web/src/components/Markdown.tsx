/**
 * A model's answer as markdown (marked, GitHub flavour), made safe before it reaches the DOM:
 * - raw HTML in the answer is shown as text, never parsed (a model that writes
 *   `<img src=x onerror=…>` or `<script>` gets those characters on screen, nothing runs);
 * - images become links, so an answer cannot make the browser fetch a URL by itself (a
 *   prompt-injected `![](https://…?secret)` would otherwise leak the conversation);
 * - links open in a new tab without the opener, and only http(s) and mailto URLs are kept;
 * - DOMPurify sanitizes the result all the same, as a second fence.
 */
import DOMPurify from 'dompurify';
import { Marked } from 'marked';
import { useMemo } from 'react';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const SAFE_URL = /^(https?:|mailto:)/i;

const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    html({ text }) {
      return escapeHtml(text);
    },
    image({ href, text }) {
      const label = text || href;
      return SAFE_URL.test(href) ? `<a href="${escapeHtml(href)}">${escapeHtml(label)}</a>` : escapeHtml(label);
    },
  },
});

const purify = DOMPurify();
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    const href = node.getAttribute('href') ?? '';
    if (!SAFE_URL.test(href)) node.removeAttribute('href');
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

/** Sanitized HTML for a markdown text. */
export function renderMarkdown(text: string): string {
  const html = marked.parse(text) as string;
  return purify
    .sanitize(html, {
      FORBID_TAGS: ['img', 'style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed', 'svg', 'math'],
      FORBID_ATTR: ['style', 'class', 'id'],
      ADD_ATTR: ['target'],
    })
    .trim();
}

export function Markdown({ text, className, testId }: { text: string; className?: string; testId?: string }) {
  const html = useMemo(() => renderMarkdown(text), [text]);
  return <div className={`markdown ${className ?? ''}`.trim()} data-testid={testId} dangerouslySetInnerHTML={{ __html: html }} />;
}
