/**
 * The workloads, and the content each server is given before any is measured (untimed): an image in
 * `bench/app`, blobs to pull in `bench/pull`, a repository with many tags, and many repositories for the
 * catalog. nginx gets the same bytes as static files.
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Pool } from 'undici';
import {
  BlobSource,
  OCI_MANIFEST,
  digestOf,
  forEachLimited,
  imageManifest,
  mountBlob,
  openPool,
  pushChunked,
  pushMonolithic,
  putManifest,
  type Blob,
} from './client.js';
import { closedLoop, runHeadLoad, runWrk, type ClientResult } from './load.js';
import type { Server } from './servers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface Plan {
  quick: boolean;
  /** Tags in the tags-list repository, and repositories in the catalog. */
  listSize: number;
  /** wrk run length for small responses; large pulls run longer so that enough of them complete. */
  wrkSeconds: number;
  bigPullSeconds: number;
  /** Longest a push workload keeps starting new operations. */
  pushSeconds: number;
  pushSizes: number[];
  pullSizes: number[];
  chunked: { size: number; chunk: number };
  scratchDir: string;
}

export function makePlan(quick: boolean, scratchDir: string): Plan {
  return quick
    ? {
        quick,
        listSize: 50,
        wrkSeconds: 1,
        bigPullSeconds: 1,
        pushSeconds: 0.5,
        pushSizes: [4 * KiB, 1 * MiB],
        pullSizes: [1 * MiB],
        chunked: { size: 8 * MiB, chunk: 1 * MiB },
        scratchDir,
      }
    : {
        quick,
        listSize: 1000,
        wrkSeconds: 5,
        bigPullSeconds: 10,
        pushSeconds: 5,
        pushSizes: [4 * KiB, 1 * MiB, 32 * MiB, 256 * MiB],
        pullSizes: [1 * MiB, 256 * MiB],
        chunked: { size: 256 * MiB, chunk: 8 * MiB },
        scratchDir,
      };
}

/** What every server holds before the measured runs. */
export interface Fixture {
  config: Blob;
  layer: Blob;
  manifest: Buffer;
  manifestDigest: string;
  /** Blobs to pull, by size. */
  pulls: Map<number, Blob>;
}

export interface Workload {
  id: string;
  /** Server CPU, client CPU and throughput are given per operation, or per GiB of payload moved. */
  per: 'op' | 'GiB';
  /** Also run against nginx serving the same bytes. */
  nginx: boolean;
  /** Content the workload needs before it runs. */
  needs: Array<'tags' | 'catalog' | 'pull'>;
  run(server: Server, fixture: Fixture): Promise<ClientResult>;
}

export function label(bytes: number): string {
  return bytes >= MiB ? `${bytes / MiB}MiB` : `${bytes / KiB}KiB`;
}

const sizeLabel = label;

/**
 * Large pushed blobs are deleted from the storage root after each run, so that disks do not fill up over
 * many rounds. Small ones stay until the benchmark ends (a few GiB at most): deleting thousands of files
 * between runs made the next runs, of either server, pay for it. ext4 without a journal (as on this machine)
 * does not reuse an inode freed within the last minute or more, so every file created afterwards first
 * skips over all of them: 4 KiB pushes ran at about half the rate right after such a cleanup.
 */
const REMOVED_FROM_BYTES = 32 * MiB;

async function removeBlobs(server: Server, repo: string, digests: string[]): Promise<void> {
  const base = path.join(server.dir, 'root', 'docker', 'registry', 'v2');
  await rm(path.join(base, 'repositories', repo), { recursive: true, force: true });
  for (const digest of digests) {
    const hex = digest.slice('sha256:'.length);
    await rm(path.join(base, 'blobs', 'sha256', hex.slice(0, 2), hex), { recursive: true, force: true });
  }
}

let pushRun = 0;

