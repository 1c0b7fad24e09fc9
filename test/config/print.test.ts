import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { formatEffectiveConfig } from '../../src/config/print.js';
import { configSchema } from '../../src/config/schema.js';

describe('formatEffectiveConfig', () => {
  it('prints every default, with durations in Go syntax', () => {
    const { config } = loadConfig({ env: {}, yamlText: 'version: 0.1\nstorage: inmemory\nhttp:\n  draintimeout: 90s\n' });
    const printed = parse(formatEffectiveConfig(config));
    assert.equal(printed.version, '0.1');
    assert.equal(printed.http.addr, ':5000');
    assert.equal(printed.http.draintimeout, '1m30s');
    assert.deepEqual(printed.storage.maintenance.uploadpurging, { enabled: true, age: '168h', interval: '24h', dryrun: false });
    assert.deepEqual(printed.storage.inmemory, {});
  });

  it('prints a config that loads back to the same values', () => {
    const { config } = loadConfig({
      env: {},
      yamlText:
        'version: 0.1\nlog: {level: debug, fields: {service: registry}}\nstorage: {filesystem: {rootdirectory: /srv/r}, delete: {enabled: true}}\n' +
        'http: {addr: ":6000", headers: {X-Content-Type-Options: [nosniff]}}\n',
    });
    const again = loadConfig({ env: {}, yamlText: formatEffectiveConfig(config) });
    assert.deepEqual(again.config, config);
    assert.deepEqual(again.warnings, []);
  });

  it('masks secrets, credential headers and credential-named driver parameters', () => {
    const config = configSchema.parse({
      version: '0.1',
      storage: { s3: { accesskey: 'AKIAEXAMPLE', secretkey: 's3-secret', bucket: 'images' } },
      http: { secret: 'http-secret', headers: { 'X-Content-Type-Options': ['nosniff'] } },
      redis: { addr: 'redis:6379', password: 'redis-pass' },
      proxy: { remoteurl: 'https://upstream.example', username: 'bob', password: 'proxy-pass' },
      notifications: {
        endpoints: [
          { name: 'hook', url: 'https://hook.example', headers: { Authorization: ['Bearer hook-token'], 'X-Team': ['infra'] } },
        ],
      },
      reporting: { bugsnag: { apikey: 'bugsnag-key' } },
    });
    const text = formatEffectiveConfig(config);
    for (const secret of ['AKIAEXAMPLE', 's3-secret', 'http-secret', 'redis-pass', 'proxy-pass', 'hook-token', 'bugsnag-key']) {
      assert.ok(!text.includes(secret), `${secret} is printed`);
    }
    const printed = parse(text);
    assert.equal(printed.storage.s3.secretkey, '***');
    assert.equal(printed.storage.s3.bucket, 'images');
    assert.equal(printed.http.secret, '***');
    assert.deepEqual(printed.http.headers, { 'X-Content-Type-Options': ['nosniff'] });
    assert.equal(printed.redis.password, '***');
    assert.equal(printed.proxy.username, 'bob');
    assert.deepEqual(printed.notifications.endpoints[0].headers, { Authorization: ['***'], 'X-Team': ['infra'] });

    const azure = configSchema.parse({ version: '0.1', storage: { azure: { accountname: 'acct', accountkey: 'azure-key' } } });
    const azurePrinted = parse(formatEffectiveConfig(azure));
    assert.deepEqual(azurePrinted.storage.azure, { accountname: 'acct', accountkey: '***' });
  });
});
