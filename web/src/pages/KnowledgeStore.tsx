/**
 * One vector store: upload files (each with its upload progress, then its ingestion status,
 * polled until completed or failed), see a file's chunks, remove files, delete the store, and
 * try a search with its scores and the query's words highlighted.
 */
import { useEffect, useId, useRef, useState } from 'react';
import type { DragEvent, FormEvent } from 'react';
import { api } from '../api';
import { ConfirmDialog } from '../components/Dialog';
import { Badge, ErrorNotice, Loading, PageHeader } from '../components/ui';
import { useFormat } from '../format';
import { highlight } from '../highlight';
import { useLoad } from '../hooks';
import { useI18n } from '../i18n';
import { SEARCH_MODES, uploadFile } from '../knowledge';
import type { Chunk, Page, SearchHit, SearchMode, StoredFile, VectorStore, VectorStoreFile } from '../knowledge';
import { href } from '../route';

/** How often the page asks again while a file is being ingested. */
const POLL_MS = 1_000;

/** Bytes as B / KB / MB for the current locale. */
export function useBytes(): (n: number | null | undefined) => string {
  const f = useFormat();
  return (n) => {
    if (typeof n !== 'number' || !Number.isFinite(n)) return '—';
    if (n < 1024) return `${f.int(n)} B`;
    if (n < 1024 * 1024) return `${f.num(n / 1024, 1)} KB`;
    return `${f.num(n / 1024 / 1024, 1)} MB`;
  };
}

export function StoreStatus({ status }: { status: VectorStore['status'] }) {
  const { t } = useI18n();
  const tone = status === 'completed' ? 'good' : status === 'expired' ? 'bad' : 'warn';
  return <Badge tone={tone}>{t(`kb.status.${status}`)}</Badge>;
}

function FileStatus({ status }: { status: VectorStoreFile['status'] }) {
  const { t } = useI18n();
  const tone = status === 'completed' ? 'good' : status === 'failed' ? 'bad' : status === 'cancelled' ? 'neutral' : 'warn';
  return <Badge tone={tone}>{t(`kb.fileStatus.${status}`)}</Badge>;
}

interface Upload {
  key: number;
  name: string;
  size: number;
  sent: number;
  state: 'uploading' | 'adding' | 'added' | 'error';
  error?: string;
}

