/**
 * URLs the registry hands back in `Location` and `Link`. As in Distribution: relative when
 * `http.relativeurls` is set; otherwise absolute, based on `http.host` when configured, else on the request
 * (`X-Forwarded-Proto` / `X-Forwarded-Host`, then the connection and `Host`), so that a registry behind a
 * proxy points clients back at the proxy.
 */
import type { FastifyRequest } from 'fastify';

export interface UrlBuilder {
  /** The URL of an API path given from `/v2/` on, e.g. `/v2/library/alpine/blobs/sha256:...`. */
  location(request: FastifyRequest, apiPath: string): string;
  /** The path (prefix included) for a `Link` header; always relative, as Distribution sends it. */
  link(apiPath: string): string;
}

export interface UrlOptions {
  prefix: string;
  host?: string;
  relativeURLs: boolean;
}

function firstValue(value: string | string[] | undefined): string | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  const first = raw?.split(',')[0]?.trim();
  return first === '' ? undefined : first;
}

export function createUrlBuilder(options: UrlOptions): UrlBuilder {
  const { prefix, relativeURLs } = options;
  let hostBase: string | undefined;
  if (options.host) {
    const url = new URL(options.host); // already validated by the config layer; throws early otherwise
    const path = url.pathname.replace(/\/+$/, '');
    // Accept `http.host` given with or without the prefix in its path.
    const withPrefix = prefix !== '' && path.endsWith(prefix) ? path : `${path}${prefix}`;
    hostBase = `${url.protocol}//${url.host}${withPrefix}`;
  }
  return {
    location(request, apiPath) {
      if (relativeURLs) return `${prefix}${apiPath}`;
      if (hostBase !== undefined) return `${hostBase}${apiPath}`;
      const proto = firstValue(request.headers['x-forwarded-proto']) ?? request.protocol;
      const host = firstValue(request.headers['x-forwarded-host']) ?? request.host;
      return `${proto}://${host}${prefix}${apiPath}`;
    },
    link(apiPath) {
      return `${prefix}${apiPath}`;
    },
  };
}

/** The `Link: <...>; rel="next"` header of paginated lists (tags, catalog), per the distribution spec. */
export function nextLink(path: string, n: number, last: string): string {
  const query = new URLSearchParams({ n: String(n), last });
  return `<${path}?${query.toString()}>; rel="next"`;
}
