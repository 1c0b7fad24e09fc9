/**
 * Slows down password guessing: after a few failed attempts from one address, further attempts from it
 * are refused (429 with Retry-After) for a delay that doubles with each failure, up to a ceiling. A success
 * clears the address. State is per process and bounded; replicas each count on their own.
 */
import { TooManyAttemptsError } from './controller.js';

export interface ThrottleOptions {
  /** Failures allowed before any delay. */
  freeAttempts?: number;
  /** First delay, doubled per further failure. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** An address forgotten after this long without failures. */
  forgetAfterMs?: number;
  /** Most addresses tracked; the oldest is dropped beyond it. */
  maxAddresses?: number;
  now?: () => number;
}

interface Record {
  failures: number;
  blockedUntil: number;
  lastFailure: number;
}

export class FailureThrottle {
  private readonly records = new Map<string, Record>();
  private readonly freeAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly forgetAfterMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;

  constructor(options: ThrottleOptions = {}) {
    this.freeAttempts = options.freeAttempts ?? 5;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
    this.forgetAfterMs = options.forgetAfterMs ?? 15 * 60_000;
    this.maxAddresses = options.maxAddresses ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Throws TooManyAttemptsError while the address must wait. */
  check(address: string): void {
    const record = this.records.get(address);
    if (!record) return;
    const now = this.now();
    if (now - record.lastFailure > this.forgetAfterMs) {
      this.records.delete(address);
      return;
    }
    if (now < record.blockedUntil) throw new TooManyAttemptsError(Math.ceil((record.blockedUntil - now) / 1000));
  }

  failed(address: string): void {
    const now = this.now();
    const record = this.records.get(address) ?? { failures: 0, blockedUntil: 0, lastFailure: now };
    record.failures += 1;
    record.lastFailure = now;
    const over = record.failures - this.freeAttempts;
    if (over > 0) record.blockedUntil = now + Math.min(this.baseDelayMs * 2 ** (over - 1), this.maxDelayMs);
    // Re-insert so Map order is least-recently-failed first.
    this.records.delete(address);
    this.records.set(address, record);
    if (this.records.size > this.maxAddresses) this.records.delete(this.records.keys().next().value!);
  }

  succeeded(address: string): void {
    this.records.delete(address);
  }
}
