/**
 * Repository names, tags and the `<reference>` of `/v2/<name>/manifests/<reference>`, per the OCI Distribution
 * Spec v1.1. The validators explain which rule a value breaks, because the reason reaches the user verbatim.
 */
import { parseDigest, type Digest } from './digest.js';
import { NameInvalidError, TagInvalidError } from './errors.js';

/** Distribution's `NameTotalLengthMax`: the limit is on the whole name, slashes included. */
export const NAME_MAX_LENGTH = 255;
export const TAG_MAX_LENGTH = 128;

const TAG_GRAMMAR = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const SEPARATOR_RUN = /[._-]+/g;
const VALID_SEPARATOR = /^(?:\.|_|__|-+)$/;

/**
 * Checks a repository name against `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`
 * and the 255-character limit, throwing NAME_INVALID with the first rule broken.
 */
export function validateRepositoryName(name: string): void {
  if (name === '') throw new NameInvalidError(name, 'repository name must not be empty');
  if (name.length > NAME_MAX_LENGTH) {
    throw new NameInvalidError(
      name,
      `repository name must not be more than ${NAME_MAX_LENGTH} characters (it has ${name.length})`,
    );
  }
  const components = name.split('/');
  components.forEach((component, index) => {
    if (component === '') {
      const rule = index === 0 ? 'start with "/"' : index === components.length - 1 ? 'end with "/"' : 'contain "//"';
      throw new NameInvalidError(name, `repository name must not ${rule}`);
    }
    validateComponent(name, component);
  });
}

function validateComponent(name: string, component: string): void {
  const bad = /[^a-z0-9._-]/.exec(component);
  if (bad) {
    const char = bad[0];
    throw new NameInvalidError(
      name,
      /[A-Z]/.test(char)
        ? `repository name must be lowercase (found ${JSON.stringify(char)})`
        : `character ${JSON.stringify(char)} is not allowed; use lowercase letters, digits, ".", "_", "-" and "/"`,
    );
  }
  if (!/^[a-z0-9]/.test(component)) {
    throw new NameInvalidError(name, `path component ${JSON.stringify(component)} must start with a lowercase letter or digit`);
  }
  if (!/[a-z0-9]$/.test(component)) {
    throw new NameInvalidError(name, `path component ${JSON.stringify(component)} must end with a lowercase letter or digit`);
  }
  for (const [separator] of component.matchAll(SEPARATOR_RUN)) {
    if (!VALID_SEPARATOR.test(separator)) {
      throw new NameInvalidError(
        name,
        `separator ${JSON.stringify(separator)} in ${JSON.stringify(component)} is not allowed; ` +
          'join words with ".", "_", "__" or one or more "-"',
      );
    }
  }
}

export function isTagSyntax(tag: string): boolean {
  return TAG_GRAMMAR.test(tag);
}

/** Checks a tag against `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`, throwing TAG_INVALID with the rule broken. */
export function validateTag(tag: string): void {
  if (isTagSyntax(tag)) return;
  if (tag === '') throw new TagInvalidError(tag, 'tag must not be empty');
  if (tag.length > TAG_MAX_LENGTH) {
    throw new TagInvalidError(tag, `tag must be at most ${TAG_MAX_LENGTH} characters (it has ${tag.length})`);
  }
  const bad = /[^a-zA-Z0-9._-]/.exec(tag);
  if (bad) {
    throw new TagInvalidError(
      tag,
      `character ${JSON.stringify(bad[0])} is not allowed; use letters, digits, "_", "." and "-"`,
    );
  }
  throw new TagInvalidError(tag, 'tag must start with a letter, digit or "_"');
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

/**
 * Reads the `<reference>` path segment: a digest when it contains ":" (tags never do), otherwise a tag.
 * Throws DIGEST_INVALID or TAG_INVALID.
 */
export function parseReference(ref: string): Reference {
  if (ref.includes(':')) return { kind: 'digest', digest: parseDigest(ref) };
  validateTag(ref);
  return { kind: 'tag', tag: ref };
}
