/**
 * `GET /v2/_catalog?n=&last=`: repository names in lexical order, at most `catalog.maxentries` (1000 by
 * default) per page. As in Distribution 2.8, asking for more than the maximum is PAGINATION_NUMBER_INVALID.
 */
import type { Handlers } from '../../context.js';
import { pageRequest } from '../../context.js';
import { nextLink } from '../../urls.js';

export const catalogHandlers: Handlers<'catalog'> = {
  async GET(request, reply, _route, ctx) {
    const page = pageRequest(request, ctx.catalogMaxEntries);
    const n = page.n ?? ctx.catalogMaxEntries;
    const result = await ctx.registry.catalog({ ...page, n });
    const last = result.items.at(-1);
    if (result.more && last !== undefined) reply.header('Link', nextLink(ctx.urls.link('/v2/_catalog'), n, last));
    return reply.type('application/json; charset=utf-8').send({ repositories: result.items });
  },
};
