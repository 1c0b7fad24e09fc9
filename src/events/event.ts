/**
 * Registry events as Distribution 2.8 sends them (`notifications/event.go`): the same envelope media type,
 * the same JSON field names, and the same fields left out when empty, so existing webhook receivers parse
 * Berth's events unchanged.
 */
import { randomUUID } from 'node:crypto';
import type { Descriptor } from '../oci/manifest.js';

export const EVENTS_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v2+json';

export type EventAction = 'push' | 'pull' | 'delete' | 'mount';
export const EVENT_ACTIONS: readonly EventAction[] = ['push', 'pull', 'delete', 'mount'];

export interface EventTarget {
  mediaType?: string;
  size?: number;
  digest?: string;
  /** Same as size; kept by Distribution for older receivers. */
  length?: number;
  repository?: string;
  /** Mount events: the repository the blob was mounted from, when one was named. */
  fromRepository?: string;
  url?: string;
  tag?: string;
  /** Manifest events with `notifications.events.includereferences`: the manifest's config, layers or children. */
  references?: Descriptor[];
}

export interface RequestRecord {
  id: string;
  addr?: string;
  host?: string;
  method: string;
  useragent: string;
}

export interface ActorRecord {
  name?: string;
}

export interface SourceRecord {
  addr?: string;
  instanceID?: string;
}

export interface RegistryEvent {
  id: string;
  timestamp: string;
  action: EventAction;
  target: EventTarget;
  request: RequestRecord;
  actor: ActorRecord;
  source: SourceRecord;
}

export interface Envelope {
  events: RegistryEvent[];
}

/** Where events go: `write` resolves once they are durably queued (or deliberately dropped by a filter). */
export interface EventSink {
  write(event: RegistryEvent): Promise<void>;
  close(): Promise<void>;
}

/** What the HTTP layer knows of the request behind an event. `actor` is read when the event is made. */
export interface EventContext {
  request: RequestRecord;
  actor: () => ActorRecord;
  source: SourceRecord;
  /** Absolute URLs of content, as Distribution puts in `target.url`. */
  urls: {
    manifest(repository: string, digest: string): string;
    blob(repository: string, digest: string): string;
  };
}

/** Drops the fields Go's `omitempty` drops (unset, "", 0, []), keeping the key order of Distribution's JSON. */
function compact<T extends object>(record: T): T {
  const empty = (value: unknown) =>
    value === undefined || value === '' || value === 0 || (Array.isArray(value) && value.length === 0);
  return Object.fromEntries(Object.entries(record).filter(([, value]) => !empty(value))) as T;
}

export function createEvent(context: EventContext, action: EventAction, target: EventTarget): RegistryEvent {
  const { mediaType, size, digest, length, repository, fromRepository, url, tag, references } = target;
  return {
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    action,
    target: compact({ mediaType, size, digest, length, repository, fromRepository, url, tag, references }),
    request: context.request,
    actor: compact(context.actor()),
    source: compact(context.source),
  };
}
