import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { storageDriverName } from '../../src/config/storage-driver.js';

/** Loads YAML text with no environment; returns the error a bad config throws. */
function failure(yamlText: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    loadConfig({ yamlText, env });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('the configuration loaded');
}

const minimal = (rest = '') => `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /srv/registry\n${rest}`;

/** Shaped like Distribution's cmd/registry/config-example.yml, the file in the registry:2 image. */
const stockImageConfig = `version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
`;

describe('loadConfig defaults', () => {
  it('with no file and no variables, serves a filesystem registry under ./data on :5000', () => {
    const { config, warnings, source } = loadConfig({ env: {} });
    assert.equal(source, 'built-in defaults');
    assert.deepEqual(warnings, []);
    assert.equal(config.version, '0.1');
    assert.equal(storageDriverName(config.storage), 'filesystem');
    assert.equal(config.storage.filesystem?.rootdirectory, path.resolve('data'));
    assert.equal(config.http.addr, ':5000');
    assert.equal(config.http.net, 'tcp');
    assert.equal(config.log.level, 'info');
    assert.equal(config.log.formatter, 'text');
  });

  it("fills in Distribution's defaults for keys a file leaves out", () => {
    const { config } = loadConfig({ env: {}, yamlText: 'version: 0.1\nstorage: filesystem\n' });
    assert.equal(config.storage.filesystem?.rootdirectory, '/var/lib/registry');
    assert.equal(config.storage.filesystem?.maxthreads, 100);
    assert.equal(config.storage.delete.enabled, false);
    assert.equal(config.storage.redirect.disable, false);
    assert.deepEqual(config.storage.maintenance.uploadpurging, {
      enabled: true,
      age: 168 * 3_600_000,
      interval: 24 * 3_600_000,
      dryrun: false,
    });
    assert.equal(config.storage.maintenance.readonly.enabled, false);
    assert.equal(config.http.draintimeout, 0);
    assert.equal(config.catalog.maxentries, 1000);
    assert.equal(config.validation.disabled, false);
  });
});

describe('loadConfig sources', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the file named by REGISTRY_CONFIGURATION_PATH', () => {
    const file = path.join(dir, 'env.yml');
    writeFileSync(file, minimal('http:\n  addr: 127.0.0.1:7000\n'));
    const { config, source } = loadConfig({ env: { REGISTRY_CONFIGURATION_PATH: file } });
    assert.equal(source, file);
    assert.equal(config.http.addr, '127.0.0.1:7000');
  });

  it('prefers an explicit path over REGISTRY_CONFIGURATION_PATH', () => {
    const chosen = path.join(dir, 'chosen.yml');
    writeFileSync(chosen, minimal('http:\n  addr: :7001\n'));
    const { config } = loadConfig({ path: chosen, env: { REGISTRY_CONFIGURATION_PATH: path.join(dir, 'missing.yml') } });
    assert.equal(config.http.addr, ':7001');
  });

  it('names the file when it cannot be read', () => {
    const missing = path.join(dir, 'missing.yml');
    assert.throws(() => loadConfig({ path: missing, env: {} }), (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, new RegExp(`${missing}[\\s\\S]*cannot read the configuration file`));
      return true;
    });
  });

  it('resolves a relative rootdirectory against the working directory', () => {
    const { config } = loadConfig({ env: {}, yamlText: 'version: 0.1\nstorage: {filesystem: {rootdirectory: var/reg}}\n' });
    assert.equal(config.storage.filesystem?.rootdirectory, path.resolve('var/reg'));
  });
});

