/**
 * `GET /v2/<name>/tags/list?n=&last=`: the repository's tags in lexical order. Without `n`, all of them;
 * with `n`, at most `n` after `last` (`n=0` is an empty list), and a `Link` to the next page when there is one.
 */
import { pageRequest, repositoryOf, type Handlers } from '../../context.js';
import { nextLink } from '../../urls.js';

export const tagsHandlers: Handlers<'tags'> = {
  async GET(request, reply, route, ctx) {
    const repository = repositoryOf(ctx, request, route.name);
    const page = pageRequest(request);
    const result = await repository.tags.list(page);
    const last = result.items.at(-1);
    if (result.more && last !== undefined && page.n !== undefined) {
      reply.header('Link', nextLink(ctx.urls.link(`/v2/${route.name}/tags/list`), page.n, last));
    }
    return reply.type('application/json; charset=utf-8').send({ name: route.name, tags: result.items });
  },
};
