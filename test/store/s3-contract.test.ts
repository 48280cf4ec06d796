// The RunStore contract on s3://, against the run's radosgw.
import { storeContract } from './contract.js';
import { makeBucket, s3ContractStore, testClient } from './s3-helpers.js';

const client = testClient();
const bucket = makeBucket(client, 'contract');
storeContract('s3://', async (trial) => s3ContractStore(client, await bucket)(trial));
