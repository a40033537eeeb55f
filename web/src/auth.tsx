/** Who is signed in: the key (sessionStorage) and what `GET /v1/me` says about it. */
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { api, ApiError, onUnauthorized, storedKey, storeKey } from './api';
import type { Me } from './api';

interface Auth {
  me: Me | null;
  /** True while a stored key is being checked on load. */
  checking: boolean;
  /** Why the stored key could not be checked (network, hub restarting); the key is kept. */
  checkError: Error | null;
  /** Checks the stored key again after checkError. */
  recheck(): void;
  isAdmin: boolean;
  signIn(key: string): Promise<void>;
  signOut(): void;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(() => storedKey() !== null);
  const [checkError, setCheckError] = useState<Error | null>(null);
  const [attempt, setAttempt] = useState(0);

  const signOut = useCallback(() => {
    storeKey(null);
    setMe(null);
    setCheckError(null);
  }, []);

  useEffect(() => {
    const key = storedKey();
    if (!key) return;
    let live = true;
    setChecking(true);
    api<Me>('/v1/me', { key })
      .then((m) => {
        if (!live) return;
        setCheckError(null);
        setMe(m);
      })
      .catch((err: unknown) => {
        if (!live) return;
        // Only the hub saying no (401, 403) signs out; a hub that cannot be reached or fails
        // (restarting, upgrading) keeps the key, and the console offers to retry.
        const refused = err instanceof ApiError && (err.status === 401 || err.status === 403);
        if (refused) storeKey(null);
        else setCheckError(err instanceof Error ? err : new Error(String(err)));
      })
      .finally(() => live && setChecking(false));
    return () => {
      live = false;
    };
  }, [attempt]);

  const recheck = useCallback(() => setAttempt((n) => n + 1), []);

  useEffect(() => onUnauthorized(signOut), [signOut]);

  const signIn = useCallback(async (key: string) => {
    const m = await api<Me>('/v1/me', { key });
    storeKey(key);
    setMe(m);
  }, []);

  const value = useMemo<Auth>(
    () => ({ me, checking, checkError, recheck, isAdmin: me?.kind === 'admin', signIn, signOut }),
    [me, checking, checkError, recheck, signIn, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const v = useContext(AuthContext);
  if (!v) throw new Error('useAuth outside AuthProvider');
  return v;
}
