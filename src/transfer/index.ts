// The S3 transfer engine's public surface: listing, single-object and tree transfers, sync, and
// deletes, all parallel, retried with backoff, verified, with atomic local writes. Callers (the
// S3 store, `trainctl s3 …`, `trainctl checkpoint …`, the runner) import from here only.
//
// Contract shared by every function below:
// - `client` comes from the one factory, createS3Client (./client.ts).
// - Whole-operation failures throw a TransferError (an ExitError: one-line message, hint, `kind`):
//   no such bucket, access denied, unreachable endpoint, unsafe key in a download listing, abort.
//   Per-file failures of tree transfers are collected in `report.failed`; a single-object
//   transfer throws TransferError for its one object.
// - Messages never contain credentials.
export { createS3Client, s3Endpoint, type S3ClientOptions } from './client.js';
export { formatS3Uri, localPathFor, parseS3Uri, unsafeKeyReason, type S3Location } from './uri.js';
export { TransferError, toTransferError, type TransferErrorKind } from './errors.js';
export { headObject, listLevel, listMultipartUploads, listObjects, type ListOptions, type ObjectDetails } from './list.js';
export { abortMultipartUpload, deleteObjects, type DeleteResult } from './delete.js';
export { uploadFile } from './upload.js';
export { downloadObject } from './download.js';
export { downloadTree, uploadTree, walkLocalTree, type LocalFile } from './tree.js';
export { planSync, syncTree } from './sync.js';
export { pathFilter } from './filter.js';
export type {
  ListEntry,
  MultipartUploadInfo,
  ObjectInfo,
  SyncAction,
  SyncEnd,
  SyncOptions,
  SyncReport,
  TransferFailure,
  TransferOptions,
  TransferProgress,
  TransferReport,
  VerifyMode,
} from './types.js';
