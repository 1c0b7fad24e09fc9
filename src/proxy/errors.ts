/**
 * What went wrong upstream, as a domain error the client understands: the wire code says what the client can
 * do about it (retry later, or not), the message names the upstream by its configured name and never carries
 * credentials, tokens or the upstream's own response body.
 */
import { RegistryError, type ErrorCode } from '../oci/errors.js';

/**
 * - `unavailable`: unreachable, timed out, 5xx, or an answer Berth cannot use;
 * - `ratelimited`: 429;
 * - `denied`: the upstream refused the configured credentials (or anonymous access);
 * - `notfound`: the upstream does not have it (a definite answer: never served stale over).
 */
export type UpstreamFailure = 'unavailable' | 'ratelimited' | 'denied' | 'notfound';

const CODES: Record<UpstreamFailure, ErrorCode> = {
  unavailable: 'UNAVAILABLE',
  ratelimited: 'TOOMANYREQUESTS',
  denied: 'DENIED',
  notfound: 'NAME_UNKNOWN',
};

export class UpstreamError extends RegistryError {
  constructor(
    readonly upstream: string,
    readonly failure: UpstreamFailure,
    reason: string,
    code: ErrorCode = CODES[failure],
  ) {
    const message = `upstream ${upstream}: ${reason}`;
    super(code, message, { upstream, reason: message });
  }

  /** Failures a cached copy may be served over: the upstream may well answer differently in a while. */
  get transient(): boolean {
    return this.failure === 'unavailable' || this.failure === 'ratelimited';
  }
}