export default function KnowledgeStore({ id }: { id: string }) {
  const { t } = useI18n();
  const f = useFormat();
  const bytes = useBytes();
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [open, setOpen] = useState<string>();
  const [deleting, setDeleting] = useState(false);
  const [removing, setRemoving] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<Error>();
  const [names, setNames] = useState<Record<string, string>>({});
  const path = `/v1/vector_stores/${encodeURIComponent(id)}`;

  const store = useLoad((signal) => api<VectorStore>(path, { signal }), [path]);
  const [polling, setPolling] = useState(false);
  const files = useLoad((signal) => api<Page<VectorStoreFile>>(`${path}/files?limit=100`, { signal }), [path], polling ? POLL_MS : undefined);
  const list = files.data?.data ?? [];
  const ingesting = list.some((x) => x.status === 'in_progress') || uploads.some((u) => u.state === 'uploading' || u.state === 'adding');
  useEffect(() => setPolling(ingesting), [ingesting]);
  // The store's counts and usage follow its files.
  const reloadStore = store.reload;
  useEffect(() => reloadStore(), [files.data, reloadStore]);

  // The vector store file object has no name: ask the Files API once per file.
  const asked = useRef(new Set<string>());
  useEffect(() => {
    for (const file of list) {
      if (asked.current.has(file.id)) continue;
      asked.current.add(file.id);
      api<StoredFile>(`/v1/files/${encodeURIComponent(file.id)}`).then(
        (sf) => setNames((n) => ({ ...n, [file.id]: sf.filename })),
        () => undefined, // Deleted from the Files API: the id stands in for the name.
      );
    }
  }, [list]);

  const nextKey = useRef(0);
  function patch(key: number, p: Partial<Upload>) {
    setUploads((us) => us.map((u) => (u.key === key ? { ...u, ...p } : u)));
  }

  async function addOne(file: File, key: number) {
    try {
      const stored = await uploadFile(file, (sent) => patch(key, { sent }));
      setNames((n) => ({ ...n, [stored.id]: stored.filename }));
      patch(key, { state: 'adding' });
      await api<VectorStoreFile>(`${path}/files`, { method: 'POST', body: { file_id: stored.id } });
      patch(key, { state: 'added' });
    } catch (err) {
      patch(key, { state: 'error', error: (err as Error).message });
    } finally {
      files.reload();
    }
  }

  function addFiles(chosen: FileList | null) {
    if (!chosen || chosen.length === 0) return;
    const fresh = Array.from(chosen).map((file) => ({ file, key: nextKey.current++ }));
    setUploads((us) => [...us, ...fresh.map(({ file, key }): Upload => ({ key, name: file.name, size: file.size, sent: 0, state: 'uploading' }))]);
    for (const { file, key } of fresh) void addOne(file, key);
  }

  async function act(run: () => Promise<unknown>, done: () => void) {
    setBusy(true);
    setActionError(undefined);
    try {
      await run();
      done();
    } catch (err) {
      setActionError(err as Error);
    } finally {
      setBusy(false);
    }
  }

  // Until the store is read (or when it cannot be: another key's, deleted), only it is shown.
  const vs = store.data;
  return (
    <>
      <p className="small">
        <a href={href('knowledge')}>← {t('kb.allStores')}</a>
      </p>
      <PageHeader title={vs ? vs.name || t('kb.unnamed') : t('kb.title')}>
        <button type="button" className="btn btn-danger" onClick={() => setDeleting(true)} disabled={!vs}>
          {t('kb.deleteStore')}
        </button>
      </PageHeader>
      <ErrorNotice error={store.error} onRetry={store.reload} />
      <Loading show={store.loading && !vs} />
      {vs && (
        <dl className="kb-summary" data-testid="store-summary">
          <div>
            <dt>{t('kb.id')}</dt>
            <dd className="mono">{vs.id}</dd>
          </div>
          <div>
            <dt>{t('kb.status')}</dt>
            <dd>
              <StoreStatus status={vs.status} />
            </dd>
          </div>
          <div>
            <dt>{t('kb.embeddingModel')}</dt>
            <dd className="mono">{vs.embedding_model ?? t('kb.keywordOnly')}</dd>
          </div>
          <div>
            <dt>{t('kb.files')}</dt>
            <dd data-field="file-counts">
              {t('kb.countsLong', { done: f.int(vs.file_counts.completed), running: f.int(vs.file_counts.in_progress), failed: f.int(vs.file_counts.failed), total: f.int(vs.file_counts.total) })}
            </dd>
          </div>
          <div>
            <dt>{t('kb.usage')}</dt>
            <dd>{bytes(vs.usage_bytes)}</dd>
          </div>
        </dl>
      )}

      {vs && (
        <>
          <section className="card" aria-labelledby="upload-title">
            <h2 id="upload-title">{t('kb.upload')}</h2>
            <DropZone onFiles={addFiles} />
            {uploads.length > 0 && (
              <ul className="kb-uploads" data-testid="uploads" aria-live="polite">
                {uploads.map((u) => (
                  <li key={u.key} data-state={u.state} data-testid="upload">
                    <span className="kb-upload-name">{u.name}</span>
                    <div className="progress" role="progressbar" aria-label={t('kb.uploadProgress', { name: u.name })} aria-valuemin={0} aria-valuemax={u.size} aria-valuenow={u.sent}>
                      <div className="progress-fill" style={{ width: `${u.size > 0 ? ((100 * u.sent) / u.size).toFixed(1) : u.state === 'uploading' ? 0 : 100}%` }} />
                    </div>
                    <span className="small muted">
                      {u.state === 'error' ? <span className="error-message">{u.error}</span> : t(`kb.upload.${u.state}`, { sent: bytes(u.sent), size: bytes(u.size) })}
                    </span>
                  </li>
                ))}
              </ul>
            )}
          </section>

          <section className="card" aria-labelledby="files-title">
            <div className="card-head">
              <h2 id="files-title">{t('kb.filesTitle')}</h2>
              {ingesting && <span className="muted small">{t('kb.polling')}</span>}
            </div>
            <ErrorNotice error={files.error} onRetry={files.reload} />
            <Loading show={files.loading && !files.data} />
            {files.data && list.length === 0 && <p>{t('kb.noFiles')}</p>}
            {files.data?.has_more && <p className="muted small">{t('kb.moreFiles', { n: f.int(list.length) })}</p>}
            {list.length > 0 && (
              <div className="table-wrap kb-table-wrap">
                <table data-testid="files-table">
                  <thead>
                    <tr>
                      <th scope="col">{t('kb.fileName')}</th>
                      <th scope="col">{t('kb.status')}</th>
                      <th scope="col" className="num">
                        {t('kb.usage')}
                      </th>
                      <th scope="col">{t('kb.added')}</th>
                      <th scope="col">
                        <span className="visually-hidden">{t('kb.actions')}</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {list.map((file) => {
                      const name = names[file.id] ?? file.id;
                      return (
                        <tr key={file.id} data-file-id={file.id} data-status={file.status} data-name={name}>
                          <th scope="row">
                            <button type="button" className="btn-link" onClick={() => setOpen(open === file.id ? undefined : file.id)} aria-expanded={open === file.id} disabled={file.status !== 'completed'} title={t('kb.showChunks')}>
                              {name}
                            </button>
                            <div className="mono small muted">{file.id}</div>
                          </th>
                          <td className="kb-status-cell">
                            <FileStatus status={file.status} />
                            {file.last_error && (
                              <div className="small error-message" data-testid="file-error">
                                {file.last_error.message}
                              </div>
                            )}
                          </td>
                          <td className="num">{bytes(file.usage_bytes)}</td>
                          <td>{f.shortDateTime(file.created_at * 1000)}</td>
                          <td>
                            <button type="button" className="btn btn-small" onClick={() => setRemoving(file.id)} aria-label={t('kb.removeFile', { name })}>
                              {t('kb.remove')}
                            </button>
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            )}
          </section>

          {open && <Chunks path={`${path}/files/${encodeURIComponent(open)}/content`} name={names[open] ?? open} onClose={() => setOpen(undefined)} />}

          <Search path={path} keywordOnly={!vs.embedding_model} />
        </>
      )}

      {deleting && vs && (
        <ConfirmDialog
          title={t('kb.deleteStore')}
          body={t('kb.deleteStoreBody', { name: vs.name || vs.id })}
          confirm={t('kb.deleteStore')}
          busy={busy}
          error={actionError}
          onClose={() => {
            setDeleting(false);
            setActionError(undefined);
          }}
          onConfirm={() => void act(() => api(path, { method: 'DELETE' }), () => (location.hash = href('knowledge')))}
        />
      )}
      {removing && (
        <ConfirmDialog
          title={t('kb.remove')}
          body={t('kb.removeFileBody', { name: names[removing] ?? removing })}
          confirm={t('kb.remove')}
          busy={busy}
          error={actionError}
          onClose={() => {
            setRemoving(undefined);
            setActionError(undefined);
          }}
          onConfirm={() =>
            void act(
              () => api(`${path}/files/${encodeURIComponent(removing)}`, { method: 'DELETE' }),
              () => {
                if (open === removing) setOpen(undefined);
                setRemoving(undefined);
                files.reload();
              },
            )
          }
        />
      )}
    </>
  );
}

/** Drop files here, or pick them: both end in `onFiles`. */
function DropZone({ onFiles }: { onFiles: (files: FileList | null) => void }) {
  const { t } = useI18n();
  const inputId = useId();
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const stop = (e: DragEvent) => {
    e.preventDefault();
    e.stopPropagation();
  };
  return (
    <div
      className={`kb-drop${over ? ' kb-drop-over' : ''}`}
      data-testid="drop-zone"
      onDragEnter={(e) => {
        stop(e);
        setOver(true);
      }}
      onDragOver={stop}
      onDragLeave={(e) => {
        stop(e);
        setOver(false);
      }}
      onDrop={(e) => {
        stop(e);
        setOver(false);
        onFiles(e.dataTransfer.files);
      }}
    >
      <p>{t('kb.dropHint')}</p>
      <label htmlFor={inputId} className="btn">
        {t('kb.chooseFiles')}
      </label>
      <input
        id={inputId}
        ref={input}
        type="file"
        multiple
        className="visually-hidden"
        onChange={(e) => {
          onFiles(e.target.files);
          // The same file can be chosen again after a failure.
          if (input.current) input.current.value = '';
        }}
      />
      <p className="hint">{t('kb.typesHint')}</p>
    </div>
  );
}

function Chunks({ path, name, onClose }: { path: string; name: string; onClose: () => void }) {
  const { t } = useI18n();
  const f = useFormat();
  const chunks = useLoad((signal) => api<Page<Chunk>>(path, { signal }), [path]);
  const list = chunks.data?.data ?? [];
  return (
    <section className="card" aria-labelledby="chunks-title" data-testid="chunks">
      <div className="card-head">
        <h2 id="chunks-title">{t('kb.chunksOf', { name })}</h2>
        <button type="button" className="btn btn-small" onClick={onClose}>
          {t('common.close')}
        </button>
      </div>
      <ErrorNotice error={chunks.error} onRetry={chunks.reload} />
      <Loading show={chunks.loading && !chunks.data} />
      {chunks.data && <p className="muted small">{t('kb.chunkCount', { n: f.int(list.length) })}</p>}
      {list.length > 0 && (
        <div className="table-wrap">
          <table data-testid="chunks-table">
            <thead>
              <tr>
                <th scope="col" className="num">
                  {t('kb.seq')}
                </th>
                <th scope="col" className="num">
                  {t('kb.tokens')}
                </th>
                <th scope="col">{t('kb.text')}</th>
              </tr>
            </thead>
            <tbody>
              {list.map((c, i) => (
                <tr key={c.baimo_seq ?? i}>
                  <td className="num">{f.int(c.baimo_seq ?? i)}</td>
                  <td className="num">{f.int(c.baimo_tokens)}</td>
                  <td className="kb-chunk-text">{c.text}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Search({ path, keywordOnly }: { path: string; keywordOnly: boolean }) {
  const { t } = useI18n();
  const f = useFormat();
  const queryId = useId();
  const modeId = useId();
  const [query, setQuery] = useState('');
  const [mode, setMode] = useState<SearchMode | ''>('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const [result, setResult] = useState<{ query: string; hits: SearchHit[] }>();
  // A store without an embedding model has only its keyword index.
  const modes = keywordOnly ? SEARCH_MODES.filter((m) => m === 'keyword') : SEARCH_MODES;

  async function submit(e: FormEvent) {
    e.preventDefault();
    const q = query.trim();
    if (!q) return;
    setBusy(true);
    setError(undefined);
    try {
      const r = await api<Page<SearchHit>>(`${path}/search`, { method: 'POST', body: { query: q, max_num_results: 10, ...(mode && { baimo_mode: mode }) } });
      setResult({ query: q, hits: r.data });
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="search-title">
      <h2 id="search-title">{t('kb.searchTitle')}</h2>
      <form onSubmit={submit} className="kb-search">
        <div className="field">
          <label htmlFor={queryId}>{t('kb.query')}</label>
          <input id={queryId} type="search" value={query} onChange={(e) => setQuery(e.target.value)} maxLength={4096} />
        </div>
        <div className="field">
          <label htmlFor={modeId}>{t('kb.mode')}</label>
          <select id={modeId} value={mode} onChange={(e) => setMode(e.target.value as SearchMode | '')}>
            <option value="">{t('kb.mode.default')}</option>
            {modes.map((m) => (
              <option key={m} value={m}>
                {t(`kb.mode.${m}`)}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" className="btn btn-primary" disabled={busy || !query.trim()}>
          {t('common.search')}
        </button>
      </form>
      <p className="hint">{t('kb.highlightHint')}</p>
      <ErrorNotice error={error} />
      {result && result.hits.length === 0 && <p data-testid="no-results">{t('kb.noResults')}</p>}
      {result && result.hits.length > 0 && (
        <ol className="kb-results" data-testid="results">
          {result.hits.map((h, i) => (
            <li key={i} data-testid="result" data-filename={h.filename}>
              <div className="kb-result-head">
                <span className="kb-result-file">{h.filename}</span>
                <span className="kb-score" aria-label={t('kb.score', { score: f.num(h.score, 3) })}>
                  <span className="kb-score-bar" aria-hidden="true">
                    <span className="kb-score-fill" style={{ width: `${Math.max(0, Math.min(1, h.score)) * 100}%` }} />
                  </span>
                  <span className="mono small" data-field="score">
                    {f.num(h.score, 3)}
                  </span>
                </span>
              </div>
              <p className="kb-snippet">
                {highlight(h.content.map((c) => c.text).join('\n'), result.query).map((s, j) => (s.hit ? <mark key={j}>{s.text}</mark> : <span key={j}>{s.text}</span>))}
              </p>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