describe('loadConfig with real registry:2 configs', () => {
  it("loads the registry:2 image's stock config.yml unchanged", () => {
    const { config, warnings } = loadConfig({ env: {}, yamlText: stockImageConfig });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.log.fields, { service: 'registry' });
    assert.equal(config.storage.cache.blobdescriptor, 'inmemory');
    assert.equal(config.storage.filesystem?.rootdirectory, '/var/lib/registry');
    assert.deepEqual(config.http.headers, { 'X-Content-Type-Options': ['nosniff'] });
    assert.deepEqual(config.health.storagedriver, { enabled: true, interval: 10_000, threshold: 3 });
  });

  it('loads a development config with deletes, debug logging and purging turned off', () => {
    const { config } = loadConfig({
      env: {},
      yamlText: `version: 0.1
log:
  level: debug
  formatter: json
  fields:
    service: registry
    environment: development
  accesslog:
    disabled: true
storage:
    delete:
      enabled: true
    cache:
        blobdescriptor: inmemory
    filesystem:
        rootdirectory: /var/lib/registry
        maxthreads: 10
    maintenance:
        uploadpurging:
            enabled: false
        readonly:
            enabled: true
    redirect:
        disable: true
http:
    addr: /run/registry.sock
    net: unix
    prefix: /registry/
    host: https://registry.example.com:5000
    secret: asecretforlocaldevelopment
    relativeurls: true
    draintimeout: 60s
    headers:
        X-Content-Type-Options: [nosniff]
    http2:
        disabled: true
validation:
  manifests:
    urls:
      allow: ['^https?://([^/]+\\.)*example\\.com/']
      deny: ['^https?://www\\.example\\.com/']
catalog:
  maxentries: 50
`,
    });
    assert.equal(config.log.level, 'debug');
    assert.equal(config.log.formatter, 'json');
    assert.equal(config.log.accesslog.disabled, true);
    assert.equal(config.storage.delete.enabled, true);
    assert.equal(config.storage.maintenance.uploadpurging.enabled, false);
    assert.equal(config.storage.maintenance.readonly.enabled, true);
    assert.equal(config.storage.redirect.disable, true);
    assert.equal(config.storage.filesystem?.maxthreads, 25, 'maxthreads below 25 counts as 25');
    assert.equal(config.http.net, 'unix');
    assert.equal(config.http.addr, '/run/registry.sock');
    assert.equal(config.http.host, 'https://registry.example.com:5000');
    assert.equal(config.http.draintimeout, 60_000);
    assert.equal(config.http.http2.disabled, true);
    assert.equal(config.validation.manifests.urls.allow.length, 1);
    assert.equal(config.catalog.maxentries, 50);
  });

  it('reads scalars by the type of their key, as Go does: numeric-looking strings stay as written', () => {
    const { config } = loadConfig({
      env: {},
      yamlText: 'version: 0.1\nstorage: {filesystem: {rootdirectory: 0123}}\nhttp: {secret: 1e3, addr: 5000}\n',
    });
    assert.equal(config.http.secret, '1e3');
    assert.equal(config.http.addr, '5000');
    assert.equal(config.storage.filesystem?.rootdirectory, path.resolve('0123'));
  });

  it('reads YAML 1.1 booleans (yes/no/on/off) and a bare integer duration as nanoseconds', () => {
    const { config } = loadConfig({
      env: {},
      yamlText: minimal('  delete:\n    enabled: yes\nhttp:\n  relativeurls: on\n  draintimeout: 1500000000\n'),
    });
    assert.equal(config.storage.delete.enabled, true);
    assert.equal(config.http.relativeurls, true);
    assert.equal(config.http.draintimeout, 1500);
  });

  it('selects a driver written with no parameters: storage: inmemory and inmemory: with an empty value', () => {
    for (const yamlText of ['version: 0.1\nstorage: inmemory\n', 'version: 0.1\nstorage:\n  inmemory:\n  delete:\n    enabled: true\n']) {
      const { config } = loadConfig({ env: {}, yamlText });
      assert.equal(storageDriverName(config.storage), 'inmemory');
    }
  });

  it('folds the deprecated top-level loglevel into log.level, with a warning', () => {
    const { config, warnings } = loadConfig({ env: {}, yamlText: minimal('loglevel: warn\n') });
    assert.equal(config.log.level, 'warn');
    assert.deepEqual(warnings, ['loglevel: deprecated, use log.level']);
    const both = loadConfig({ env: {}, yamlText: minimal('loglevel: warn\nlog:\n  level: ERROR\n') });
    assert.equal(both.config.log.level, 'error');
  });
});

