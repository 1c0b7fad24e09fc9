/**
 * The mark phase for one repository, with Distribution 2.8's semantics and output:
 *   - every manifest in `_manifests/revisions` is marked, with every digest it references;
 *   - with `deleteUntagged`, only manifests that are alive are marked, the others are "eligible for deletion".
 *     Alive: named by a tag's `current` link, or renewed within the grace period (a push in flight), or a
 *     child of an alive index or manifest list in the same repository, or a referrer (its `subject`) of an
 *     alive manifest in the same repository.
 * Distribution 2.8 does not follow index children: with `--delete-untagged` it deletes the untagged
 * per-platform manifests of a tagged multi-arch image, and their layers (distribution#3178). Berth keeps them.
 */
import type { Digest } from '../../oci/digest.js';
import type { ScannedRepository } from './scan.js';

export class RepositoryLiveness {
  readonly live = new Set<Digest>();
  readonly #referrers = new Map<Digest, Digest[]>();

  constructor(
    readonly repo: ScannedRepository,
    private readonly marked: Set<Digest>,
  ) {
    for (const [digest, refs] of repo.manifests) {
      if (refs.subject === undefined) continue;
      const list = this.#referrers.get(refs.subject) ?? [];
      list.push(digest);
      this.#referrers.set(refs.subject, list);
    }
  }

  get tagged(): Set<Digest> {
    return new Set(this.repo.tags.values());
  }

  /** Makes `digest` alive with everything it keeps alive in this repository, and marks what they reference. */
  keepAlive(digest: Digest): void {
    const queue = [digest];
    while (queue.length > 0) {
      const current = queue.pop()!;
      const refs = this.repo.manifests.get(current);
      if (refs === undefined || this.live.has(current)) continue;
      this.live.add(current);
      this.marked.add(current);
      for (const reference of refs.references) this.marked.add(reference);
      queue.push(...refs.children, ...(this.#referrers.get(current) ?? []));
    }
  }

  /** Manifests not alive, parents (indexes, subjects) before what they would keep alive. */
  dead(): Digest[] {
    const order: Digest[] = [];
    const seen = new Set<Digest>();
    const parents = new Map<Digest, Digest[]>();
    for (const [digest, refs] of this.repo.manifests) {
      for (const child of [...refs.children, ...(this.#referrers.get(digest) ?? [])]) {
        parents.set(child, [...(parents.get(child) ?? []), digest]);
      }
    }
    const visit = (digest: Digest) => {
      if (seen.has(digest) || this.live.has(digest)) return;
      seen.add(digest);
      for (const parent of parents.get(digest) ?? []) visit(parent);
      order.push(digest);
    };
    for (const digest of this.repo.manifests.keys()) visit(digest);
    return order;
  }
}

export interface MarkOptions {
  deleteUntagged: boolean;
  /** Whether an untagged manifest was renewed within the grace period. */
  isFresh: (digest: Digest) => Promise<boolean>;
  emit: (line: string) => void;
}

export async function markRepository(
  repo: ScannedRepository,
  marked: Set<Digest>,
  options: MarkOptions,
): Promise<RepositoryLiveness> {
  const liveness = new RepositoryLiveness(repo, marked);
  options.emit(repo.name);
  if (!options.deleteUntagged) {
    for (const digest of repo.manifests.keys()) liveness.keepAlive(digest);
  } else {
    const tagged = liveness.tagged;
    for (const digest of repo.manifests.keys()) {
      if (tagged.has(digest) || (await options.isFresh(digest))) liveness.keepAlive(digest);
    }
  }
  for (const [digest, refs] of repo.manifests) {
    if (!liveness.live.has(digest)) {
      options.emit(`manifest eligible for deletion: ${digest}`);
      continue;
    }
    options.emit(`${repo.name}: marking manifest ${digest} `);
    for (const reference of refs.references) options.emit(`${repo.name}: marking blob ${reference}`);
  }
  return liveness;
}
