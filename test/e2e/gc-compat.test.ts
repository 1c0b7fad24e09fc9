import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { requireCommand, run, skopeo } from '../helpers/clients.js';
import { makeImage, makeIndex, sha256 } from '../helpers/oci-layout.js';
import { startRegistry, type RunningRegistry } from '../helpers/registry-process.js';
import { e2eServers } from '../helpers/servers.js';

const BERTH_BIN = fileURLToPath(new URL('../../../bin/berth.js', import.meta.url));

/** The digests a `garbage-collect` run lists as `blob eligible for deletion: <digest>`. */
function eligibleBlobs(output: string): Set<string> {
  return new Set([...output.matchAll(/^blob eligible for deletion: (\S+)$/gm)].map((m) => m[1]!));
}

function blobFile(root: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return path.join(root, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

interface Written {
  /** repo:tag -> manifest digest, for every tag that must survive. */
  tagged: Map<string, string>;
  /** Blobs that only the children of the tagged multi-arch index reference. */
  childOnlyBlobs: string[];
  /** Blobs of the manifest deleted through the API (nothing else references them). */
  deletedImageBlobs: string[];
  /** The manifest a moved tag left untagged. */
  untagged: string;
}

/**
 * Images that share layers across tags and repositories, a multi-arch index, a tag moved to another image
 * (leaving an untagged manifest), and manifests deleted through the API, all written by Distribution.
 */
async function writeWithDistribution(registry: RunningRegistry, layout: string): Promise<Written> {
  const to = (reference: string) => `docker://${registry.host}/${reference}`;
  const copy = (args: string[]) => skopeo(['copy', '--dest-tls-verify=false', ...args]);
  const shared = { bytes: 'a base layer every image shares\n', fileName: 'base.txt' };
  const tagged = new Map<string, string>();
  const push = (name: string, reference: string) => copy([`oci:${layout}:${name}`, to(reference)]);

  const v1 = await makeImage({ dir: layout, tag: 'v1', layers: [shared, { size: 40_000 }] });
  await push('v1', 'gc/app:v1');
  tagged.set('gc/app:v1', v1.manifest.digest);
  const v2 = await makeImage({ dir: layout, tag: 'v2', layers: [shared, { size: 50_000 }] });
  await push('v2', 'gc/app:v2');
  await push('v2', 'gc/other:v2');
  tagged.set('gc/other:v2', v2.manifest.digest);

  // gc/app:old first names one image, then another: the first stays as an untagged revision.
  const old = await makeImage({ dir: layout, tag: 'old', layers: [shared, { size: 30_000 }] });
  await push('old', 'gc/app:old');
  const newer = await makeImage({ dir: layout, tag: 'newer', layers: [{ size: 20_000 }] });
  await push('newer', 'gc/app:old');
  tagged.set('gc/app:old', newer.manifest.digest);

  await makeImage({ dir: layout, tag: 'docker', layers: [shared, { size: 25_000 }] });
  await copy(['--format', 'v2s2', `oci:${layout}:docker`, to('gc/docker:v1')]);
  const dockerDigest = (await skopeo(['inspect', '--tls-verify=false', '--format', '{{.Digest}}', to('gc/docker:v1')])).trim();
  tagged.set('gc/docker:v1', dockerDigest);

  const multi = await makeIndex({
    dir: layout,
    tag: 'multi',
    images: [
      { platform: { os: 'linux', architecture: 'amd64' }, layers: [{ size: 35_000 }] },
      { platform: { os: 'linux', architecture: 'arm64' }, layers: [shared, { size: 36_000 }] },
    ],
  });
  await copy(['--all', `oci:${layout}:multi`, to('gc/multi:v1')]);
  tagged.set('gc/multi:v1', multi.index.digest);

  // Deleting gc/app:v2 by digest also drops it from gc/app (its blobs stay referenced by gc/other).
  await skopeo(['delete', '--tls-verify=false', to('gc/app:v2')]);
  const gone = await makeImage({ dir: layout, tag: 'gone', layers: [{ size: 45_000 }] });
  await push('gone', 'gc/gone:v1');
  await skopeo(['delete', '--tls-verify=false', to('gc/gone:v1')]);

  const childOnlyBlobs = multi.images.flatMap((image) => [image.config.digest, ...image.layers.map((l) => l.digest)]);
  return {
    tagged,
    childOnlyBlobs: childOnlyBlobs.filter((digest) => !v1.layers.some((l) => l.digest === digest)),
    deletedImageBlobs: [gone.manifest.digest, gone.config.digest, ...gone.layers.map((l) => l.digest)],
    untagged: old.manifest.digest,
  };
}

const needsBerth = e2eServers().includes('berth') ? false : 'needs Berth: set E2E_SERVERS to include berth';

describe('berth garbage-collect on a data directory written by Distribution', { skip: needsBerth }, () => {
  test('lists the same eligible blobs as docker-registry garbage-collect, and Distribution serves every tag after the sweep', async () => {
    requireCommand('skopeo', 'skopeo');
    requireCommand('docker-registry', 'docker-registry');
    const work = await mkdtemp(path.join(os.tmpdir(), 'berth-e2e-gc-compat-'));
    const root = path.join(work, 'root');
    const configPath = path.join(work, 'config.yml');
    await writeFile(configPath, stringify({ version: 0.1, storage: { filesystem: { rootdirectory: root } } }));
    const distributionGc = async (...flags: string[]) =>
      (await run('docker-registry', ['garbage-collect', configPath, ...flags])).stdout;
    const berthGc = async (...flags: string[]) =>
      (await run(process.execPath, [BERTH_BIN, 'garbage-collect', configPath, ...flags])).stdout;
    let registry: RunningRegistry | undefined;
    try {
      registry = await startRegistry({ kind: 'distribution', rootDirectory: root });
      const written = await writeWithDistribution(registry, path.join(work, 'layout'));
      await registry.stop();
      registry = undefined;

      // Without --delete-untagged both collect exactly the same blobs.
      const theirs = eligibleBlobs(await distributionGc('--dry-run'));
      const ours = eligibleBlobs(await berthGc('--dry-run'));
      assert.ok(theirs.size >= written.deletedImageBlobs.length, 'the deleted images left blobs to collect');
      for (const digest of written.deletedImageBlobs) assert.ok(ours.has(digest), `${digest} is eligible`);
      assert.deepEqual([...ours].sort(), [...theirs].sort());

      // With it, Berth lists the same plus nothing, minus the blobs of the multi-arch image's children, which
      // Distribution 2.8 would delete although the tagged index needs them (distribution#3178).
      const theirsUntagged = eligibleBlobs(await distributionGc('-m', '--dry-run'));
      const oursUntagged = eligibleBlobs(await berthGc('--delete-untagged=true', '-d'));
      assert.ok(!ours.has(written.untagged) && oursUntagged.has(written.untagged), 'the untagged manifest goes with -m only');
      for (const digest of oursUntagged) assert.ok(theirsUntagged.has(digest), `${digest} is eligible for Distribution too`);
      const onlyTheirs = [...theirsUntagged].filter((digest) => !oursUntagged.has(digest)).sort();
      assert.deepEqual(onlyTheirs, [...new Set(written.childOnlyBlobs)].sort());

      // The dry runs changed nothing; the real run deletes exactly what it listed.
      assert.deepEqual(eligibleBlobs(await berthGc('--dry-run')), ours);
      const output = await berthGc('--delete-untagged');
      assert.match(output, new RegExp(`^deleted ${oursUntagged.size} blobs \\(\\d+ bytes\\) and \\d+ manifests$`, 'm'));
      for (const digest of oursUntagged) assert.equal(await exists(blobFile(root, digest)), false, `${digest} deleted`);
      assert.equal(eligibleBlobs(await distributionGc('--dry-run')).size, 0, 'Distribution finds nothing left to collect');

      // Distribution serves every tagged image completely; skopeo checks every blob's digest on the way out.
      registry = await startRegistry({ kind: 'distribution', rootDirectory: root });
      for (const [reference, digest] of written.tagged) {
        const out = path.join(work, `out-${reference.replace(/[/:]/g, '-')}`);
        await skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${registry.host}/${reference}`, `dir:${out}`]);
        assert.equal(sha256(await readFile(path.join(out, 'manifest.json'))), digest, reference);
      }
    } finally {
      await registry?.stop();
      await rm(work, { recursive: true, force: true });
    }
  });
});
