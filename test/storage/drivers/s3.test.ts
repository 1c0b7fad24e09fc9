import { S3Driver } from '../../../src/storage/drivers/s3.js';
import { testBucket } from '../../helpers/s3.js';
import { runDriverSuite } from '../driver-suite.js';

runDriverSuite('s3', async () => {
  const bucket = await testBucket();
  return { driver: new S3Driver(bucket.driverOptions()), cleanup: () => bucket.cleanup() };
});
