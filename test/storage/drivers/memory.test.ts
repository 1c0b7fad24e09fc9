import { InMemoryDriver } from '../../../src/storage/drivers/memory.js';
import { runDriverSuite } from '../driver-suite.js';

runDriverSuite('inmemory', async () => ({ driver: new InMemoryDriver(), cleanup: async () => undefined }));