function pushWorkload(plan: Plan, size: number, concurrency: number): Workload {
  const source = new Lazy(() => new BlobSource(size));
  const maxOps = size >= 256 * MiB ? Math.max(concurrency, 3) : size >= 32 * MiB ? 32 : 100_000;
  return {
    id: `push-${sizeLabel(size)}-c${concurrency}`,
    per: size >= MiB ? 'GiB' : 'op',
    nginx: false,
    needs: [],
    async run(server) {
      const repo = `bench/push-${(pushRun += 1)}`;
      const pushed: string[] = [];
      const pool = openPool(server.url, concurrency);
      try {
        return await closedLoop({
          concurrency,
          maxOps,
          maxSeconds: plan.pushSeconds,
          op: async () => {
            const blob = source.get().next();
            await pushMonolithic(pool, repo, blob);
            pushed.push(blob.digest);
            return blob.size;
          },
        });
      } finally {
        await pool.close();
        if (size >= REMOVED_FROM_BYTES) await removeBlobs(server, repo, pushed);
      }
    },
  };
}

function chunkedWorkload(plan: Plan): Workload {
  const { size, chunk } = plan.chunked;
  const source = new Lazy(() => new BlobSource(size));
  return {
    id: `push-chunked-${sizeLabel(size)}-${sizeLabel(chunk)}`,
    per: 'GiB',
    nginx: false,
    needs: [],
    async run(server) {
      const repo = `bench/chunked-${(pushRun += 1)}`;
      const pushed: string[] = [];
      const pool = openPool(server.url, 1);
      try {
        return await closedLoop({
          concurrency: 1,
          maxOps: 2,
          maxSeconds: plan.pushSeconds,
          op: async () => {
            const blob = source.get().next();
            await pushChunked(pool, repo, blob, chunk);
            pushed.push(blob.digest);
            return blob.size;
          },
        });
      } finally {
        await pool.close();
        await removeBlobs(server, repo, pushed);
      }
    },
  };
}

function manifestPushWorkload(plan: Plan): Workload {
  return {
    id: 'manifest-push-c1',
    per: 'op',
    nginx: false,
    needs: [],
    async run(server, fixture) {
      const pool = openPool(server.url, 1);
      const run = (pushRun += 1);
      try {
        return await closedLoop({
          concurrency: 1,
          maxOps: 100_000,
          maxSeconds: plan.pushSeconds,
          op: async (i) => {
            const manifest = imageManifest(fixture.config, fixture.layer, `${run}-${i}`);
            await putManifest(pool, 'bench/app', `push-${run}-${i}`, manifest);
            return manifest.length;
          },
        });
      } finally {
        await pool.close();
      }
    },
  };
}

/** A read workload through wrk; `target` gives the URL path on a registry and on nginx. */
function readWorkload(
  plan: Plan,
  spec: {
    id: string;
    per: 'op' | 'GiB';
    connections: number;
    method?: 'GET' | 'HEAD';
    nginxPath?: (fixture: Fixture) => string;
    needs?: Workload['needs'];
    seconds?: number;
    path: (fixture: Fixture) => string;
    bodyBytes: (fixture: Fixture) => number;
  },
): Workload {
  return {
    id: spec.id,
    per: spec.per,
    nginx: spec.nginxPath !== undefined,
    needs: spec.needs ?? [],
    run(server, fixture) {
      const onNginx = server.kind === 'nginx';
      const url = `${server.url}${onNginx ? spec.nginxPath!(fixture) : spec.path(fixture)}`;
      const headers: Record<string, string> = onNginx ? {} : { Accept: OCI_MANIFEST };
      const seconds = spec.seconds ?? plan.wrkSeconds;
      if (spec.method === 'HEAD') return runHeadLoad({ url, headers, connections: spec.connections, seconds });
      return runWrk({
        url,
        headers,
        connections: spec.connections,
        seconds,
        scratchDir: plan.scratchDir,
        bodyBytes: spec.bodyBytes(fixture),
      });
    },
  };
}

