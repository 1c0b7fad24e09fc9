/**
 * `GET /v2/<name>/referrers/<digest>[?artifactType=]`: the manifests whose `subject` is `<digest>`, as an
 * OCI image index (OCI Distribution Spec v1.1). An unknown subject is an empty index, not a 404.
 */
import { OCI_INDEX } from '../../../oci/mediatypes.js';
import { digestParam, queryParam, repositoryOf, type Handlers } from '../../context.js';

export const referrersHandlers: Handlers<'referrers'> = {
  async GET(request, reply, route, ctx) {
    const repository = repositoryOf(ctx, request, route.name);
    const subject = digestParam(request, route.digest);
    const artifactType = queryParam(request, 'artifactType');
    const filtered = artifactType !== undefined && artifactType !== '';
    const manifests = await repository.referrers.list(subject, filtered ? { artifactType } : {});
    if (filtered) reply.header('OCI-Filters-Applied', 'artifactType');
    // A Buffer, so Fastify does not append `; charset=utf-8` to the media type the spec names.
    return reply
      .type(OCI_INDEX)
      .send(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests })));
  },
};
