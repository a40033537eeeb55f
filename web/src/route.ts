/** Hash routing: `#/overview`, `#/logs/<id>`… so the hub serves one static index.html. */
import { useEffect, useState } from 'react';

export type Page = 'overview' | 'models' | 'keys' | 'logs' | 'playground' | 'knowledge' | 'evals';
export const PAGES: readonly Page[] = ['overview', 'models', 'keys', 'logs', 'playground', 'knowledge', 'evals'];

export interface Route {
  page: Page | 'notfound';
  /** The rest of the path, decoded: `["req_123"]` for `#/logs/req_123`. */
  params: string[];
}

export function parseHash(hash: string): Route {
  const path = hash.replace(/^#\/?/, '').split('?')[0] ?? '';
  const [first = '', ...rest] = path.split('/').filter(Boolean);
  const page = first === '' ? 'overview' : (PAGES as readonly string[]).includes(first) ? (first as Page) : 'notfound';
  return {
    page,
    params: rest.map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    }),
  };
}

export function href(page: Page, ...params: string[]): string {
  return `#/${[page, ...params.map(encodeURIComponent)].join('/')}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
