/**
 * `storage.s3` (Distribution's keys, plus Berth's `checksums`) turned into the S3 driver's options, with
 * Distribution's defaults: 10 MiB parts, 32 MiB multipart copies, https, private objects, STANDARD class.
 */
import type { StorageConfig } from '../config/schema.js';
import type { S3DriverOptions } from '../storage/drivers/s3-client.js';

const MiB = 1024 * 1024;
/** Lifetime of presigned blob redirects, as Distribution's s3 driver gives them. */
const REDIRECT_EXPIRY_SECONDS = 20 * 60;

export function s3DriverOptions(storage: StorageConfig): S3DriverOptions {
  const s3 = storage.s3!;
  if (s3.region === undefined && s3.regionendpoint === undefined) {
    throw new Error('storage.s3.region: required unless storage.s3.regionendpoint is set');
  }
  if ((s3.accesskey === undefined) !== (s3.secretkey === undefined)) {
    throw new Error('storage.s3: accesskey and secretkey go together (leave both out for the default AWS credential chain)');
  }
  const storageClass = s3.storageclass ?? 'STANDARD';
  return {
    bucket: s3.bucket,
    region: s3.region ?? 'us-east-1',
    ...(s3.regionendpoint !== undefined && { endpoint: s3.regionendpoint }),
    forcePathStyle: s3.forcepathstyle ?? false,
    ...(s3.accesskey !== undefined && { accessKey: s3.accesskey }),
    ...(s3.secretkey !== undefined && { secretKey: s3.secretkey }),
    ...(s3.sessiontoken !== undefined && { sessionToken: s3.sessiontoken }),
    rootDirectory: s3.rootdirectory ?? '',
    encrypt: s3.encrypt ?? false,
    ...(s3.keyid !== undefined && { keyId: s3.keyid }),
    secure: s3.secure ?? true,
    skipVerify: s3.skipverify ?? false,
    chunkSize: s3.chunksize ?? 10 * MiB,
    multipartCopyChunkSize: s3.multipartcopychunksize ?? 32 * MiB,
    multipartCopyMaxConcurrency: s3.multipartcopymaxconcurrency ?? 100,
    multipartCopyThresholdSize: s3.multipartcopythresholdsize ?? 32 * MiB,
    ...(storageClass.toUpperCase() !== 'NONE' && { storageClass }),
    objectAcl: s3.objectacl ?? 'private',
    ...(s3.useragent !== undefined && { userAgent: s3.useragent }),
    useDualstack: s3.usedualstack ?? false,
    accelerate: s3.accelerate ?? false,
    checksums: s3.checksums,
    redirectExpirySeconds: storage.redirect.disable ? 0 : REDIRECT_EXPIRY_SECONDS,
  };
}
