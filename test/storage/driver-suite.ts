/**
 * The conformance suite every storage driver passes (after Distribution's `storage/driver/testsuites`).
 * A driver's test file runs it in three lines:
 *
 *   runDriverSuite('filesystem', async () => { ...; return { driver, cleanup } });
 *
 * The suite talks to the driver through `withChecks`, as the registry does, so path validation and error
 * normalising are part of what is checked.
 */
import { afterEach, beforeEach, describe } from 'node:test';
import { withChecks } from '../../src/storage/base.js';
import type { StorageDriver } from '../../src/storage/driver.js';
import { contentTests } from './suite/content.js';
import { streamTests } from './suite/streams.js';
import { treeTests } from './suite/tree.js';
import type { SuiteContext } from './suite/helpers.js';

export interface DriverFixture {
  driver: StorageDriver;
  cleanup(): Promise<void>;
}

export function runDriverSuite(name: string, makeDriver: () => Promise<DriverFixture>): void {
  describe(`${name} storage driver conformance`, () => {
    let fixture: DriverFixture | undefined;
    let checked: StorageDriver | undefined;
    const context: SuiteContext = {
      get driver(): StorageDriver {
        if (checked === undefined) throw new Error('no driver: the suite set-up did not run');
        return checked;
      },
    };

    beforeEach(async () => {
      fixture = await makeDriver();
      checked = withChecks(fixture.driver);
    });

    afterEach(async () => {
      await fixture?.cleanup();
      fixture = undefined;
      checked = undefined;
    });

    contentTests(context);
    streamTests(context);
    treeTests(context);
  });
}
