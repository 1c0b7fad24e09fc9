/**
 * Online garbage collection under load: several pushers on the HTTP API write images that share layers,
 * move tags, push multi-arch indexes and delete manifests, while `berth serve` collects every second with a
 * short grace period. Afterwards every tag is pulled back blob by blob, and once the grace period has passed
 * the store holds exactly what the tags reference.
 *
 * GC_STRESS_SECONDS (default 30) sets how long the pushers run; the figures are printed as a diagnostic.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { startRegistry, type RunningRegistry } from '../helpers/registry-process.js';
import { e2eServers } from '../helpers/servers.js';

const SECONDS = Number(process.env.GC_STRESS_SECONDS ?? 30);
const PUSHERS = 4;
const GRACE_SECONDS = 5;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Stored {
  bytes: Buffer;
  mediaType: string;
  /** Blobs (config and layers) or, for an index, child manifests. */
  references: string[];
}

class Figures {
  manifests = 0;
  indexes = 0;
  uploads = 0;
  mounts = 0;
  deletes = 0;
  errors: string[] = [];
}

/** Everything the test pushed, by digest: what a tag's closure is made of. */
const content = new Map<string, Stored>();

/** Every pool blob is deterministic, so the same content comes back after being collected. */
function poolBlob(name: string, size: number): Buffer {
  const seed = createHash('sha256').update(name).digest();
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += 32) createHash('sha256').update(seed).update(String(i)).digest().copy(out, i);
  return out;
}

async function pushBlob(url: string, repo: string, bytes: Buffer, mountFrom: string, figures: Figures): Promise<void> {
  const digest = sha256(bytes);
  content.set(digest, { bytes, mediaType: 'application/octet-stream', references: [] });
  const post = await fetch(`${url}/v2/${repo}/blobs/uploads/?mount=${digest}&from=${mountFrom}`, { method: 'POST' });
  await post.arrayBuffer();
  if (post.status === 201) {
    figures.mounts++;
    return;
  }
  if (post.status !== 202) throw new Error(`POST upload ${repo}: ${post.status}`);
  const target = new URL(post.headers.get('location')!, url);
  target.searchParams.set('digest', digest);
  const put = await fetch(target, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: bytes });
  const body = await put.text();
  if (put.status !== 201) throw new Error(`PUT blob ${digest}: ${put.status} ${body}`);
  figures.uploads++;
}

