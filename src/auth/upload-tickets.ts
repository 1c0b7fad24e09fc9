/**
 * Upload tickets: how a long push survives its token. When an upload session is started (or continued)
 * under valid credentials, the registry hands back a ticket in the session's `Location`; clients follow
 * that URL verbatim for the next PATCH and the final PUT. A request carrying a ticket for its own session
 * and repository, made by the same subject with a token that has since expired, is accepted until the
 * ticket's deadline.
 *
 * The ticket is `<deadline>.<HMAC-SHA256(secret, session, repository, subject, deadline)>`, so it needs no
 * shared state: replicas sharing `http.secret` accept each other's. It is not a credential on its own: the
 * request must still present the subject's token, signed and issued for this service, merely expired.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TICKET_PARAM = '_berth_upload';

export interface TicketSubject {
  session: string;
  repository: string;
  subject: string;
}

export class UploadTickets {
  constructor(
    private readonly secret: Buffer,
    /** How long after being issued a ticket is honoured. */
    readonly graceMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private mac(what: TicketSubject, deadline: number): Buffer {
    return createHmac('sha256', this.secret)
      .update(JSON.stringify([what.session, what.repository, what.subject, deadline]))
      .digest();
  }

  issue(what: TicketSubject, deadline = this.now() + this.graceMs): string {
    return `${deadline}.${this.mac(what, deadline).toString('base64url')}`;
  }

  /** The ticket's deadline if it is genuine for this session, repository and subject and not past it. */
  check(ticket: string | undefined, what: TicketSubject): number | undefined {
    const match = ticket === undefined ? null : /^(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(ticket);
    if (!match) return undefined;
    const deadline = Number(match[1]);
    const given = Buffer.from(match[2]!, 'base64url');
    const expected = this.mac(what, deadline);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return deadline >= this.now() ? deadline : undefined;
  }
}
