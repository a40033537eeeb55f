/** The shell: header (navigation, language, sign-out) and the page for the current hash route. */
import { lazy, Suspense } from 'react';
import type { ComponentType, LazyExoticComponent } from 'react';
import { useAuth } from './auth';
import { ErrorBoundary } from './components/ErrorBoundary';
import { ErrorNotice, Loading } from './components/ui';
import { LANGS, useI18n } from './i18n';
import type { Lang, MessageKey } from './i18n';
import { href, useRoute } from './route';
import type { Page } from './route';
import { SignIn } from './pages/SignIn';

// Each page is its own chunk: the browser loads only the page it shows.
const pages: Record<Page, LazyExoticComponent<ComponentType<{ params: string[] }>>> = {
  overview: lazy(() => import('./pages/Overview')),
  models: lazy(() => import('./pages/Models')),
  keys: lazy(() => import('./pages/Keys')),
  logs: lazy(() => import('./pages/Logs')),
  playground: lazy(() => import('./pages/Playground')),
  knowledge: lazy(() => import('./pages/Knowledge')),
  evals: lazy(() => import('./pages/Evals')),
};

const NAV: { page: Page; label: MessageKey; adminOnly?: boolean }[] = [
  { page: 'overview', label: 'nav.overview' },
  { page: 'models', label: 'nav.models' },
  { page: 'keys', label: 'nav.keys', adminOnly: true },
  { page: 'logs', label: 'nav.logs' },
  { page: 'playground', label: 'nav.playground' },
  { page: 'knowledge', label: 'nav.knowledge' },
  { page: 'evals', label: 'nav.evals' },
];

function LanguageSelect() {
  const { lang, setLang, t } = useI18n();
  return (
    <label className="lang">
      <span className="visually-hidden">{t('header.language')}</span>
      <select value={lang} onChange={(e) => setLang(e.target.value as Lang)} aria-label={t('header.language')} data-testid="language">
        {LANGS.map((l) => (
          <option key={l.id} value={l.id} lang={l.locale}>
            {l.label}
          </option>
        ))}
      </select>
    </label>
  );
}

export function App() {
  const { me, checking, checkError, recheck, isAdmin, signOut } = useAuth();
  const { t } = useI18n();
  const route = useRoute();

  if (checking) return <Loading />;
  if (!me && checkError) {
    // The stored key could not be checked (hub restarting, network down): keep it and say so,
    // rather than signing out or showing nothing.
    return (
      <main id="main">
        <div className="card page-failed" role="alert" data-testid="hub-unreachable">
          <h1>{t('error.hubUnreachable')}</h1>
          <p>{t('error.hubUnreachableHint')}</p>
          <p className="muted small error-message">{checkError.message}</p>
          <div className="form-actions">
            <button type="button" className="btn btn-primary" onClick={recheck}>
              {t('common.retry')}
            </button>
            <button type="button" className="btn" onClick={signOut}>
              {t('header.signOut')}
            </button>
          </div>
        </div>
      </main>
    );
  }
  if (!me) {
    return (
      <>
        <header className="topbar topbar-plain">
          <span className="brand">
            <span className="brand-mark" aria-hidden="true">
              百
            </span>
            {t('app.name')} <span className="brand-sub">{t('app.tagline')}</span>
          </span>
          <LanguageSelect />
        </header>
        <main id="main">
          <SignIn />
        </main>
      </>
    );
  }

  const who = me.kind === 'admin' ? t('header.admin') : me.key.name;
  const nav = NAV.filter((n) => isAdmin || !n.adminOnly);
  const page = route.page;
  const forbidden = page === 'keys' && !isAdmin;
  const Current = page !== 'notfound' && !forbidden ? pages[page] : undefined;

  return (
    <>
      <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        {t('app.skip')}
      </a>
      <header className="topbar">
        <a className="brand" href={href('overview')}>
          <span className="brand-mark" aria-hidden="true">
            百
          </span>
          {t('app.name')} <span className="brand-sub">{t('app.tagline')}</span>
        </a>
        <nav aria-label={t('nav.label')} className="nav">
          <ul>
            {nav.map((n) => (
              <li key={n.page}>
                <a href={href(n.page)} aria-current={page === n.page ? 'page' : undefined}>
                  {t(n.label)}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="topbar-end">
          <span className="whoami" title={t('header.signedInAs', { who })} data-testid="whoami">
            {who}
          </span>
          <LanguageSelect />
          <button type="button" className="btn btn-small" onClick={signOut}>
            {t('header.signOut')}
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {forbidden && <ErrorNotice error={new Error(t('common.notAvailable'))} />}
        {page === 'notfound' && <ErrorNotice error={new Error(t('common.notFound'))} />}
        {Current && (
          <ErrorBoundary resetKey={page}>
            <Suspense fallback={<Loading />}>
              <Current key={page} params={route.params} />
            </Suspense>
          </ErrorBoundary>
        )}
      </main>
    </>
  );
}
