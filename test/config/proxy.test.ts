import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { upstreamsOf } from '../../src/cli/serve.js';
import { ConfigError, loadConfig } from '../../src/config/load.js';

const base = 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /srv/registry\n';

function problems(yamlText: string, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    loadConfig({ yamlText, env });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  return [];
}

describe('proxy configuration', () => {
  it("reads Distribution's proxy section as a catch-all upstream named after its host", () => {
    const { config } = loadConfig({
      env: {},
      yamlText: base + 'proxy:\n  remoteurl: https://registry-1.docker.io\n  username: u\n  password: p\n  ttl: 168h\n',
    });
    assert.deepEqual(upstreamsOf(config), [
      {
        name: 'registry-1.docker.io',
        prefix: '',
        url: 'https://registry-1.docker.io',
        username: 'u',
        password: 'p',
        ttlMs: 168 * 3600_000,
        timeoutMs: 30_000,
        maxBytes: undefined,
        namespaces: undefined,
      },
    ]);
  });

  it('reads several upstreams, each prefixed by its name unless given a prefix, with defaults from the section', () => {
    const { config } = loadConfig({
      env: { REGISTRY_PROXY_UPSTREAMS_1_PASSWORD: 'from-env' },
      yamlText:
        base +
        'proxy:\n  timeout: 5s\n  upstreams:\n' +
        '    - name: hub\n      remoteurl: https://registry-1.docker.io\n      ttl: 10m\n      maxsize: 1000000\n' +
        '    - name: quay\n      prefix: mirrors/quay\n      remoteurl: https://quay.io\n      username: bot\n      timeout: 1s\n      namespaces: [quay.io]\n',
    });
    const [hub, quay] = upstreamsOf(config);
    assert.deepEqual(
      { name: hub!.name, prefix: hub!.prefix, ttlMs: hub!.ttlMs, timeoutMs: hub!.timeoutMs, maxBytes: hub!.maxBytes },
      { name: 'hub', prefix: 'hub', ttlMs: 600_000, timeoutMs: 5_000, maxBytes: 1_000_000 },
    );
    assert.deepEqual(
      { prefix: quay!.prefix, username: quay!.username, password: quay!.password, timeoutMs: quay!.timeoutMs, ns: quay!.namespaces, ttl: quay!.ttlMs },
      { prefix: 'mirrors/quay', username: 'bot', password: 'from-env', timeoutMs: 1_000, ns: ['quay.io'], ttl: 0 },
    );
  });

  it('refuses duplicate names and prefixes, and prefixes that are not repository names', () => {
    const upstreams = (entries: string) => base + 'proxy:\n  upstreams:\n' + entries;
    assert.deepEqual(
      problems(upstreams('    - name: hub\n      remoteurl: https://a.example\n    - name: hub\n      prefix: other\n      remoteurl: https://b.example\n')),
      ['proxy.upstreams[1].name: duplicate upstream name "hub"'],
    );
    assert.deepEqual(
      problems(upstreams('    - name: a\n      prefix: hub\n      remoteurl: https://a.example\n    - name: hub\n      remoteurl: https://b.example\n')),
      ['proxy.upstreams[1].prefix: duplicate upstream prefix "hub"'],
    );
    assert.deepEqual(problems(upstreams('    - name: a\n      prefix: Hub/\n      remoteurl: https://a.example\n')), [
      'proxy.upstreams[0].prefix: expected repository name components such as hub or mirrors/quay',
    ]);
    assert.deepEqual(problems(upstreams('    - name: Hub\n      remoteurl: https://a.example\n')), [
      'proxy.upstreams[0].name: is used as the prefix, so it must be a repository name component (lowercase); set prefix',
    ]);
    assert.deepEqual(problems(upstreams('    - name: a\n')), ['proxy.upstreams[0].remoteurl: required']);
  });
});
