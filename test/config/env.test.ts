import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { storageDriverName } from '../../src/config/storage-driver.js';

const fileConfig = `version: 0.1
storage:
  filesystem:
    rootdirectory: /srv/registry
  delete:
    enabled: false
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
`;

describe('REGISTRY_* environment overlay', () => {
  it('sets nested keys named by the variable, values read as YAML', () => {
    const { config, warnings } = loadConfig({
      yamlText: fileConfig,
      env: {
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/x',
        REGISTRY_HTTP_ADDR: ':6000',
        REGISTRY_STORAGE_DELETE_ENABLED: 'true',
        REGISTRY_LOG_LEVEL: 'debug',
        REGISTRY_LOG_FIELDS: '{service: registry, replica: 2}',
        REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE: '72h',
        REGISTRY_VALIDATION_MANIFESTS_URLS_ALLOW: '[^https://, ^http://]',
      },
    });
    assert.deepEqual(warnings, []);
    assert.equal(config.storage.filesystem?.rootdirectory, '/x');
    assert.equal(config.http.addr, ':6000');
    assert.equal(config.storage.delete.enabled, true);
    assert.equal(config.log.level, 'debug');
    assert.deepEqual(config.log.fields, { service: 'registry', replica: 2 });
    assert.equal(config.storage.maintenance.uploadpurging.age, 72 * 3_600_000);
    assert.deepEqual(config.validation.manifests.urls.allow, ['^https://', '^http://']);
  });

  it('applies on top of the built-in defaults when there is no file', () => {
    const { config } = loadConfig({ env: { REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/data/registry', REGISTRY_HTTP_ADDR: ':6000' } });
    assert.equal(config.storage.filesystem?.rootdirectory, '/data/registry');
    assert.equal(config.http.addr, ':6000');
  });

  it('applies parents before children: REGISTRY_STORAGE replaces the section, then its children fill it', () => {
    const { config } = loadConfig({
      yamlText: fileConfig,
      // Deliberately listed child-first: the overlay sorts by name.
      env: { REGISTRY_STORAGE_DELETE_ENABLED: 'true', REGISTRY_STORAGE: 'inmemory' },
    });
    assert.equal(storageDriverName(config.storage), 'inmemory');
    assert.equal(config.storage.filesystem, undefined, 'the file’s filesystem section is replaced');
    assert.equal(config.storage.delete.enabled, true);
  });

  it('replaces a whole mapping given as a YAML flow value', () => {
    const { config } = loadConfig({ yamlText: fileConfig, env: { REGISTRY_HTTP: '{addr: ":7000", relativeurls: true}' } });
    assert.equal(config.http.addr, ':7000');
    assert.equal(config.http.relativeurls, true);
    assert.deepEqual(config.http.headers, {}, 'keys the variable does not set go back to their defaults');
  });

  it('matches key names case-insensitively and adds map keys in lowercase', () => {
    const { config } = loadConfig({
      yamlText: fileConfig,
      env: { REGISTRY_http_Addr: ':6001', 'REGISTRY_HTTP_HEADERS_X-CONTENT-TYPE-OPTIONS': '[nosniff, other]', 'REGISTRY_HTTP_HEADERS_X-EXTRA': '[1]' },
    });
    assert.equal(config.http.addr, ':6001');
    assert.deepEqual(config.http.headers, { 'X-Content-Type-Options': ['nosniff', 'other'], 'x-extra': ['1'] });
  });

  it("accepts Distribution's Go field names where they differ from the YAML keys", () => {
    const { config } = loadConfig({ yamlText: fileConfig, env: { REGISTRY_NOTIFICATIONS_EVENTCONFIG_INCLUDEREFERENCES: 'true' } });
    assert.equal(config.notifications.events.includereferences, true);
  });

  it('indexes lists by number and appends at one past the end', () => {
    const { config } = loadConfig({
      yamlText: `${fileConfig}notifications:\n  endpoints:\n    - name: first\n      url: http://a.example\n      disabled: true\n`,
      env: {
        REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL: 'http://b.example',
        REGISTRY_NOTIFICATIONS_ENDPOINTS_1_NAME: 'second',
        REGISTRY_NOTIFICATIONS_ENDPOINTS_1_DISABLED: 'true',
      },
    });
    assert.deepEqual(
      config.notifications.endpoints.map((e) => [e.name, e.url]),
      [
        ['first', 'http://b.example'],
        ['second', undefined],
      ],
    );
  });

  it('refuses a list index past the end, naming the variable', () => {
    assert.throws(
      () => loadConfig({ yamlText: fileConfig, env: { REGISTRY_NOTIFICATIONS_ENDPOINTS_3_NAME: 'x' } }),
      (error: ConfigError) => {
        assert.deepEqual(error.problems, ['REGISTRY_NOTIFICATIONS_ENDPOINTS_3_NAME: list index 3 is past the end of the list (0 items)']);
        return true;
      },
    );
  });

  it('warns about a variable that names no key, and changes nothing for it', () => {
    const { config, warnings } = loadConfig({
      yamlText: fileConfig,
      env: { REGISTRY_HTTP_ADRESS: ':1', REGISTRY_STORAGE_S3_NOSUCHKEY: 'x', REGISTRY_CONFIGURATION_PATH: '', PATH: '/bin' },
    });
    assert.deepEqual(warnings, [
      'REGISTRY_HTTP_ADRESS: no such configuration key; ignored',
      'REGISTRY_STORAGE_S3_NOSUCHKEY: no such configuration key; ignored',
    ]);
    assert.equal(config.http.addr, ':5000');
    assert.equal(storageDriverName(config.storage), 'filesystem', 'the ignored variable did not create an s3 section');
  });

  it('names the variable that set a bad value', () => {
    assert.throws(
      () => loadConfig({ yamlText: fileConfig, env: { REGISTRY_HTTP_DRAINTIMEOUT: 'soon' } }),
      (error: ConfigError) => {
        assert.deepEqual(error.problems, [
          'http.draintimeout: invalid duration "soon" (expected e.g. 168h, 30m) (set by REGISTRY_HTTP_DRAINTIMEOUT)',
        ]);
        return true;
      },
    );
  });

  it('selecting a second driver by variable is an error, as in Distribution', () => {
    assert.throws(
      () => loadConfig({ yamlText: fileConfig, env: { REGISTRY_STORAGE_INMEMORY: '{}' } }),
      /storage: exactly one storage driver may be configured, found filesystem and inmemory/,
    );
  });
});
