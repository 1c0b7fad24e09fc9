/** `/v2/`: the version check clients make first. A 200 says this registry speaks the v2 API. */
import type { Handlers } from '../../context.js';

export const baseHandlers: Handlers<'base'> = {
  async GET(_request, reply) {
    return reply.type('application/json; charset=utf-8').send({});
  },
  async HEAD(_request, reply) {
    return reply.type('application/json; charset=utf-8').header('Content-Length', '2').send();
  },
};
