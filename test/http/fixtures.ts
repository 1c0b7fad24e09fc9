/**
 * A real registry on the in-memory driver behind `buildApp`, and the few pushes API tests need. Every
 * push goes through the HTTP API itself, so a fixture that works is already evidence the API does.
 */
import assert from 'node:assert/strict';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp, type AppOptions } from '../../src/http/app.js';
import { digestOf, type Digest } from '../../src/oci/digest.js';
import { OCI_MANIFEST } from '../../src/oci/mediatypes.js';
import { createRegistry } from '../../src/registry/index.js';
import { InMemoryDriver } from '../../src/storage/drivers/memory.js';

export interface TestAppOptions extends Partial<AppOptions> {
  deleteEnabled?: boolean;
  readOnly?: boolean;
  driver?: InMemoryDriver;
}

export interface TestApp {
  app: FastifyInstance;
  driver: InMemoryDriver;
}

export function newApp(options: TestAppOptions = {}): TestApp {
  const { deleteEnabled = true, readOnly = false, driver = new InMemoryDriver(), ...appOptions } = options;
  const registry = createRegistry({ driver, deleteEnabled, readOnly });
  return { app: buildApp({ registry, ...appOptions }), driver };
}

/** The `code` of the first error in an error envelope (and checks the envelope's shape). */
export function errorCode(response: LightMyRequestResponse): string {
  const body = response.json() as { errors: { code: string; message: string }[] };
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `not an error envelope: ${response.body}`);
  assert.equal(typeof body.errors[0]!.message, 'string');
  return body.errors[0]!.code;
}

/** The path of a (possibly absolute) Location header, for the next request. */
export function locationPath(response: LightMyRequestResponse): string {
  const location = response.headers.location;
  assert.equal(typeof location, 'string', 'response has no Location');
  const url = new URL(location as string, 'http://placeholder');
  return url.pathname + url.search;
}

/** Uploads a blob monolithically (POST ?digest=) and returns its digest. */
export async function pushBlob(app: FastifyInstance, name: string, content: Buffer | string): Promise<Digest> {
  const bytes = Buffer.from(content);
  const digest = digestOf(bytes);
  const response = await app.inject({
    method: 'POST',
    url: `/v2/${name}/blobs/uploads/?digest=${digest}`,
    headers: { 'content-type': 'application/octet-stream' },
    payload: bytes,
  });
  assert.equal(response.statusCode, 201, response.body);
  return digest;
}

export interface ImageOptions {
  /** Distinguishes otherwise identical images. */
  seed?: string;
  subject?: { mediaType: string; digest: Digest; size: number };
  artifactType?: string;
  configMediaType?: string;
}

/** Pushes a config and one layer, and returns an OCI image manifest over them (not yet pushed). */
export async function imageManifest(app: FastifyInstance, name: string, options: ImageOptions = {}): Promise<Buffer> {
  const seed = options.seed ?? 'image';
  const config = Buffer.from(JSON.stringify({ seed }));
  const layer = Buffer.from(`layer of ${seed}`);
  const configDigest = await pushBlob(app, name, config);
  const layerDigest = await pushBlob(app, name, layer);
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    ...(options.artifactType !== undefined && { artifactType: options.artifactType }),
    config: {
      mediaType: options.configMediaType ?? 'application/vnd.oci.image.config.v1+json',
      digest: configDigest,
      size: config.length,
    },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
    ...(options.subject !== undefined && { subject: options.subject }),
  };
  return Buffer.from(JSON.stringify(manifest));
}

export interface PushedManifest {
  digest: Digest;
  bytes: Buffer;
  response: LightMyRequestResponse;
}

/** Builds and pushes an image manifest under a tag (or, without one, by its digest), asserting the 201. */
export async function pushImage(
  app: FastifyInstance,
  name: string,
  tag?: string,
  options: ImageOptions = {},
): Promise<PushedManifest> {
  const bytes = await imageManifest(app, name, options);
  const response = await app.inject({
    method: 'PUT',
    url: `/v2/${name}/manifests/${tag ?? digestOf(bytes)}`,
    headers: { 'content-type': OCI_MANIFEST },
    payload: bytes,
  });
  assert.equal(response.statusCode, 201, response.body);
  return { digest: digestOf(bytes), bytes, response };
}
