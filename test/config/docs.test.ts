import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { NOT_SUPPORTED_YET } from '../../src/config/unsupported.js';

const docs = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

describe('docs/configuration.md', () => {
  it('lists every option that is not supported yet, and no other', () => {
    const section = docs.slice(docs.indexOf('## Not supported yet'));
    const start = section.indexOf('| option |');
    const rows = section.slice(start, section.indexOf('\n\n', start)).split('\n').slice(2);
    const documented = rows.flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]));
    assert.deepEqual(documented.sort(), NOT_SUPPORTED_YET.map((option) => option.path).sort());
  });
});
