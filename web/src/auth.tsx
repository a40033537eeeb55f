/** Who is signed in: the key (sessionStorage) and what `GET /v1/me` says about it. */
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { api, onUnauthorized, storedKey, storeKey } from './api';
import type { Me } from './api';

interface Auth {
  me: Me | null;
  /** True while a stored key is being checked on load. */
  checking: boolean;
  isAdmin: boolean;
  signIn(key: string): Promise<void>;
  signOut(): void;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [checking, setChecking] = useState(() => storedKey() !== null);

  const signOut = useCallback(() => {
    storeKey(null);
    setMe(null);
  }, []);

  useEffect(() => {
    const key = storedKey();
    if (!key) return;
    let live = true;
    api<Me>('/v1/me', { key })
      .then((m) => live && setMe(m))
      .catch(() => live && storeKey(null))
      .finally(() => live && setChecking(false));
    return () => {
      live = false;
    };
  }, []);

  useEffect(() => onUnauthorized(signOut), [signOut]);

  const signIn = useCallback(async (key: string) => {
    const m = await api<Me>('/v1/me', { key });
    storeKey(key);
    setMe(m);
  }, []);

  const value = useMemo<Auth>(() => ({ me, checking, isAdmin: me?.kind === 'admin', signIn, signOut }), [me, checking, signIn, signOut]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const v = useContext(AuthContext);
  if (!v) throw new Error('useAuth outside AuthProvider');
  return v;
}
