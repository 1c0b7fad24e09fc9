import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { NOT_SUPPORTED_YET } from '../../src/config/unsupported.js';

function problems(yamlText: string, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    loadConfig({ yamlText, env });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  return [];
}

const base = 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /srv/registry\n';

/** One config snippet per pending option, each setting it the way a registry:2 user would. */
const examples: Record<string, string> = {
  'http.tls.letsencrypt': base + 'http:\n  tls:\n    letsencrypt:\n      cachefile: /certs/acme.json\n      email: ops@example.com\n',
  'storage.azure': 'version: 0.1\nstorage:\n  azure:\n    accountname: acct\n    accountkey: key\n    container: images\n',
  'storage.gcs': 'version: 0.1\nstorage:\n  gcs:\n    bucket: images\n',
  'storage.swift': 'version: 0.1\nstorage:\n  swift:\n    container: images\n',
  'storage.oss': 'version: 0.1\nstorage:\n  oss:\n    bucket: images\n',
  'middleware.registry': base + 'middleware:\n  registry:\n    - name: redirect\n      options:\n        baseurl: https://cdn.example\n',
  'middleware.repository': base + 'middleware:\n  repository:\n    - name: custom\n',
  'middleware.storage': base + 'middleware:\n  storage:\n    - name: cloudfront\n      options:\n        baseurl: https://d.cloudfront.net/\n',
  'log.hooks': base + 'log:\n  hooks:\n    - type: mail\n      levels: [panic]\n',
  'reporting.bugsnag': base + 'reporting:\n  bugsnag:\n    apikey: k\n',
  'reporting.newrelic': base + 'reporting:\n  newrelic:\n    licensekey: k\n',
  'compatibility.schema1': base + 'compatibility:\n  schema1:\n    enabled: true\n',
  'policy.repository.classes': base + 'policy:\n  repository:\n    classes: [image]\n',
};

describe('options not supported yet', () => {
  it('has an example here for every pending option', () => {
    assert.deepEqual(Object.keys(examples).sort(), NOT_SUPPORTED_YET.map((o) => o.path).sort());
  });

  for (const [option, yamlText] of Object.entries(examples)) {
    it(`stops loading when ${option} is set`, () => {
      assert.deepEqual(problems(yamlText), [`not supported yet: ${option}`]);
    });
  }

  it('lists every pending option a config sets, after validating it', () => {
    const yamlText = base + 'log:\n  hooks:\n    - type: mail\ncompatibility:\n  schema1:\n    enabled: true\n';
    assert.deepEqual(problems(yamlText), ['not supported yet: log.hooks', 'not supported yet: compatibility.schema1']);
    assert.deepEqual(problems(base + 'proxy:\n  remoteurl: upstream\n'), [
      'proxy.remoteurl: expected an http:// or https:// URL, got "upstream"',
    ]);
  });

  it('counts options set through the environment', () => {
    assert.deepEqual(problems(base, { REGISTRY_REPORTING_BUGSNAG_APIKEY: 'k' }), ['not supported yet: reporting.bugsnag']);
    assert.deepEqual(problems(base, { REGISTRY_STORAGE: 'gcs', REGISTRY_STORAGE_GCS_BUCKET: 'b' }), ['not supported yet: storage.gcs']);
  });

  it('ignores sections that are present but do nothing, as Distribution does', () => {
    const yamlText = base + 'redis:\n  db: 0\nproxy:\n  username: u\n';
    assert.deepEqual(problems(yamlText), []);
  });
});