describe('loadConfig warnings and errors', () => {
  it('warns about unknown keys by full path and loads the rest', () => {
    const { config, warnings } = loadConfig({
      env: {},
      yamlText: minimal('  maintenance:\n    uploadpurging:\n      enabeld: false\nhttp:\n  adress: :6000\n  addr: :7000\nextras: 1\n'),
    });
    assert.deepEqual(warnings.sort(), [
      'extras: unknown key; ignored',
      'http.adress: unknown key; ignored',
      'storage.maintenance.uploadpurging.enabeld: unknown key; ignored',
    ]);
    assert.equal(config.http.addr, ':7000');
    assert.equal(config.storage.maintenance.uploadpurging.enabled, true);
  });

  it('fails on a bad duration, naming the key and what was expected', () => {
    const error = failure(minimal('  maintenance:\n    uploadpurging:\n      age: 3x\n'));
    assert.deepEqual(error.problems, ['storage.maintenance.uploadpurging.age: invalid duration "3x" (expected e.g. 168h, 30m)']);
  });

  it('refuses a bare number where Distribution reads the duration as text', () => {
    const error = failure(minimal('  maintenance:\n    uploadpurging:\n      interval: 24\n'));
    assert.match(error.problems[0]!, /^storage\.maintenance\.uploadpurging\.interval: expected a duration such as 168h/);
  });

  it('fails on a bad enum value and a bad type, listing every problem', () => {
    const error = failure(minimal('log:\n  level: verbose\nhttp:\n  net: udp\n  relativeurls: maybe\n  headers: nosniff-please\ncatalog:\n  maxentries: many\n'));
    assert.deepEqual(error.problems, [
      'log.level: expected one of error, warn, info, debug, got "verbose"',
      'http.net: expected one of tcp, unix, got "udp"',
      'http.relativeurls: expected true or false, got "maybe"',
      'http.headers: expected a mapping, got "nosniff-please"',
      'catalog.maxentries: expected a whole number, got "many"',
    ]);
  });

  it('names the list item that holds a bad value', () => {
    const error = failure(minimal('notifications:\n  endpoints:\n    - name: ok\n      url: http://hook.example\n    - name: bad\n      url: not a url\n'));
    assert.deepEqual(error.problems, ['notifications.endpoints[1].url: expected an http:// or https:// URL, got "not a url"']);
  });

  it('requires version 0.1', () => {
    assert.deepEqual(failure('storage: inmemory\n').problems, ['version: required']);
    assert.deepEqual(failure('version: 0.2\nstorage: inmemory\n').problems, ['version: unsupported version (expected "0.1")']);
  });

  it('requires exactly one storage driver', () => {
    assert.deepEqual(failure('version: 0.1\nstorage:\n  delete:\n    enabled: true\n').problems, [
      'storage: no storage driver configured (expected one of filesystem, inmemory, s3, azure, gcs, swift, oss)',
    ]);
    assert.deepEqual(failure('version: 0.1\nstorage:\n  filesystem:\n  inmemory:\n').problems, [
      'storage: exactly one storage driver may be configured, found filesystem and inmemory',
    ]);
  });

  it('fails on an unknown name under storage, which Distribution would take for a second driver', () => {
    const error = failure(minimal('  delet:\n    enabled: true\n'));
    assert.equal(error.problems.length, 1);
    assert.match(error.problems[0]!, /^storage\.delet: unknown storage driver "delet" \(expected one of filesystem, .*delete/);
  });

  it('reports a YAML syntax error with its line', () => {
    const error = failure('version: 0.1\nstorage: [inmemory\n');
    assert.match(error.problems[0]!, /^invalid YAML: .*line \d+/);
  });

  it('fails on a document that is not a mapping', () => {
    assert.match(failure('- version\n').problems[0]!, /expected a mapping of keys/);
  });
});

describe('validation.manifests.maxsize', () => {
  it('defaults to 4 MiB and can be raised from the environment', () => {
    assert.equal(loadConfig({ yamlText: minimal(), env: {} }).config.validation.manifests.maxsize, 4 * 1024 * 1024);
    const raised = loadConfig({ yamlText: minimal(), env: { REGISTRY_VALIDATION_MANIFESTS_MAXSIZE: '16777216' } });
    assert.equal(raised.config.validation.manifests.maxsize, 16 * 1024 * 1024);
  });

  it('refuses a size too small to hold any manifest', () => {
    assert.match(failure(minimal('validation:\n  manifests:\n    maxsize: 10\n')).message, /validation\.manifests\.maxsize/);
  });
});

describe('http.workers', () => {
  it('defaults to one process and takes a count or auto, also from the environment', () => {
    assert.equal(loadConfig({ yamlText: minimal(), env: {} }).config.http.workers, 1);
    assert.equal(loadConfig({ yamlText: minimal('http:\n  workers: 4\n'), env: {} }).config.http.workers, 4);
    assert.equal(loadConfig({ yamlText: minimal(), env: { REGISTRY_HTTP_WORKERS: 'auto' } }).config.http.workers, 'auto');
  });

  it('refuses zero and words other than auto, naming the key', () => {
    assert.match(failure(minimal('http:\n  workers: 0\n')).message, /http\.workers: must be at least 1/);
    assert.match(failure(minimal('http:\n  workers: many\n')).message, /http\.workers: expected a whole number or auto/);
  });
});
