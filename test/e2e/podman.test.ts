import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { newPodman, type Podman } from '../helpers/clients.js';
import { makeImage, sha256 } from '../helpers/oci-layout.js';
import { getManifest } from '../helpers/registry-api.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry-process.js';
import { e2eServers } from '../helpers/servers.js';

for (const kind of e2eServers()) {
  describe(`podman against ${kind}`, () => {
    let registry: RunningRegistry;
    let podman: Podman;
    let work: string;

    before(async () => {
      podman = await newPodman();
      // podman names an image pulled from oci:DIR after DIR, and image names must be lowercase.
      work = path.join(os.tmpdir(), `berth-e2e-podman-work-${randomUUID()}`);
      await mkdir(work);
      registry = await startRegistry({ kind });
    });
    after(async () => {
      await registry?.stop();
      await podman?.dispose();
      await rm(work, { recursive: true, force: true });
    });

    test('an image pushed with podman pulls back with the same image id and manifest digest', async () => {
      const layout = path.join(work, 'layout');
      const image = await makeImage({ dir: layout, tag: 'app', layers: [{ size: 400_000 }, { bytes: 'config file\n' }] });
      const imageId = image.config.digest.slice('sha256:'.length);
      const reference = `${registry.host}/podman/app:v1`;

      assert.equal((await podman.run(['pull', '-q', `oci:${layout}:app`])).trim(), imageId);
      const digestFile = path.join(work, 'pushed.digest');
      await podman.run(['push', '--tls-verify=false', '--digestfile', digestFile, imageId, `docker://${reference}`]);
      const pushedDigest = (await readFile(digestFile, 'utf8')).trim();

      const served = await getManifest(registry.url, 'podman/app', 'v1');
      assert.equal(served.digest, pushedDigest);
      assert.equal(sha256(served.bytes), pushedDigest);

      await podman.run(['rmi', '--all', '--force']);
      assert.equal((await podman.run(['pull', '-q', '--tls-verify=false', reference])).trim(), imageId);
      const inspected = JSON.parse(await podman.run(['image', 'inspect', reference])) as { Id: string; Digest: string }[];
      assert.equal(inspected[0]?.Id, imageId);
      assert.equal(inspected[0]?.Digest, pushedDigest);
    });
  });
}
