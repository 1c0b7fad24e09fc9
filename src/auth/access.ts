/**
 * Access records and scopes, as the Docker token authentication spec writes them: a resource
 * (`repository:team/app`, `registry:catalog`) and an action (`pull`, `push`, `delete`, `*`). A scope string
 * groups the actions of one resource: `repository:team/app:pull,push`.
 */
import { validateRepositoryName } from '../oci/reference.js';

export interface Access {
  type: string;
  name: string;
  action: string;
}

/** One entry of a token's `access` claim, or one parsed scope. */
export interface ResourceActions {
  type: string;
  name: string;
  actions: string[];
}

export const CATALOG: Access = { type: 'registry', name: 'catalog', action: '*' };

export const pull = (name: string): Access => ({ type: 'repository', name, action: 'pull' });
export const push = (name: string): Access => ({ type: 'repository', name, action: 'push' });
export const del = (name: string): Access => ({ type: 'repository', name, action: 'delete' });

/** Groups access records by resource, keeping first-seen order: the shape of scopes and `access` claims. */
export function groupAccess(records: readonly Access[]): ResourceActions[] {
  const grouped = new Map<string, ResourceActions>();
  for (const { type, name, action } of records) {
    const key = `${type}:${name}`;
    const entry = grouped.get(key) ?? { type, name, actions: [] };
    if (!entry.actions.includes(action)) entry.actions.push(action);
    grouped.set(key, entry);
  }
  return [...grouped.values()];
}

/** `repository:a:pull,push repository:b:pull`: the value of a challenge's `scope` parameter. */
export function formatScopes(records: readonly Access[]): string {
  return groupAccess(records)
    .map(({ type, name, actions }) => `${type}:${name}:${actions.join(',')}`)
    .join(' ');
}

export class ScopeError extends Error {
  constructor(
    message: string,
    /** The repository name at fault, when the scope was readable but named something invalid. */
    readonly repository?: string,
  ) {
    super(message);
  }
}

/**
 * Checks that a resource names something this registry can hold: a valid repository name (so no `..`, no
 * `host:port` prefix, no upper case) or `registry:catalog`. Throws a ScopeError saying why not.
 */
export function validateResource(type: string, name: string): void {
  if (type === 'repository') {
    try {
      validateRepositoryName(name);
    } catch (err) {
      throw new ScopeError(`invalid repository name in scope ${JSON.stringify(name)}: ${(err as Error).message}`, name);
    }
  } else if (type === 'registry') {
    if (name !== 'catalog') throw new ScopeError(`unknown registry resource ${JSON.stringify(name)}`);
  } else {
    throw new ScopeError(`unknown resource type ${JSON.stringify(type)}`);
  }
}

/**
 * Parses one scope (`repository:team/app:pull,push`). The name is what lies between the first and the last
 * colon, so a `host:port/name` is seen whole and refused rather than split wrongly. Resource types this
 * registry does not know give undefined (the spec lets a token server ignore them).
 */
export function parseScope(scope: string): ResourceActions | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) throw new ScopeError(`malformed scope ${JSON.stringify(scope)} (expected type:name:actions)`);
  const type = scope.slice(0, first);
  if (type !== 'repository' && type !== 'registry') return undefined;
  const name = scope.slice(first + 1, last);
  validateResource(type, name);
  const actions = scope
    .slice(last + 1)
    .split(',')
    .filter((action) => action !== '');
  return { type, name, actions };
}

/** Whether the granted resources cover one wanted access (`*` covers every action). */
export function covers(granted: readonly ResourceActions[], wanted: Access): boolean {
  return granted.some(
    (entry) =>
      entry.type === wanted.type &&
      entry.name === wanted.name &&
      (entry.actions.includes(wanted.action) || entry.actions.includes('*')),
  );
}
