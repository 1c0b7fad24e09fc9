import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { covers, formatScopes, parseScope, pull, push, ScopeError } from '../../src/auth/access.js';
import { compilePattern } from '../../src/auth/token-service.js';

describe('scopes', () => {
  it('parses type:name:actions, names with slashes included', () => {
    assert.deepEqual(parseScope('repository:team/app:pull,push'), { type: 'repository', name: 'team/app', actions: ['pull', 'push'] });
    assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
    assert.equal(parseScope('repository(plugin):x:pull'), undefined, 'unknown resource types are ignored');
  });

  it('refuses names with .., a host:port, upper case, and malformed scopes', () => {
    assert.throws(() => parseScope('repository:team/../etc:pull'), (err: ScopeError) => err.repository === 'team/../etc');
    assert.throws(() => parseScope('repository:registry.example:5000/app:pull'), (err: ScopeError) => err.repository === 'registry.example:5000/app');
    assert.throws(() => parseScope('repository:Team/App:pull'), ScopeError);
    assert.throws(() => parseScope('repository'), (err: ScopeError) => err instanceof ScopeError && err.repository === undefined);
    assert.throws(() => parseScope('registry:other:*'), ScopeError);
  });

  it('formats the challenge scope grouped per resource, and `*` covers every action', () => {
    assert.equal(formatScopes([pull('b'), push('b'), pull('a')]), 'repository:b:pull,push repository:a:pull');
    assert.ok(covers([{ type: 'repository', name: 'a', actions: ['*'] }], push('a')));
    assert.ok(!covers([{ type: 'repository', name: 'a', actions: ['pull'] }], push('a')));
  });

  it('repository patterns: * stays within a component, ** crosses them, the rest is literal', () => {
    assert.ok(compilePattern('team/*').test('team/app'));
    assert.ok(!compilePattern('team/*').test('team/app/sub'));
    assert.ok(compilePattern('team/**').test('team/app/sub'));
    assert.ok(!compilePattern('team.x/*').test('teamax/app'));
    assert.ok(compilePattern('**').test('anything/at/all'));
  });
});
