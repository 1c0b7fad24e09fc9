/** Registry-wide write policy: read-only mode and whether deletes are allowed (`storage.delete.enabled`). */
import { UnsupportedError } from '../oci/errors.js';

export interface WritePolicy {
  readOnly: boolean;
  deleteEnabled: boolean;
}

export function assertWritable(policy: WritePolicy): void {
  if (policy.readOnly) throw new UnsupportedError('the registry is in read-only mode');
}

export function assertDeletable(policy: WritePolicy): void {
  assertWritable(policy);
  if (!policy.deleteEnabled) throw new UnsupportedError('deletes are disabled (storage.delete.enabled is false)');
}
