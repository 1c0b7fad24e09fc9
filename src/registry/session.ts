/** Helpers for decorators of the content model (events, metrics) that wrap an upload session. */
import type { UploadSession } from './types.js';

type SessionMethods = Pick<UploadSession, 'append' | 'commit' | 'cancel'>;

/** A session that forwards everything to `session`, except the methods given in `overrides`. */
export function decorateSession(session: UploadSession, overrides: Partial<SessionMethods>): UploadSession {
  return {
    get id() {
      return session.id;
    },
    get size() {
      return session.size;
    },
    append: overrides.append ?? ((source, range) => session.append(source, range)),
    commit: overrides.commit ?? ((expected, last) => session.commit(expected, last)),
    cancel: overrides.cancel ?? (() => session.cancel()),
  };
}