export function allWorkloads(plan: Plan): Workload[] {
  const workloads: Workload[] = [];
  for (const size of plan.pushSizes) for (const c of [1, 8]) workloads.push(pushWorkload(plan, size, c));
  workloads.push(chunkedWorkload(plan));
  for (const size of plan.pullSizes) {
    const big = size > 8 * MiB;
    for (const c of [1, 16]) {
      workloads.push(
        readWorkload(plan, {
          id: `pull-${sizeLabel(size)}-c${c}`,
          per: 'GiB',
          connections: c,
          needs: ['pull'],
          seconds: big ? plan.bigPullSeconds : plan.wrkSeconds,
          path: (f) => `/v2/bench/pull/blobs/${f.pulls.get(size)!.digest}`,
          nginxPath: () => `/blob-${size}`,
          bodyBytes: () => size,
        }),
      );
    }
  }
  workloads.push(manifestPushWorkload(plan));
  workloads.push(
    readWorkload(plan, {
      id: 'manifest-get-tag-c64',
      per: 'op',
      connections: 64,
      path: () => '/v2/bench/app/manifests/latest',
      nginxPath: () => '/manifest.json',
      bodyBytes: (f) => f.manifest.length,
    }),
    readWorkload(plan, {
      id: 'manifest-head-digest-c64',
      per: 'op',
      connections: 64,
      method: 'HEAD',
      path: (f) => `/v2/bench/app/manifests/${f.manifestDigest}`,
      nginxPath: () => '/manifest.json',
      bodyBytes: () => 0,
    }),
    readWorkload(plan, {
      id: `tags-list-${plan.listSize}-c16`,
      per: 'op',
      connections: 16,
      needs: ['tags'],
      path: () => '/v2/bench/tags/tags/list',
      bodyBytes: () => 0,
    }),
    readWorkload(plan, {
      id: `catalog-${plan.listSize}-c16`,
      per: 'op',
      connections: 16,
      needs: ['catalog'],
      path: () => `/v2/_catalog?n=${plan.listSize}`,
      bodyBytes: () => 0,
    }),
  );
  return workloads;
}

/** Content shared by all servers, made once: the same bytes everywhere. */
export function makeFixture(plan: Plan, needs: Set<string>): Fixture {
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const config: Blob = { digest: digestOf(configBytes), size: configBytes.length, parts: [configBytes] };
  const layer = new BlobSource(4 * KiB).next();
  const manifest = imageManifest(config, layer);
  const pulls = new Map<number, Blob>();
  if (needs.has('pull')) for (const size of plan.pullSizes) pulls.set(size, new BlobSource(size).next());
  return { config, layer, manifest, manifestDigest: digestOf(manifest), pulls };
}

/** Loads a registry with the fixture (untimed). */
export async function prepareRegistry(server: Server, fixture: Fixture, plan: Plan, needs: Set<string>): Promise<void> {
  const pool: Pool = openPool(server.url, 8);
  try {
    await pushMonolithic(pool, 'bench/app', fixture.config);
    await pushMonolithic(pool, 'bench/app', fixture.layer);
    await putManifest(pool, 'bench/app', 'latest', fixture.manifest);
    for (const blob of fixture.pulls.values()) await pushMonolithic(pool, 'bench/pull', blob);
    const linkImage = async (repo: string) => {
      await mountBlob(pool, repo, fixture.config.digest, 'bench/app');
      await mountBlob(pool, repo, fixture.layer.digest, 'bench/app');
    };
    if (needs.has('tags')) {
      await linkImage('bench/tags');
      await forEachLimited(plan.listSize, 8, (i) => putManifest(pool, 'bench/tags', `t${String(i).padStart(4, '0')}`, fixture.manifest));
    }
    if (needs.has('catalog')) {
      await forEachLimited(plan.listSize, 8, async (i) => {
        const repo = `bench/catalog/r${String(i).padStart(4, '0')}`;
        await linkImage(repo);
        await putManifest(pool, repo, 'latest', fixture.manifest);
      });
    }
  } finally {
    await pool.close();
  }
}

/** Gives nginx the same bytes as files: the manifest and the blobs to pull. */
export async function prepareNginx(server: Server, fixture: Fixture): Promise<void> {
  const www = path.join(server.dir, 'www');
  await writeFile(path.join(www, 'manifest.json'), fixture.manifest);
  for (const [size, blob] of fixture.pulls) await writeFile(path.join(www, `blob-${size}`), Buffer.concat(blob.parts));
}

/** A value made on first use: large blob bodies are only generated for workloads that run. */
class Lazy<T> {
  private value: T | undefined;
  constructor(private readonly make: () => T) {}
  get(): T {
    this.value ??= this.make();
    return this.value;
  }
}
