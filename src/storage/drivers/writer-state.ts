/**
 * The life cycle every FileWriter follows, kept in one place so that all drivers refuse misuse the same way:
 * one append at a time, nothing after commit/close/cancel, and cancel safe to repeat.
 */
type State = 'open' | 'appending' | 'closed' | 'cancelled';

export class WriterState {
  #state: State = 'open';

  beginAppend(): void {
    this.#expectOpen();
    this.#state = 'appending';
  }

  endAppend(): void {
    if (this.#state === 'appending') this.#state = 'open';
  }

  /** Marks the writer committed or closed. */
  finish(): void {
    this.#expectOpen();
    this.#state = 'closed';
  }

  /** Marks the writer cancelled; false when it already was, so the caller has nothing to do. */
  beginCancel(): boolean {
    if (this.#state === 'cancelled') return false;
    this.#expectOpen();
    this.#state = 'cancelled';
    return true;
  }

  #expectOpen(): void {
    if (this.#state === 'appending') throw new Error('writer is busy with another append');
    if (this.#state !== 'open') throw new Error(`writer is already ${this.#state}`);
  }
}