async function putManifest(url: string, repo: string, reference: string, stored: Stored): Promise<{ status: number; body: string }> {
  const response = await fetch(`${url}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': stored.mediaType },
    body: stored.bytes,
  });
  return { status: response.status, body: await response.text() };
}

function imageManifest(pusher: number, shared: Buffer, unique: Buffer, label: string): Stored {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', pusher, label }));
  const configDigest = sha256(config);
  content.set(configDigest, { bytes: config, mediaType: 'application/octet-stream', references: [] });
  const layers = [shared, unique].map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(b), size: b.length }));
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers,
    }),
  );
  return { bytes, mediaType: OCI_MANIFEST, references: [configDigest, ...layers.map((l) => l.digest)] };
}

/** One pusher: its own repository, layers shared with everyone, tags it moves and manifests it deletes. */
async function runPusher(url: string, pusher: number, shared: Buffer[], until: number, figures: Figures, tags: Map<string, string>) {
  const repo = `stress/p${pusher}`;
  const others = Array.from({ length: PUSHERS }, (_, i) => `stress/p${i}`).filter((r) => r !== repo);
  const pool = Array.from({ length: 12 }, (_, i) => poolBlob(`pusher ${pusher} unique ${i}`, 16_384 + i * 512));
  const pushed: string[] = [];
  const image = async (label: string, unique: Buffer) => {
    const layer = pick(shared);
    const manifest = imageManifest(pusher, layer, unique, label);
    await pushBlob(url, repo, content.get(manifest.references[0]!)!.bytes, pick(others), figures);
    await pushBlob(url, repo, layer, pick(others), figures);
    await pushBlob(url, repo, unique, pick(others), figures);
    return manifest;
  };
  const record = async (reference: string, stored: Stored) => {
    const digest = sha256(stored.bytes);
    content.set(digest, stored);
    const { status, body } = await putManifest(url, repo, reference, stored);
    if (status !== 201) {
      figures.errors.push(`PUT ${repo}:${reference} -> ${status} ${body}`);
      return undefined;
    }
    return digest;
  };

  while (Date.now() < until) {
    try {
      const roll = Math.random();
      const tag = `t${Math.floor(Math.random() * 3)}`;
      if (roll < 0.15 && pushed.length > 0) {
        const victim = pick(pushed);
        const response = await fetch(`${url}/v2/${repo}/manifests/${victim}`, { method: 'DELETE' });
        await response.arrayBuffer();
        if (response.status === 202) {
          figures.deletes++;
          for (const [t, d] of tags) if (d === victim) tags.delete(t);
        }
        pushed.splice(pushed.indexOf(victim), 1);
      } else if (roll < 0.3) {
        const children: string[] = [];
        for (const arch of ['amd64', 'arm64']) {
          const manifest = await image(`child ${arch} ${Math.floor(Math.random() * 4)}`, pick(pool));
          const digest = await record(sha256(manifest.bytes), manifest);
          if (digest) children.push(digest);
        }
        if (children.length < 2) continue;
        const bytes = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_INDEX,
            manifests: children.map((d) => ({ mediaType: OCI_MANIFEST, digest: d, size: content.get(d)!.bytes.length })),
          }),
        );
        const digest = await record(tag, { bytes, mediaType: OCI_INDEX, references: children });
        if (digest) {
          tags.set(tag, digest);
          figures.indexes++;
        }
      } else {
        const manifest = await image(`image ${Math.floor(Math.random() * 6)}`, pick(pool));
        const digest = await record(tag, manifest);
        if (digest) {
          tags.set(tag, digest);
          pushed.push(digest);
          figures.manifests++;
        }
      }
    } catch (err) {
      figures.errors.push(String(err));
    }
  }
}

/** Every digest a tag keeps: the manifest, its config and layers, an index's children and theirs. */
function closure(digest: string, into: Set<string>): void {
  into.add(digest);
  for (const reference of content.get(digest)?.references ?? []) closure(reference, into);
}

async function blobsOnDisk(root: string): Promise<Set<string>> {
  const found = new Set<string>();
  const base = path.join(root, 'docker/registry/v2/blobs/sha256');
  for (const prefix of await readdir(base)) {
    for (const hex of await readdir(path.join(base, prefix))) {
      if ((await readdir(path.join(base, prefix, hex))).includes('data')) found.add(`sha256:${hex}`);
    }
  }
  return found;
}

interface GcRun {
  blobsDeleted: number;
  bytesDeleted: number;
  manifestsDeleted: number;
  claimedDuringSweep: number;
}

function gcRuns(logs: string): GcRun[] {
  return logs
    .split('\n')
    .filter((line) => line.includes('"msg":"garbage collection: '))
    .map((line) => JSON.parse(line) as GcRun);
}

const needsBerth = e2eServers().includes('berth') ? false : 'needs Berth: set E2E_SERVERS to include berth';

describe('online garbage collection alongside concurrent pushes', { skip: needsBerth }, () => {
  test(
    'no acknowledged push fails, every tag pulls back whole, and unreferenced content older than the grace period is gone',
    { timeout: (SECONDS + 120) * 1000 },
    async (t) => {
      let registry: RunningRegistry | undefined;
      try {
        registry = await startRegistry({
          kind: 'berth',
          config: {
            log: { level: 'info', formatter: 'json', accesslog: { disabled: true } },
            storage: {
              delete: { enabled: true },
              maintenance: { gc: { enabled: true, interval: '1s', graceperiod: `${GRACE_SECONDS}s`, deleteuntagged: true } },
            },
          },
        });
        const { url } = registry;
        const shared = Array.from({ length: 3 }, (_, i) => poolBlob(`shared ${i}`, 65_536));
        const figures = new Figures();
        const tags = Array.from({ length: PUSHERS }, () => new Map<string, string>());

        const until = Date.now() + SECONDS * 1000;
        await Promise.all(tags.map((t, i) => runPusher(url, i, shared, until, figures, t)));

        // The server's own error lines say why a request failed; a 500's body does not.
        const serverErrors = registry.logs().split('\n').filter((line) => line.includes('"level":50'));
        assert.deepEqual(figures.errors, [], `every push of acknowledged content succeeded; the server logged:\n${serverErrors.join('\n')}`);

        // Every tag names what was last pushed to it, and every blob of it comes back intact.
        const expected = new Set<string>();
        for (const [i, repoTags] of tags.entries()) {
          const listed = (await (await fetch(`${url}/v2/stress/p${i}/tags/list`)).json()) as { tags: string[] | null };
          assert.deepEqual([...(listed.tags ?? [])].sort(), [...repoTags.keys()].sort());
          for (const [tag, digest] of repoTags) {
            const response = await fetch(`${url}/v2/stress/p${i}/manifests/${tag}`, { headers: { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` } });
            assert.equal(response.headers.get('docker-content-digest'), digest, `stress/p${i}:${tag}`);
            await response.arrayBuffer();
            const keep = new Set<string>();
            closure(digest, keep);
            for (const needed of keep) {
              const isManifest = [OCI_MANIFEST, OCI_INDEX].includes(content.get(needed)!.mediaType);
              const got = await fetch(`${url}/v2/stress/p${i}/${isManifest ? 'manifests' : 'blobs'}/${needed}`, {
                headers: { accept: `${OCI_MANIFEST}, ${OCI_INDEX}` },
              });
              assert.equal(got.status, 200, `stress/p${i}:${tag} needs ${needed}`);
              assert.equal(sha256(Buffer.from(await got.arrayBuffer())), needed);
              expected.add(needed);
            }
          }
        }

        // Once nothing has been renewed for a grace period, a run later the store holds exactly that.
        const runsBefore = gcRuns(registry.logs()).length;
        await sleep((GRACE_SECONDS + 1) * 1000);
        const deadline = Date.now() + 30_000;
        while (gcRuns(registry.logs()).length < runsBefore + 2 && Date.now() < deadline) await sleep(200);
        await sleep(2500);
        assert.deepEqual([...(await blobsOnDisk(registry.rootDirectory))].sort(), [...expected].sort());

        const runs = gcRuns(registry.logs());
        const total = (key: keyof GcRun) => runs.reduce((n, run) => n + run[key], 0);
        assert.ok(total('blobsDeleted') > 0, 'the collector deleted content while pushes ran');
        const summary = {
          seconds: SECONDS,
          pushers: PUSHERS,
          imageManifests: figures.manifests,
          indexes: figures.indexes,
          blobUploads: figures.uploads,
          crossRepoMounts: figures.mounts,
          manifestDeletes: figures.deletes,
          gcRuns: runs.length,
          blobsDeleted: total('blobsDeleted'),
          bytesDeleted: total('bytesDeleted'),
          manifestsDeleted: total('manifestsDeleted'),
          claimedDuringSweep: total('claimedDuringSweep'),
          errors: figures.errors.length,
          blobsVerified: expected.size,
        };
        t.diagnostic(`gc stress: ${JSON.stringify(summary)}`);
      } finally {
        await registry?.stop();
      }
    },
  );
});
