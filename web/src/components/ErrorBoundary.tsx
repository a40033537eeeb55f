/**
 * Catches what a page throws while loading or rendering, so a failure never leaves a white page.
 * The usual cause is a hub restarted or upgraded while the console was open: the page's chunk
 * (content-hashed) is gone, and the dynamic import fails. Retry then reloads the whole page to
 * get the current console; any other error is retried by rendering the page again.
 */
import { Component } from 'react';
import type { ErrorInfo, ReactNode } from 'react';
import { savedLang, translate } from '../i18n';

/** A failed dynamic import (Chromium, Firefox and Safari word it differently) or chunk fetch. */
export function isChunkLoadError(error: unknown): boolean {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return /dynamically imported module|Importing a module script failed|error loading dynamically imported module|ChunkLoadError|Unable to preload CSS|Failed to load module script/i.test(text);
}

interface Props {
  children: ReactNode;
  /** When this changes (another page is opened), a caught error is forgotten. */
  resetKey?: unknown;
}

interface State {
  error: Error | null;
  /** Bumped on retry, so the children mount afresh. */
  attempt: number;
}

export class ErrorBoundary extends Component<Props, State> {
  override state: State = { error: null, attempt: 0 };

  static getDerivedStateFromError(error: unknown): Partial<State> {
    return { error: error instanceof Error ? error : new Error(String(error)) };
  }

  override componentDidCatch(error: unknown, info: ErrorInfo): void {
    console.error('[baimo console] a page failed:', error, info.componentStack);
  }

  override componentDidUpdate(prev: Props): void {
    if (this.state.error && prev.resetKey !== this.props.resetKey) this.setState({ error: null });
  }

  retry = (): void => {
    if (isChunkLoadError(this.state.error)) {
      location.reload();
      return;
    }
    this.setState((s) => ({ error: null, attempt: s.attempt + 1 }));
  };

  override render(): ReactNode {
    const { error, attempt } = this.state;
    if (!error) return <ErrorBoundaryChild key={attempt}>{this.props.children}</ErrorBoundaryChild>;
    // Outside any context on purpose: the failure may be in a provider.
    const lang = savedLang();
    const chunk = isChunkLoadError(error);
    return (
      <div className="card page-failed" role="alert" data-testid="page-failed">
        <h1>{translate(lang, 'error.pageFailed')}</h1>
        <p>{translate(lang, chunk ? 'error.chunkHint' : 'error.renderHint')}</p>
        <p className="muted small error-message">{error.message}</p>
        <div className="form-actions">
          <button type="button" className="btn btn-primary" onClick={this.retry}>
            {translate(lang, 'common.retry')}
          </button>
          {!chunk && (
            <button type="button" className="btn" onClick={() => location.reload()}>
              {translate(lang, 'error.reload')}
            </button>
          )}
        </div>
      </div>
    );
  }
}

/** A keyed wrapper: a new key after retry remounts the subtree instead of reusing failed state. */
function ErrorBoundaryChild({ children }: { children: ReactNode }) {
  return <>{children}</>;
}
