/**
 * Knowledge: the signed-in key's vector stores (the admin sees every store), and a form to
 * create one. `#/knowledge/<id>` opens a store (KnowledgeStore.tsx).
 */
import { useEffect, useId, useState } from 'react';
import type { FormEvent } from 'react';
import { api } from '../api';
import type { List, Model } from '../api';
import { ErrorNotice, Loading, PageHeader } from '../components/ui';
import { useFormat } from '../format';
import { useLoad } from '../hooks';
import { useI18n } from '../i18n';
import type { Page, VectorStore } from '../knowledge';
import { href } from '../route';
import KnowledgeStore, { StoreStatus, useBytes } from './KnowledgeStore';

export default function Knowledge({ params }: { params: string[] }) {
  const id = params[0];
  return id ? <KnowledgeStore key={id} id={id} /> : <StoreList />;
}

function StoreList() {
  const { t } = useI18n();
  const f = useFormat();
  const bytes = useBytes();
  const [creating, setCreating] = useState(false);
  // While a store is ingesting the list refreshes on its own, so its counts move.
  const [polling, setPolling] = useState(false);
  const stores = useLoad((signal) => api<Page<VectorStore>>('/v1/vector_stores?limit=100', { signal }), [], polling ? 2_000 : undefined);
  const list = stores.data?.data ?? [];
  const ingesting = list.some((vs) => vs.status === 'in_progress');
  useEffect(() => setPolling(ingesting), [ingesting]);

  return (
    <>
      <PageHeader title={t('kb.title')}>
        <button type="button" className="btn btn-primary" onClick={() => setCreating((c) => !c)} aria-expanded={creating}>
          {t('kb.create')}
        </button>
      </PageHeader>
      <p className="lead muted">{t('kb.intro')}</p>
      {creating && (
        <CreateStore
          onCreated={(vs) => {
            setCreating(false);
            location.hash = href('knowledge', vs.id);
          }}
          onCancel={() => setCreating(false)}
        />
      )}
      <section className="card" aria-labelledby="stores-title">
        <div className="card-head">
          <h2 id="stores-title">{t('kb.stores')}</h2>
        </div>
        <ErrorNotice error={stores.error} onRetry={stores.reload} />
        <Loading show={stores.loading && !stores.data} />
        {stores.data && list.length === 0 && <p data-testid="no-stores">{t('kb.noStores')}</p>}
        {stores.data?.has_more && <p className="muted small">{t('kb.moreStores', { n: f.int(list.length) })}</p>}
        {list.length > 0 && (
          <div className="table-wrap">
            <table data-testid="stores-table">
              <thead>
                <tr>
                  <th scope="col">{t('kb.name')}</th>
                  <th scope="col">{t('kb.id')}</th>
                  <th scope="col">{t('kb.status')}</th>
                  <th scope="col">{t('kb.embeddingModel')}</th>
                  <th scope="col" className="num">
                    {t('kb.files')}
                  </th>
                  <th scope="col" className="num">
                    {t('kb.usage')}
                  </th>
                  <th scope="col">{t('kb.created')}</th>
                </tr>
              </thead>
              <tbody>
                {list.map((vs) => (
                  <tr key={vs.id} data-store-id={vs.id}>
                    <th scope="row">
                      <a href={href('knowledge', vs.id)}>{vs.name || t('kb.unnamed')}</a>
                    </th>
                    <td className="mono small">{vs.id}</td>
                    <td>
                      <StoreStatus status={vs.status} />
                    </td>
                    <td className="mono small">{vs.embedding_model ?? t('kb.keywordOnly')}</td>
                    <td className="num" data-field="files">
                      {t('kb.fileCounts', { done: f.int(vs.file_counts.completed), total: f.int(vs.file_counts.total) })}
                      {vs.file_counts.failed > 0 && <span className="kb-failed-count"> · {t('kb.failedCount', { n: f.int(vs.file_counts.failed) })}</span>}
                    </td>
                    <td className="num">{bytes(vs.usage_bytes)}</td>
                    <td>{f.shortDateTime(vs.created_at * 1000)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

function CreateStore({ onCreated, onCancel }: { onCreated: (vs: VectorStore) => void; onCancel: () => void }) {
  const { t } = useI18n();
  const nameId = useId();
  const modelId = useId();
  const [name, setName] = useState('');
  const [model, setModel] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error>();
  const models = useLoad((signal) => api<List<Model>>('/v1/models', { signal }), []);
  const embedding = (models.data?.data ?? []).filter((m) => m.kind === 'embedding');

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onCreated(await api<VectorStore>('/v1/vector_stores', { method: 'POST', body: { name: name.trim(), embedding_model: model === '' ? null : model } }));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="create-store-title">
      <h2 id="create-store-title">{t('kb.createTitle')}</h2>
      <form onSubmit={submit} className="form-grid">
        <div className="field">
          <label htmlFor={nameId}>{t('kb.name')}</label>
          <input id={nameId} value={name} onChange={(e) => setName(e.target.value)} maxLength={256} autoFocus />
        </div>
        <div className="field">
          <label htmlFor={modelId}>{t('kb.embeddingModel')}</label>
          <select id={modelId} value={model} onChange={(e) => setModel(e.target.value)}>
            <option value="">{t('kb.keywordOnly')}</option>
            {embedding.map((m) => (
              <option key={m.id} value={m.id}>
                {m.id}
              </option>
            ))}
          </select>
          <span className="hint">{t('kb.embeddingHint')}</span>
        </div>
        <ErrorNotice error={models.error ?? error} />
        <div className="form-actions span-all">
          <button type="button" className="btn" onClick={onCancel}>
            {t('common.cancel')}
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? t('common.saving') : t('kb.createSubmit')}
          </button>
        </div>
      </form>
    </section>
  );
}
